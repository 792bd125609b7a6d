"""`ftlab` commands: --help everywhere, the memory breakdown equals the predictor's, doctor's checks, aliases."""
import pytest

from ftlab import cli, doctor
from ftlab.memory import TrainSetup, estimate, gib

COMMANDS = ["data", "pretrain-base", "pretrain", "profile", "course", "memory", "doctor"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0 and "usage: ftlab" in capsys.readouterr().out


def test_pretrain_is_an_alias_of_pretrain_base():
    args = cli.build_parser().parse_args(["pretrain", "--steps", "3"])
    assert args.func is cli.cmd_pretrain_base and args.steps == 3


def test_course_accepts_a_profile():
    args = cli.build_parser().parse_args(["course", "--only", "04", "--profile", "smol", "--no-html"])
    assert args.profile == "smol" and args.only == ["04"] and args.no_html


def test_memory_prints_the_predictors_terms_and_total(capsys):
    rc = cli.main(["memory", "llama-2-7b", "--method", "lora", "--precision", "bf16", "--batch", "4", "--seq",
                   "1024", "--device", "cuda", "--gpu-gb", "24"])
    out = capsys.readouterr().out
    want = estimate("llama-2-7b", TrainSetup(method="lora", precision="bf16", batch_size=4, seq_len=1024,
                                             device="cuda"))
    assert rc == 0
    assert f"total                    {gib(want.total)}" in out.replace(" " * 3, "   ")
    assert f"activations" in out and gib(want.breakdown["activations"]) in out
    assert "does NOT fit in 24.0 GiB" in out  # 34 GiB predicted


def test_memory_names_a_bad_model_and_fails(capsys):
    assert cli.main(["memory", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_doctor_flags_a_missing_or_too_old_package():
    assert doctor.package_check("pytest>=1").ok
    too_old = doctor.package_check("pytest>=999")
    assert not too_old.ok and "does not satisfy >=999" in too_old.detail
    missing = doctor.package_check("surely-not-installed-pkg>=1")
    assert not missing.ok and "not installed" in missing.detail


def test_doctor_reports_profile_packages_data_and_next_profile(monkeypatch):
    from ftlab import manifest
    monkeypatch.setenv("FTLAB_PROFILE", "tiny")
    monkeypatch.setattr(manifest, "verify", lambda: ["general/train.jsonl.gz: sha256 abc != manifest def"])
    assert not doctor.data_check().ok and "general/train.jsonl.gz" in doctor.data_check().detail
    monkeypatch.setattr(manifest, "verify", lambda: [])  # the real check is tests/test_data_manifest.py's
    checks = {c.what: c for c in doctor.run_doctor(progress=False)}
    assert checks["profile"].detail.startswith("tiny (FTLAB_PROFILE)")
    assert {"torch", "transformers", "trl", "peft", "ipywidgets"} <= set(checks)
    assert checks["data/"].ok and checks["tiny base model"].ok
    assert "FTLAB_EXTRAS=smol" in checks["next profile (smol)"].detail
