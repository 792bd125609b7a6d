"""Quality measures shared by the notebooks: perplexity on held-out text, and how English generated text is."""

from __future__ import annotations

import math
import re

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from ftlab.core.device import autocast
from ftlab.core.speed.tokencache import templated

WORD = re.compile(r"[A-Za-z]+")


def heldout_perplexity(model, tokenizer, docs: list[dict], seq_len: int = 256, max_blocks: int | None = None,
                       bf16: bool = False) -> float:
    """exp(mean next-token loss) over `docs` packed into fixed blocks: the same blocks every call."""
    blocks = fixed_blocks(token_stream(docs, tokenizer), seq_len, max_blocks)
    return math.exp(mean_loss(model, blocks, bf16=bf16))


def corpus_vocabulary(docs: list[dict]) -> set[str]:
    """Lower-cased words that occur in the documents."""
    return {w.lower() for d in docs for w in WORD.findall(d["text"])}


def known_word_rate(texts: list[str], vocabulary: set[str]) -> float:
    """Fraction of generated words that are real words of the corpus (0 for no words): a crude 'is it English'."""
    words = [w.lower() for t in texts for w in WORD.findall(t)]
    return sum(w in vocabulary for w in words) / len(words) if words else 0.0


def normalize(text: str) -> str:
    """Lower-case, drop punctuation at the ends and collapse spaces: what exact match compares."""
    return " ".join(text.lower().strip().strip(".!?,;:'\"").split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style word-overlap F1 between a prediction and a reference answer."""
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    common = sum(min(pred.count(w), ref.count(w)) for w in set(pred))
    if not pred or not ref or not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def chat_prompts(tokenizer, rows: list[dict]) -> list[str]:
    """Each row's conversation up to (not including) the last assistant turn, ready for generation."""
    return [templated(tokenizer, r["messages"][:-1], tokenize=False, add_generation_prompt=True) for r in rows]


def stop_ids(tokenizer) -> list[int]:
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)


def generate_answers(model, tokenizer, rows: list[dict], max_new_tokens: int = 24, batch_size: int = 32) -> list[str]:
    """Greedy answers to each row's prompt (batched, left-padded), cut at the end-of-turn token."""
    model.eval()
    device = next(model.parameters()).device
    prompts = chat_prompts(tokenizer, rows)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers = []
    try:
        with torch.no_grad():
            for i in range(0, len(prompts), batch_size):
                enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(device)
                out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens,
                                     eos_token_id=stop_ids(tokenizer), pad_token_id=tokenizer.pad_token_id)
                answers += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [a.strip() for a in answers]


def task_scores(model, tokenizer, rows: list[dict], max_new_tokens: int = 24) -> dict:
    """Exact-match accuracy and token F1 per task and overall, plus the answers themselves."""
    answers = generate_answers(model, tokenizer, rows, max_new_tokens)
    per_task: dict[str, list[tuple[float, float]]] = {}
    for row, ans in zip(rows, answers):
        em = float(normalize(ans) == normalize(row["answer"]))
        contains = float(normalize(row["answer"]) in normalize(ans))  # chatty instruct models answer in sentences
        per_task.setdefault(row["task"], []).append((em, token_f1(ans, row["answer"]), contains))
    summary = {task: _summarise(v) for task, v in per_task.items()}
    summary["overall"] = _summarise([s for v in per_task.values() for s in v])
    return {"scores": summary, "answers": answers}


def _summarise(scores: list[tuple[float, float, float]]) -> dict:
    n = len(scores)
    return {"accuracy": sum(s[0] for s in scores) / n, "f1": sum(s[1] for s in scores) / n,
            "contains": sum(s[2] for s in scores) / n, "n": n}


def response_loss(model, tokenizer, rows: list[dict], batch_size: int = 32) -> float:
    """Mean loss (nats/token) on the assistant tokens only, the part SFT is meant to improve."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            encs = [templated(tokenizer, r["messages"], tokenize=True, return_dict=True,
                              return_assistant_tokens_mask=True) for r in rows[i:i + batch_size]]
            width = max(len(e["input_ids"]) for e in encs)
            ids = torch.full((len(encs), width), tokenizer.pad_token_id)
            mask = torch.zeros((len(encs), width), dtype=torch.bool)
            attn = torch.zeros((len(encs), width), dtype=torch.long)
            for j, e in enumerate(encs):
                n = len(e["input_ids"])
                ids[j, :n] = torch.tensor(e["input_ids"])
                mask[j, :n] = torch.tensor(e["assistant_masks"], dtype=torch.bool)
                attn[j, :n] = 1
            ids, mask, attn = ids.to(device), mask.to(device), attn.to(device)
            # Prompt tuning prepends virtual tokens to the logits: keep the positions of the real tokens.
            logits = model(input_ids=ids, attention_mask=attn).logits[:, -width:].float()
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            keep = mask[:, 1:]
            total += nll[keep].sum().item()
            count += int(keep.sum())
    return total / max(count, 1)


@torch.no_grad()
def completion_logprobs(model, items: list[tuple[list[int], list[int]]], pad_id: int,
                        batch_size: int = 64) -> torch.Tensor:
    """Sum of log p(completion tokens | prompt tokens) for each (prompt ids, completion ids), batched by length
    (on the CPU): how notebook 03 scores a gloss probe and notebook 07 scores preference pairs."""
    device = next(model.parameters()).device
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]) + len(items[i][1]))
    out = torch.zeros(len(items))
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        seqs = [items[i][0] + items[i][1] for i in chunk]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), pad_id)
        attn = torch.zeros_like(ids)
        for row, seq in enumerate(seqs):
            ids[row, :len(seq)], attn[row, :len(seq)] = torch.tensor(seq), 1
        ids, attn = ids.to(device), attn.to(device)
        logits = model(input_ids=ids, attention_mask=attn).logits[:, -width:]  # prompt tuning adds positions
        logp = torch.log_softmax(logits.float(), dim=-1)
        token_logp = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0].cpu()  # log p(token t+1 | tokens <= t)
        for row, i in enumerate(chunk):
            n_prompt, n_comp = len(items[i][0]), len(items[i][1])
            out[i] = token_logp[row, n_prompt - 1:n_prompt - 1 + n_comp].sum()
    model.train(was_training)
    return out


def token_stream(docs: list[dict], tokenizer: PreTrainedTokenizerFast) -> torch.Tensor:
    """All documents encoded and concatenated (each starts with EOS), as one int32 tensor."""
    ids = tokenizer([d["text"] for d in docs], add_special_tokens=True)["input_ids"]
    return torch.tensor([t for doc in ids for t in doc], dtype=torch.int32)


def fixed_blocks(stream: torch.Tensor, seq_len: int, limit: int | None = None) -> torch.Tensor:
    """Consecutive non-overlapping windows, for evaluation that is the same every time."""
    n = len(stream) // seq_len
    if limit is not None:
        n = min(n, limit)
    return stream[: n * seq_len].view(n, seq_len).long()


@torch.no_grad()
def mean_loss(model: LlamaForCausalLM, blocks: torch.Tensor, batch_size: int = 16, bf16: bool = False) -> float:
    """Mean next-token loss (nats/token) over evaluation blocks; exp() of it is the perplexity."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(blocks), batch_size):
        x = blocks[i:i + batch_size].to(device)
        with autocast(device, bf16):
            logits = model(input_ids=x).logits.float()
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                                 x[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        count += x[:, 1:].numel()
    model.train()
    return total / count
