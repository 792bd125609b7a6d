"""The text-to-SQL domain as the course reads it: the dataset's splits (built by ftlab.build.sql_domain) and
the SQL sandbox that grades a query by executing it (read-only, time- and size-limited)."""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ftlab.core.data import load_chat_jsonl
from ftlab.core.paths import DATA_DIR

DOMAIN_DIR = DATA_DIR / "domain"


DB_PATH = DOMAIN_DIR / "elements.db"


SPLITS = ("train", "test_unseen_elements", "test_unseen_phrasings")


def domain_hash(key: str) -> str:
    """A stable hash of `key` that orders and samples the domain's rows the same way on every machine."""
    return hashlib.sha256(f"domain:{key}".encode()).hexdigest()


def hash_sample(rows: list[dict], n: int) -> list[dict]:
    """A deterministic sample: the n rows with the smallest hash of their id."""
    return sorted(rows, key=lambda r: domain_hash(r["id"]))[:n]


def load_domain(split: str, tasks: tuple[str, ...] | None = None) -> list[dict]:
    """Committed rows of one split (validated chat rows), optionally only some template families."""
    if split not in SPLITS:
        raise ValueError(f"unknown domain split {split!r}; expected one of {', '.join(SPLITS)}")
    rows = load_chat_jsonl(DOMAIN_DIR / f"{split}.jsonl.gz")
    return [r for r in rows if tasks is None or r["task"] in tasks]


TIMEOUT_S = 1.0


MAX_ROWS = 1000


MAX_SQL_CHARS = 2000


MAX_VALUE_BYTES = 1_000_000  # longest string or blob a query may build (randomblob(1e9) would eat memory)


PROGRESS_EVERY = 1000  # SQLite VM steps between clock checks


FLOAT_DIGITS = 6  # significant digits compared (avg via sum/count differs from avg() in the last bits)


ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                             sqlite3.SQLITE_RECURSIVE})


DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*(\n|$)|/\*.*?\*/)*", re.S)


@dataclass(frozen=True)
class QueryResult:
    """What a query returned (at most MAX_ROWS rows), or why it did not run."""

    rows: tuple[tuple, ...] = ()
    columns: tuple[str, ...] = ()
    error: str | None = None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _authorize(action, arg1, arg2, db_name, trigger) -> int:
    """SQLite authorizer: reading tables, SELECT, recursive CTEs and ordinary functions only."""
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def check_statement(sql) -> str | None:
    """Why this text is not a single SELECT / WITH … SELECT statement we are willing to run, or None."""
    if not isinstance(sql, str):
        return f"expected the SQL as a string, got {type(sql).__name__}"
    text = sql.strip().rstrip(";").strip()
    if not text:
        return "empty query"
    if len(text) > MAX_SQL_CHARS:
        return f"query is {len(text)} characters, over the limit of {MAX_SQL_CHARS}"
    if "\x00" in text:
        return "query contains a NUL character"
    body = LEADING_COMMENTS.sub("", text, count=1)
    first = (re.match(r"\w+", body) or [""])[0].lower()
    if first not in ("select", "with"):
        return f"only a single SELECT (or WITH … SELECT) statement is allowed; this one starts with {first!r}"
    return None


def _connect(db_path: Path, deadline: list[float]) -> sqlite3.Connection:
    """A read-only connection with the authorizer, size limits and a clock check installed."""
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("pragma query_only = on")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS + 16)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(_authorize)
    conn.set_progress_handler(lambda: time.monotonic() > deadline[0], PROGRESS_EVERY)
    return conn


