"""Plant each of issue 32's ten bugs, one at a time, in a scratch copy of the repository, run the related tests,
and show which tests catch it. The working tree is never edited.

    nice -n 15 python bench/planted_bugs.py            # all ten, ~3-6 minutes on 2 loaded cores
    python bench/planted_bugs.py 9 10                  # some of them
    python bench/planted_bugs.py --list                # the patches

A bug is "caught" when the clean copy passes the named tests and the planted copy fails at least one. A patch
whose original text is no longer in the file is reported as stale (exit status 2): update it with the code.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SQL_TESTS = ["tests/core/test_sql_grader.py"]
SEED_TESTS = ["tests/core/test_seedstore_bugs.py", "tests/core/test_seedstore.py"]
CHAT_TESTS = ["tests/core/test_chat_data_validation.py", "tests/core/test_chat_validation_properties.py"]
SCORING_TESTS = ["tests/core/test_scoring.py", "tests/core/test_sft_and_eval.py::test_normalize_and_token_f1"]

# (what, file, original text, planted text, tests to run)
BUGS = [
    ("a chat row missing 'content' raises a KeyError instead of the DatasetError", "ftlab/core/data.py",
     'missing = [k for k in ("role", "content") if k not in msg]', 'missing = [k for k in ("role",) if k not in msg]',
     CHAT_TESTS),
    ("only the first role is checked for alternation", "ftlab/core/data.py",
     "if turns != expected:", "if turns[:1] != expected[:1]:", CHAT_TESTS),
    ("8-bit Adam state counted at 1 byte instead of 2", "ftlab/core/memory.py",
     "return sum(2 * n + 8 * -(-n // ADAM8_BLOCK)", "return sum(1 * n + 8 * -(-n // ADAM8_BLOCK)",
     ["tests/core/test_memory_predictor.py"]),
    ("NF4 weights counted at 8 bits", "ftlab/core/memory.py",
     "quantized = sum(sizes) // 2", "quantized = sum(sizes)",
     ["tests/core/test_memory_predictor.py", "tests/lessons/test_memory_budget.py"]),
    ("the SQL grader's float tolerance 6 -> 2 significant digits", "ftlab/core/sql.py",
     "FLOAT_DIGITS = 6", "FLOAT_DIGITS = 2", SQL_TESTS),
    ("the SQL sandbox's blocked-functions list turned off", "ftlab/core/sql.py",
     'DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})',
     "DENIED_FUNCTIONS = frozenset()", SQL_TESTS),
    ("normalize stops collapsing spaces", "ftlab/core/evaluate.py",
     'return " ".join(text.lower().strip().strip(".!?,;:\'\\"").split())',
     'return text.lower().strip().strip(".!?,;:\'\\"")', SCORING_TESTS),
    ("exact match becomes 'contains'", "ftlab/core/evaluate.py",
     'em = float(normalize(ans) == normalize(row["answer"]))',
     'em = float(normalize(row["answer"]) in normalize(ans))', SCORING_TESTS),
    ("the stored-twin check takes the smallest gap instead of the largest", "ftlab/core/seedstore.py",
     "return {m: max(abs(a[m] - b[m]) for a, b in pairs) for m in metrics}",
     "return {m: min(abs(a[m] - b[m]) for a, b in pairs) for m in metrics}", SEED_TESTS),
    ("the model left out of the stored-seeds key", "ftlab/core/seedstore.py",
     "blob = json.dumps([profile.model, inputs], sort_keys=True, default=repr).encode()",
     "blob = json.dumps([inputs], sort_keys=True, default=repr).encode()", SEED_TESTS),
]


def scratch_copy(folder: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ftlab", "tests", "data", "bench"):  # data copied: ftlab.core.data tells its files by resolved path
        shutil.copytree(REPO / name, folder / name, ignore=ignore)
    for name in ("models", "notebooks"):
        (folder / name).symlink_to(REPO / name)
    shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")


def run_tests(folder: Path, tests: list[str]) -> tuple[int, list[str], str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", COLUMNS="400")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no", "-rf",
                           *tests], cwd=folder, env=env, capture_output=True, text=True)
    failed = re.findall(r"^FAILED (.+?)(?: - .*)?$", done.stdout, re.M)
    return done.returncode, failed, done.stdout[-1500:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bugs", nargs="*", type=int, help="bug numbers (1-10); default all")
    parser.add_argument("--list", action="store_true", help="print the patches and exit")
    args = parser.parse_args(argv)
    chosen = args.bugs or list(range(1, len(BUGS) + 1))
    if args.list:
        for i in chosen:
            what, path, old, new, tests = BUGS[i - 1]
            print(f"{i}. {what} ({path})\n   - {old}\n   + {new}\n   tests: {' '.join(tests)}")
        return 0
    status = 0
    with tempfile.TemporaryDirectory(prefix="ftlab-planted-") as tmp:
        folder = Path(tmp)
        scratch_copy(folder)
        clean: dict[tuple, int] = {}
        for i in chosen:
            what, path, old, new, tests = BUGS[i - 1]
            source = (folder / path).read_text()
            if source.count(old) != 1:
                print(f"{i}. STALE: {path} no longer contains exactly one `{old}`: update bench/planted_bugs.py")
                status = 2
                continue
            if tuple(tests) not in clean:
                code, failed, tail = run_tests(folder, tests)
                clean[tuple(tests)] = code
                if code != 0:
                    print(f"clean copy fails {' '.join(tests)} ({', '.join(failed) or tail}): fix that first")
                    status = 2
            if clean[tuple(tests)] != 0:
                continue
            (folder / path).write_text(source.replace(old, new))
            try:
                code, failed, tail = run_tests(folder, tests)
            finally:
                (folder / path).write_text(source)
            caught = code != 0 and bool(failed)
            print(f"{i}. {what} ({path}): {'CAUGHT' if caught else 'NOT CAUGHT'} by {len(failed)} test(s)")
            for name in failed:
                print(f"     {name}")
            if not caught:
                status = max(status, 1)
                if code != 0:
                    print(tail)
    return status


if __name__ == "__main__":
    sys.exit(main())
