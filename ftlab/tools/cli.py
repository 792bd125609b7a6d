"""`python -m ftlab …` (or `ftlab …`): build data, pretrain the tiny base, run the course, estimate memory,
show the profile, check the machine (doctor).

Each command imports what it needs inside its function: the command line sits on top of every layer, so this
creates no cycle, and `ftlab --help` or `ftlab memory …` stays fast instead of loading torch, transformers and
TRL for commands that do not train."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ftlab.core.errors import ConfigError
from ftlab.core.paths import MODELS_DIR, runs_dir
from ftlab.tools.tracking import PROJECT, show, sync


def cmd_data(args) -> int:
    if args.action == "build":
        from ftlab.build.databuild import build_all, build_domain_only
        for line in (build_domain_only() if args.only == "domain" else build_all()):
            print(line)
        return 0
    from ftlab.build.manifest import verify
    problems = verify()
    for p in problems:
        print(f"MISMATCH {p}")
    print("data/MANIFEST.json: all files match" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_pretrain_base(args) -> int:
    """Pretrain (or resume) the tiny base and save it where the `tiny` profile loads it from."""
    from ftlab.core.generate import SAMPLE_PROMPTS, complete
    from ftlab.core.profiles import BASE_PRETRAIN
    from ftlab.lessons.pretraining import pretrain, save_base

    cfg = replace(BASE_PRETRAIN, steps=args.steps) if args.steps else BASE_PRETRAIN
    result = pretrain(cfg, Path(args.run_dir))
    samples = dict(zip(SAMPLE_PROMPTS, complete(result.model, result.tokenizer, SAMPLE_PROMPTS)))
    out = save_base(result, Path(args.out), samples)
    card = result.card
    print(f"saved {out}: {card['parameters']:,} params, {card['tokens_seen']:,} tokens, "
          f"{card['wall_time_s'] / 60:.1f} min, held-out perplexity {card['heldout_perplexity']:.1f} "
          f"(unigram {card['unigram_heldout_perplexity']:.1f})")
    for prompt, text in samples.items():
        print(f"  {prompt!r} -> {text!r}")
    return 0


def cmd_profile(args) -> int:
    from ftlab.core.device import hardware_summary
    from ftlab.core.profiles import PROFILES, active
    current = active()
    for name, prof in PROFILES.items():
        mark = "*" if name == current.name else " "
        print(f"{mark} {name:6s} {prof.description}")
    print(f"hardware: {hardware_summary()}")
    return 0


def cmd_course(args) -> int:
    from ftlab.tools.course_runner import course_notebooks, run_course
    try:
        course_notebooks(args.only)
    except ConfigError as e:
        print(f"ftlab course: error: {e}", file=sys.stderr)
        return 2
    return run_course(Path(args.out), only=args.only, store=args.store, timeout=args.cell_timeout,
                      profile=args.profile, html=not args.no_html)


def cmd_memory(args) -> int:
    """Predicted peak memory of one training step, term by term (ftlab.core.memory.estimate)."""
    from ftlab.core.memory import estimate, gib, largest_batch
    from ftlab.core.settings import PeftOptions, TrainSetup
    setup = TrainSetup(method=args.method, precision=args.precision, optimizer=args.optimizer,
                       batch_size=args.batch, seq_len=args.seq, device=args.device,
                       gradient_checkpointing=args.checkpointing, peft=PeftOptions(lora_r=args.lora_r))
    try:
        prediction = estimate(args.model, setup)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"ftlab memory: {err}", file=sys.stderr)
        return 2
    print(f"{args.model}, {args.method}, {args.precision}, {args.optimizer}, batch {args.batch} x {args.seq} tokens, "
          f"{args.device}{', gradient checkpointing' if args.checkpointing else ''}")
    for term, size in prediction.breakdown.items():
        print(f"  {term.replace('_', ' '):22s} {gib(size):>11s}")
    print(f"  {'total':22s} {gib(prediction.total):>11s}  (peak at {prediction.peak_phase})")
    print(f"trainable parameters {prediction.trainable_params:,} of {prediction.total_params:,} "
          f"({prediction.trainable_fraction:.3%})")
    if args.gpu_gb:
        budget = args.gpu_gb * 2**30
        verdict = "fits" if prediction.total <= budget else "does NOT fit"
        print(f"{verdict} in {args.gpu_gb} GiB; largest batch that fits: "
              f"{largest_batch(args.model, setup, budget, limit=4096)}")
    return 0


def cmd_claims(args) -> int:
    """The claims table (one row per claim, its verdict at each scale); --readme writes it into README.md."""
    from ftlab.tools.claims_table import differing, markdown, write_readme
    if args.readme:
        print("README.md: claims table " + ("rewritten" if write_readme() else "already current"))
    else:
        print(markdown())
    found = differing()
    print(f"\nverdicts that differ between the scales: {', '.join(found) if found else 'none'}")
    return 0


def cmd_doctor(args) -> int:
    from ftlab.tools.doctor import run_doctor
    checks = run_doctor(progress=not args.no_progress)
    for check in checks:
        print(check.line())
    problems = [c for c in checks if not c.ok]
    print("all checks passed" if not problems else f"{len(problems)} problem(s) above (marked !!)")
    return 1 if problems else 0


def cmd_export(args) -> int:
    from ftlab.core.export import export_saved
    try:
        out = export_saved(args.source, args.out, adapter_only=args.adapter_only,
                           card_path=Path(args.card) if args.card else None, model_name=args.base)
    except ConfigError as e:
        print(f"ftlab export: error: {e}", file=sys.stderr)
        return 2
    print(f"exported to {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


def cmd_grade(args) -> int:
    from ftlab.course.grading import grade_folder
    try:
        done = grade_folder(Path(args.folder), Path(args.out) if args.out else None)
    except ConfigError as e:
        print(f"ftlab grade: error: {e}", file=sys.stderr)
        return 2
    print(f"{done['students']} student(s): {done['csv']}, {done['plot']}")
    for exercise, (right, wrong) in sorted(done["shares"].items(), key=lambda kv: kv[1][0]):
        print(f"  {exercise:<40} {right:5.0%} right, {wrong:5.0%} wrong")
    return 0


def cmd_track(args) -> int:
    print(sync(Path(args.runs) if args.runs else None, args.project, by_student=args.by_student).summary())
    return 0


def cmd_dashboard(args) -> int:
    show(Path(args.runs) if args.runs else None, args.project, port=args.port, open_browser=not args.no_browser,
         by_student=args.by_student)
    return 0


def cmd_launch_command(args) -> int:
    """Print the `accelerate launch` command for this machine (or the one given), why, and the FSDP table."""
    from ftlab.core.profiles import active
    from ftlab.core.settings import TrainSetup
    from ftlab.tools.launch import Hardware, detect, fsdp_table, plan
    from ftlab.tools.scale import per_device_batch

    profile = active(args.profile)
    hardware = Hardware(args.gpus, int(args.gpu_memory_gib * 2**30)) if args.gpus is not None else detect()
    global_batch = args.global_batch or profile.sft.batch_size
    processes = max(hardware.gpus, 1) if hardware.gpus else 2
    bf16 = profile.sft.bf16 if args.precision is None else args.precision == "bf16"
    setup = TrainSetup(method=args.method, precision="mixed" if bf16 else "fp32",
                       batch_size=per_device_batch(global_batch, processes), device="cuda",
                       seq_len=args.max_length or profile.sft.max_length,
                       gradient_checkpointing=args.activation_checkpointing)
    scale_args = ["--profile", profile.name, "--method", args.method, "--steps", str(args.steps),
                  "--global-batch", str(global_batch), "--out", args.out]
    scale_args += ["--model", args.model] if args.model else []
    scale_args += ["--max-length", str(args.max_length)] if args.max_length else []
    scale_args += ["--activation-checkpointing"] if args.activation_checkpointing else []
    scale_args += ["--precision", args.precision] if args.precision else []
    memory_model = args.memory_model or profile.memory_model
    chosen = plan(args.method, hardware, memory_model, setup, scale_args)
    print(f"hardware: {hardware}")
    print(f"why: {chosen.why}")
    print(chosen.command)
    if hardware.gpus:
        print(f"per-GPU estimate of {memory_model} ({args.method}, {setup.precision}, {setup.batch_size} x "
              f"{setup.seq_len} tokens per GPU, checkpointing {'on' if setup.gradient_checkpointing else 'off'}) "
              "under FSDP full sharding (ftlab.core.memory):")
        for line in fsdp_table(memory_model, setup):
            print("  " + line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="build or verify the derived data in data/")
    p.add_argument("action", choices=["build", "verify"])
    p.add_argument("--only", choices=["domain"], default=None,
                   help="rebuild just these files (keeps the other manifest entries)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("pretrain-base", aliases=["pretrain"],
                       help="pretrain the tiny base model (resumes from --run-dir)")
    p.add_argument("--steps", type=int, default=None, help="override the number of steps")
    p.add_argument("--run-dir", default=str(runs_dir() / "pretrain-base"))
    p.add_argument("--out", default=str(MODELS_DIR / "tiny-base"))
    p.set_defaults(func=cmd_pretrain_base)

    p = sub.add_parser("memory", help="predict the peak memory of one training step, term by term",
                       description="e.g. ftlab memory llama-2-7b --method lora --precision bf16 --batch 4 "
                                   "--seq 1024 --device cuda")
    p.add_argument("model", help="a name from ftlab/model_configs (llama-2-7b, smollm2-135m, tiny, ...) or a "
                                 "folder with a config.json")
    p.add_argument("--method", default="full", choices=["full", "lora", "qlora", "prefix", "prompt", "ia3"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "mixed"])
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "adamw8bit", "sgd"])
    p.add_argument("--batch", type=int, default=1, help="sequences per step")
    p.add_argument("--seq", type=int, default=256, help="tokens per sequence")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--checkpointing", action="store_true", help="gradient checkpointing")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank")
    p.add_argument("--gpu-gb", type=float, default=None, help="also say whether it fits this many GiB")
    p.set_defaults(func=cmd_memory)

    p = sub.add_parser("doctor", help="hardware, profile, packages, offline readiness, next profile's needs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("claims", help="the claims table: every claim's verdict at 3.4 M and at 135 M")
    p.add_argument("--readme", action="store_true", help="write it into README.md (between its markers)")
    p.set_defaults(func=cmd_claims)

    p = sub.add_parser("profile", help="list profiles and show which one is active")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("course", help="execute every notebook headless; executed copies go to --out")
    p.add_argument("--out", default="course_output")
    p.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 00 01")
    p.add_argument("--store", action="store_true", help="also write a clean run's outputs into notebooks/")
    p.add_argument("--cell-timeout", type=int, default=None, help="seconds one cell may run (default: no limit)")
    p.add_argument("--profile", default=None, help="FTLAB_PROFILE for the kernels (tiny, smol, gpu)")
    p.add_argument("--no-html", action="store_true", help="skip index.html, html/ and plots/")
    p.set_defaults(func=cmd_course)

    p = sub.add_parser("export", help="write a trained model as a loadable folder with its tokenizer and a model card",
                       description="e.g. ftlab export runs/my-run exported/ (a run's folder whose model was "
                                   "saved to model/ by run_sft(save_to=...), or any folder saved by "
                                   "save_pretrained; its run card is read from it or the folder above)")
    p.add_argument("source", help="the run's folder, or the saved model or adapter folder")
    p.add_argument("out", help="the folder to write")
    p.add_argument("--adapter-only", action="store_true", help="keep a LoRA adapter separate (default: merge it)")
    p.add_argument("--card", default=None, help="the run card (runcard.json) if it is not beside the model")
    p.add_argument("--base", default=None, help="the base model's profile name or hub id (default: the run "
                                                "card's profile)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("grade", help="turn a folder of students' submissions into a class table and plot",
                       description="Reads every *.json that grading.save(<notebook>) wrote (one per student and "
                                   "notebook) and writes class.csv (one row per student, 1/0/empty per exercise) "
                                   "and class.png (share of the class right per exercise).")
    p.add_argument("folder", help="the folder of submission files")
    p.add_argument("--out", default=None, help="where class.csv and class.png go (default: the folder)")
    p.set_defaults(func=cmd_grade)

    for name, helptext in (("track", "log every run card under the runs folder into trackio (runs/trackio)"),
                           ("dashboard", "log the run cards into trackio, then open its dashboard on them")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--runs", default=None, help="the folder of runs (default: runs/, or FTLAB_RUNS)")
        p.add_argument("--project", default=PROJECT, help=f"the trackio project (default: {PROJECT})")
        p.add_argument("--by-student", action="store_true",
                       help="a class's runs: one folder per student under --runs; group the runs by student")
        if name == "dashboard":
            p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: from 7860 up)")
            p.add_argument("--no-browser", action="store_true", help="only print the dashboard's address")
        p.set_defaults(func=cmd_track if name == "track" else cmd_dashboard)

    p = sub.add_parser("launch-command", help="print the accelerate launch command for this machine's GPUs")
    p.add_argument("--method", choices=["full", "lora", "qlora"], default="lora")
    p.add_argument("--profile", default=None)
    p.add_argument("--model", default=None, help="base model to train instead of the profile's")
    p.add_argument("--memory-model", default=None, help="config the memory estimate uses (ftlab.core.memory."
                   "config_names(), e.g. llama-3.1-8b; default: the profile's memory_model)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--global-batch", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--activation-checkpointing", action="store_true")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    p.add_argument("--out", default=str(runs_dir() / "scale"))
    p.add_argument("--gpus", type=int, default=None, help="plan for this many GPUs instead of the detected ones")
    p.add_argument("--gpu-memory-gib", type=float, default=80.0, help="memory of one GPU, with --gpus")
    p.set_defaults(func=cmd_launch_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
