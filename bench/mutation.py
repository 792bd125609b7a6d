"""Mutation score of the modules whose numbers learners read: how many small bugs (mutants) the tests catch.

Runs mutmut 3.8 (`pip install mutmut==3.8.1`; a developer tool, not a test dependency) on a scratch copy of the
repository, so the working tree is never mutated and no `mutants/` folder appears in it, then prints per module
how many mutants the named tests killed, and the survivors.

    python bench/mutation.py --list                     # the presets (module, functions, tests)
    python bench/mutation.py memory data                # presets by name; no name: every preset
    python bench/mutation.py ftlab/core/seedstore.py tests/core/test_seedstore.py tests/core/test_seedstore_bugs.py
    python bench/mutation.py ftlab/core/memory.py tests/core/test_memory_predictor.py --only estimate _phases ModelShape
    python bench/mutation.py data --show                # also print the diff of every surviving mutant
    python bench/mutation.py memory --sample 8          # every 8th mutant (in name order): an estimate, quicker
    python bench/mutation.py registry --mutants ftlab.core.claims.x__c__mutmut_1   # re-check some survivors only

A module path is followed by its test files (or pytest node ids); `--only` restricts mutation to functions
(`name`), methods (`Class.method`) or whole classes (`Class`). mutmut mutates function and method bodies only:
module constants, and functions with a decorator other than @classmethod/@staticmethod (e.g. @property), are
never mutated (bench/planted_bugs.py covers constants). Score = (killed + timeout) / all mutants of the selection;
"no tests" (no selected test calls the function) counts as not killed. `--sample K` runs every K-th mutant of
the selection in natural name order (so every function keeps its share) and prints the score with its 95 %
Wilson interval: mutmut runs one mutant at ~2-4 s on 2 loaded cores, so a whole preset can take an hour. Each preset takes 1-10 minutes on 2
loaded cores; run it as `nice -n 15`. Results and survivors: bench/README.md, "Mutation testing".
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ftlab.core.stats import wilson

REPO = Path(__file__).resolve().parent.parent
SCRATCH = Path(os.environ.get("TMPDIR", "/tmp")) / "ftlab-mutation"

# The memory predictor: everything `estimate` computes with (not measure/probes, config loading or plotting).
PREDICTOR = ("ModelShape", "trainable_tensors", "_bytes", "_positions", "_keys", "_norm_saved", "_attention_saved",
             "_lora_targets", "_layer_saved", "_head_saved", "_per_step_saved", "_quant_constants", "_weights",
             "_param_bytes", "_optimizer_states", "_optimizer_temporaries", "_phases", "_sharded", "_gathered",
             "estimate", "largest_batch", "alternatives", "preflight", "gib")  # TrainSetup now lives in core/settings.py
# The SQL grader and its sandbox in ftlab/core/sql.py (not the splits' loader beside it; extract_sql now lives in
# ftlab/lessons/domain_tuning.py).
GRADER = ("_authorize", "check_statement", "_connect", "execute", "_normalise", "is_ordered", "same_result",
          "execution_match", "grade", "summarise", "execution_accuracy")
MEMORY_TESTS = [f"tests/core/test_memory.py::{t}" for t in (  # the fast ones: no probe process, no SFT run
    "test_parameter_count_matches_the_instantiated_model", "test_trainable_parameters_match_peft",
    "test_memory_grows_with_batch_and_shrinks_with_each_saving", "test_largest_batch_is_the_boundary",
    "test_preflight_refuses_with_the_estimate_and_options_that_fit", "test_bad_setups_are_refused",
    "test_unknown_model_config_names_the_choices", "test_memory_calculator_follows_its_controls",
    "test_setup_of_a_live_model_names_its_method")]
DOMAIN_TESTS = [f"tests/lessons/test_domain_tuning.py::{t}" for t in (  # the grading ones: no dataset rebuild
    "test_grader_accepts_equivalent_rewrites", "test_grader_rejects_wrong_queries",
    "test_grader_does_not_accept_a_truncated_result_nor_a_gold_that_does_not_run",
    "test_writes_and_escapes_are_refused_and_the_database_is_unchanged",
    "test_the_authorizer_refuses_writes_even_past_the_statement_check",
    "test_endless_recursive_query_is_stopped_by_the_time_limit", "test_rows_returned_are_capped",
    "test_execute_never_raises_on_bad_model_output", "test_a_missing_database_is_an_error_not_a_wrong_answer",
    "test_execution_accuracy_overall_and_per_task", "test_extract_sql_takes_the_first_query_out_of_a_chatty_answer",
    "test_extracted_sql_of_a_chatty_answer_is_graded_right", "test_accuracy_on_a_sample_of_stored_outcomes",
    "test_score_sql_extracts_and_grades_generated_answers")]

# Stored references: the fingerprint and staleness machinery (not git_state/provenance/stamp, which ask git and
# the hardware), with the tests that build their own package and files; those that read bench/results are left
# out (mutmut's trampolined copy of ftlab never matches a stored fingerprint, and they call none of these).
PROVENANCE = ("reference_for", "_module_path", "_imported_modules", "_absolute", "_module_name", "import_closure",
              "normalized_source", "_digest", "notebook_code", "code_fingerprint", "data_fingerprint", "fingerprint",
              "changes", "require_current", "load", "describe", "command_line")
REFERENCE_TESTS = ["tests/core/test_references.py", *(a for t in (
    "test_there_are_references_to_check", "test_every_reference_is_current",
    "test_every_reference_records_its_provenance", "test_stored_seeds_hold_every_arm_and_seed_from_one_code_version",
    "test_stored_seeds_were_made_with_todays_settings_and_rows") for a in ("--deselect", f"tests/core/test_references.py::{t}"))]

# name -> (module, functions (empty: all), tests). Test files that do not exist (yet) are left out with a note.
PRESETS = {
    "data": ("ftlab/core/data.py", (), ["tests/core/test_chat_data_validation.py", "tests/core/test_chat_validation_properties.py"]),
    "memory": ("ftlab/core/memory.py", PREDICTOR, ["tests/core/test_memory_predictor.py", *MEMORY_TESTS]),
    "scoring": ("ftlab/core/evaluate.py", ("normalize", "token_f1", "task_scores", "_summarise"),
                ["tests/core/test_sft_and_eval.py::test_normalize_and_token_f1", "tests/core/test_scoring.py"]),
    "grader": ("ftlab/core/sql.py", GRADER, [*DOMAIN_TESTS, "tests/core/test_sql_grader.py"]),
    "claims": ("ftlab/lessons/memory_budget.py", ("conventions", "judge"),
               ["tests/tools/test_course_runner_and_claims.py", "tests/lessons/test_memory_budget.py"]),
    "seedstore": ("ftlab/core/seedstore.py", (), ["tests/core/test_seedstore.py", "tests/core/test_seedstore_bugs.py"]),
    "provenance": ("ftlab/core/provenance.py", PROVENANCE, REFERENCE_TESTS),
    # test_every_claim_expects_a_verdict_on_the_default_profile fails until notebook 02's verdicts are recorded
    # (a failing test on the unmutated code stops mutmut), and it reads the registry's constants only.
    "registry": ("ftlab/core/claims.py", (), ["tests/core/test_claims.py", "--deselect",
                                         "tests/core/test_claims.py::test_every_claim_expects_a_verdict_on_the_default_profile"]),
}

CAUGHT = ("killed", "timeout", "segfault", "caught by type check")
# Imported by the scratch copy's tests/conftest.py, so once in mutmut's fork server instead of once per mutant
# (tests that import torch or transformers inside a function otherwise pay ~10 s per mutant on 2 cores).
PRELOAD = ("torch", "transformers", "peft", "ftlab.core.evaluate", "ftlab.core.profiles", "ftlab.course.widgets")


def mutant_globs(module: str, functions) -> list[str]:
    """mutmut's names for these functions' mutants: pkg.mod.x_func__mutmut_3, pkg.mod.xǁClassǁmethod__mutmut_3."""
    dotted = module.removesuffix(".py").replace("/", ".")
    if not functions:
        return [f"{dotted}.*"]
    globs = []
    for name in functions:
        if "." in name:
            cls, method = name.split(".", 1)
            globs.append(f"{dotted}.xǁ{cls}ǁ{method}__mutmut_*")
        elif name[0].isupper():
            globs.append(f"{dotted}.xǁ{name}ǁ*")
        else:
            globs.append(f"{dotted}.x_{name}__mutmut_*")
    return globs


def existing(tests: list[str]) -> list[str]:
    """The tests whose files exist; pytest options (`--deselect NODE`) pass through."""
    kept = [t for i, t in enumerate(tests) if t.startswith("-") or (i and tests[i - 1].startswith("-"))
            or (REPO / t.split("::")[0]).is_file()]
    for t in sorted(set(tests) - set(kept)):
        print(f"  (no {t.split('::')[0]} here: left out)")
    return kept


def scratch_copy(folder: Path, module: str, tests: list[str]) -> None:
    """The package, tests and pyproject (with a [tool.mutmut] section) in `folder`; the data the tests read is
    put where mutmut's copy of the package looks for it (mutants/ is the repository root of the mutated code)."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "mutants").mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ftlab", "tests"):
        shutil.copytree(REPO / name, folder / name, ignore=ignore)
    for name in ("data", "bench"):  # copied: data.py tells repository files from others by their resolved path
        shutil.copytree(REPO / name, folder / "mutants" / name, ignore=ignore)
    for name in ("models", "notebooks"):
        (folder / "mutants" / name).symlink_to(REPO / name)
    with open(folder / "tests" / "conftest.py", "a") as conftest:
        conftest.write(f"\n\nimport importlib  # added by bench/mutation.py\n\nfor _name in {PRELOAD!r}:\n"
                       "    importlib.import_module(_name)\n")
    text = (REPO / "pyproject.toml").read_text()
    text = re.sub(r'(?m)^addopts = .*$', 'addopts = "-p no:cacheprovider"', text)  # no nbval: tests only
    config = {"source_paths": ["ftlab/"], "only_mutate": [module], "pytest_add_cli_args_test_selection": tests,
              "use_git_change_detection": False,
              "process_isolation": "forkserver", "timeout_multiplier": 10.0, "timeout_constant": 10.0}
    text += "\n[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items())
    (folder / "pyproject.toml").write_text(text)