def execute(sql, db_path: Path = DB_PATH, timeout_s: float = TIMEOUT_S, max_rows: int = MAX_ROWS) -> QueryResult:
    """Run one read-only SELECT on the database; never raises for bad SQL, it returns the error instead.

    A missing database is still an exception: that is a broken setup, not a wrong answer.
    """
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"{db_path}: no such database (expected the committed data/domain/elements.db)")
    problem = check_statement(sql)
    if problem:
        return QueryResult(error=problem)
    deadline = [math.inf]
    conn = _connect(Path(db_path), deadline)
    try:
        deadline[0] = time.monotonic() + timeout_s
        cur = conn.execute(sql.strip().rstrip(";").strip())
        rows = cur.fetchmany(max_rows + 1)
        columns = tuple(d[0] for d in cur.description or ())
        return QueryResult(tuple(rows[:max_rows]), columns, truncated=len(rows) > max_rows)
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError, RecursionError) as err:
        if time.monotonic() > deadline[0]:
            return QueryResult(error=f"stopped after the time limit of {timeout_s:g} s")
        return QueryResult(error=f"{type(err).__name__}: {err}")
    finally:
        conn.close()


def _normalise(value):
    """Numbers compared to FLOAT_DIGITS significant digits (ints and floats alike); text and NULL as they are."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(f"{float(value):.{FLOAT_DIGITS}g}")
    return value


def is_ordered(sql: str) -> bool:
    """Whether row order is part of the answer: the gold query has an ORDER BY."""
    return re.search(r"\border\s+by\b", sql, re.I) is not None


def same_result(pred: QueryResult, gold: QueryResult, ordered: bool) -> bool:
    """Same rows with the same values (column names ignored); as a list when ordered, else as a multiset."""
    if not (pred.ok and gold.ok) or pred.truncated:
        return False
    p = [tuple(_normalise(v) for v in row) for row in pred.rows]
    g = [tuple(_normalise(v) for v in row) for row in gold.rows]
    return p == g if ordered else Counter(p) == Counter(g)


def execution_match(pred_sql, gold_sql: str, db_path: Path = DB_PATH, timeout_s: float = TIMEOUT_S) -> bool:
    """True when the predicted query returns what the gold query returns (the gold must run)."""
    gold = execute(gold_sql, db_path, timeout_s)
    if not gold.ok:
        raise ValueError(f"gold SQL does not run ({gold.error}): {gold_sql}")
    return same_result(execute(pred_sql, db_path, timeout_s), gold, is_ordered(gold_sql))


def grade(preds: list, rows: list[dict], db_path: Path = DB_PATH, timeout_s: float = TIMEOUT_S) -> list[dict]:
    """Per row: whether the prediction ran and whether it returned the gold result (what accuracy averages)."""
    if len(preds) != len(rows):
        raise ValueError(f"{len(preds)} predictions for {len(rows)} rows; expected one prediction per row")
    outcomes = []
    for pred, row in zip(preds, rows):
        gold = execute(row["answer"], db_path, timeout_s)
        if not gold.ok:
            raise ValueError(f"row {row.get('id')}: gold SQL does not run ({gold.error}): {row['answer']}")
        result = execute(pred, db_path, timeout_s)
        outcomes.append({"id": row.get("id"), "task": row["task"], "ran": result.ok,
                         "correct": same_result(result, gold, is_ordered(row["answer"]))})
    return outcomes


def summarise(outcomes: list[dict]) -> dict:
    """Accuracy overall and per template family, and the share of predictions that did not even run."""
    right, total = Counter(), Counter()
    for o in outcomes:
        total[o["task"]] += 1
        right[o["task"]] += bool(o["correct"])
    n = len(outcomes)
    return {"overall": sum(right.values()) / n if n else 0.0, "n": n,
            "invalid_sql": sum(not o["ran"] for o in outcomes) / n if n else 0.0,
            "per_task": {t: right[t] / total[t] for t in sorted(total)}}


def execution_accuracy(preds: list, rows: list[dict], db_path: Path = DB_PATH,
                       timeout_s: float = TIMEOUT_S) -> dict:
    """Share of predictions whose result matches their row's gold query: overall, per template family, and
    how many did not even run."""
    return summarise(grade(preds, rows, db_path, timeout_s))
