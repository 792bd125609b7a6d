"""`ftlab` commands: --help everywhere, the memory breakdown against hand-worked numbers, doctor's checks, aliases."""
import pytest

from ftlab.tools import cli, doctor

COMMANDS = ["data", "pretrain-base", "pretrain", "profile", "course", "memory", "doctor", "claims"]


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


def test_memory_prints_hand_worked_terms_and_total(capsys):
    """Llama-2-7b (6,738,415,616 parameters), full fine-tuning in fp32 with 8-bit AdamW on a GPU: weights and
    gradients 4 B each (25.10 GiB), the 8-bit moments 13,688,002,688 B (12.75 GiB, worked in
    tests/core/test_memory_predictor.py); the peak is the optimizer step, 2 x 26,953,662,464 + 13,688,002,688 =
    67,595,327,616 B = 62.95 GiB, so not even one sequence fits in 24 GiB."""
    rc = cli.main(["memory", "llama-2-7b", "--optimizer", "adamw8bit", "--device", "cuda", "--gpu-gb", "24"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.splitlines()[0] == "llama-2-7b, full, fp32, adamw8bit, batch 1 x 256 tokens, cuda"
    assert "  weights                  25.10 GiB\n" in out and "  gradients                25.10 GiB\n" in out
    assert "  optimizer states         12.75 GiB\n" in out and "  activations                0.0 MiB\n" in out
    assert "  total                    62.95 GiB  (peak at optimizer step)\n" in out
    assert "trainable parameters 6,738,415,616 of 6,738,415,616 (100.000%)\n" in out
    assert out.endswith("does NOT fit in 24.0 GiB; largest batch that fits: 0\n")


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
    monkeypatch.setenv("FTLAB_PROFILE", "tiny")
    monkeypatch.setattr(doctor, "verify", lambda: ["general/train.jsonl.gz: sha256 abc != manifest def"])
    assert not doctor.data_check().ok and "general/train.jsonl.gz" in doctor.data_check().detail
    monkeypatch.setattr(doctor, "verify", lambda: [])  # the real check is tests/databuild/test_data_manifest.py's
    checks = {c.what: c for c in doctor.run_doctor(progress=False)}
    assert checks["profile"].detail.startswith("tiny (FTLAB_PROFILE)")
    assert {"torch", "transformers", "trl", "peft", "ipywidgets"} <= set(checks)
    assert checks["data/"].ok and checks["tiny base model"].ok
    assert "FTLAB_EXTRAS=smol" in checks["next profile (smol)"].detail


def test_claims_prints_the_table_with_a_row_per_claim_and_the_scales_that_differ(capsys):
    from ftlab.core.claims import CLAIMS
    from ftlab.tools.claims_table import differing

    assert cli.main(["claims"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| `")]
    assert len(rows) == len(CLAIMS) and "| at 3.4 M (tiny) | at 135 M (smol) |" in out
    assert out.rstrip().endswith(f"verdicts that differ between the scales: {', '.join(differing()) or 'none'}")