def mutant_names(folder: Path, module: str, env: dict) -> list[str]:
    """Every mutant mutmut makes of `module` (its own generator, run in the scratch copy for its config)."""
    code = ("import json, sys; from mutmut.mutation.file_mutation import mutate_file_contents; "
            f"m = mutate_file_contents({module!r}, open({module!r}).read()); print(json.dumps(list(m.mutant_names)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, check=True)
    dotted = module.removesuffix(".py").replace("/", ".")
    return [f"{dotted}.{name}" for name in json.loads(out.stdout)]


def run_one(label: str, module: str, functions, tests: list[str], children: int, show: bool,
            sample: int = 1, names=()) -> dict:
    folder = SCRATCH / label
    tests = existing(tests)
    if not tests:
        raise SystemExit(f"{label}: none of the test files exist")
    scratch_copy(folder, module, tests)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    mutmut = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
    globs = mutant_globs(module, functions)
    if names:
        globs = list(names)
    elif sample > 1:
        selected = sorted((k for k in mutant_names(folder, module, env) if any(fnmatch.fnmatch(k, g) for g in globs)),
                          key=_natural)
        globs = selected[::sample]
        print(f"{label}: every {sample}th of {len(selected)} mutants: {len(globs)}", flush=True)
    start = time.time()
    with open(folder / "mutmut.log", "w") as log:
        done = subprocess.run(mutmut + ["run", "--max-children", str(children), *globs], cwd=folder, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    meta = folder / "mutants" / (module + ".meta")
    log = (folder / "mutmut.log").read_text(errors="replace")
    uncovered = "could not find any test case for any mutant" in log  # mutmut stops: every mutant has no test
    if (done.returncode != 0 and not uncovered) or not meta.exists():
        tail = "\n".join(line for line in log.replace("\r", "\n").splitlines()[-40:] if line.strip())
        print(f"{label}: mutmut failed (exit {done.returncode}; a selected test failing on the unmutated code "
              f"stops it: run them in {folder / 'mutants'}); end of {folder / 'mutmut.log'}:\n{tail}")
        return None
    from mutmut.stats import status_by_exit_code

    codes = json.loads(meta.read_text())["exit_code_by_key"]
    if uncovered:
        codes = {k: 33 for k in codes}  # 33: mutmut's "no tests"
    status = {k: status_by_exit_code[v] for k, v in codes.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
    counts = dict(Counter(status.values()))
    caught = sum(counts.get(s, 0) for s in CAUGHT)
    survivors = sorted((k for k, s in status.items() if s not in CAUGHT), key=_natural)
    low, high = wilson(caught, len(status)) if status else (0.0, 0.0)
    result = {"label": label, "module": module, "functions": list(functions), "tests": tests, "sample": sample,
              "interval": [round(low, 3), round(high, 3)],
              "mutants": len(status), "caught": caught, "score": caught / len(status) if status else 0.0,
              "counts": counts, "survivors": {k: status[k] for k in survivors}, "seconds": round(seconds)}
    print(f"{label}: {module}: {caught}/{len(status)} mutants caught = {100 * result['score']:.1f} % "
          + (f"[{100 * low:.0f}, {100 * high:.0f}] (every {sample}th mutant) " if sample > 1 else " ")
          + f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}; {seconds:.0f} s)")
    for k in survivors if show else ():
        print(f"    {status[k]:9} {k}")
        if show:
            diff = subprocess.run(mutmut + ["show", k], cwd=folder, env=env, capture_output=True, text=True).stdout
            print("\n".join("        " + line for line in diff.splitlines()[1:]))
    if not show:
        for line in _grouped(survivors, status):
            print(line)
    return result


def _grouped(keys: list[str], status: dict[str, str]) -> list[str]:
    """Survivors one line per function and status: 'survived  ftlab.core.data.x_validate_rows__mutmut_ 3, 41, 42'."""
    groups: dict[tuple[str, str], list[str]] = {}
    for k in keys:
        stem, _, number = k.rpartition("_")
        groups.setdefault((status[k], stem + "_"), []).append(number)
    return [f"    {s:9} {stem} {', '.join(numbers)}" for (s, stem), numbers in groups.items()]


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="preset names, or a module path followed by its test files")
    parser.add_argument("--only", nargs="+", default=(), help="functions, Class.method or Class to mutate")
    parser.add_argument("--list", action="store_true", help="print the presets and exit")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--children", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--sample", type=int, default=1, help="run every K-th mutant only (default 1: all)")
    parser.add_argument("--mutants", nargs="+", default=(), help="run these mutants only (names as printed)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.list:
        for name, (module, functions, tests) in PRESETS.items():
            print(f"{name}: {module} [{', '.join(functions) or 'every function'}]\n    tests: {' '.join(tests)}")
        return 0
    if args.targets and args.targets[0].endswith(".py") and args.targets[0].startswith("ftlab/"):
        module, tests = args.targets[0], args.targets[1:]
        jobs = [(Path(module).stem, module, tuple(args.only), tests)]
    else:
        unknown = [t for t in args.targets if t not in PRESETS]
        if unknown:
            parser.error(f"unknown preset(s) {unknown}; known: {sorted(PRESETS)} (or give ftlab/<module>.py tests...)")
        jobs = [(n, *PRESETS[n]) for n in (args.targets or PRESETS)]
    results = [run_one(label, module, functions, list(tests), args.children, args.show, args.sample,
                       args.mutants)
               for label, module, functions, tests in jobs]
    failed = [job[0] for job, r in zip(jobs, results) if r is None]
    results = [r for r in results if r is not None]
    print("\n| module | functions mutated | mutants run | caught | score [95 % interval] |\n|---|---|---|---|---|")
    for r in results:
        shown = f" (1 in {r['sample']})" if r["sample"] > 1 else ""
        print(f"| {r['label']} (`{r['module']}`) | {len(r['functions']) or 'all'} | {r['mutants']}{shown} | "
              f"{r['caught']} | {100 * r['score']:.1f} % [{100 * r['interval'][0]:.0f}, {100 * r['interval'][1]:.0f}] |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if failed:
        print(f"no score for {', '.join(failed)} (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
