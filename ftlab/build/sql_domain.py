"""Builds notebook 06's text-to-SQL data over the periodic table (`python -m ftlab data build`).

The data comes from `mendeleev==1.3.0`'s `elements.db` (MIT), cut down to one small table that a tiny model can
learn to query (`data/domain/elements.db`). Every question has a gold SQL query; ftlab.core.sql grades a prediction
by running it. Three splits test different things:
- `train`: questions over most elements, with most phrasings.
- `test_unseen_elements`: questions about elements that never appear in train (`"unseen": ["element"]`), plus
  questions about a column that train never queries (`"unseen": ["column"]`): can the model fill in a new name?
- `test_unseen_phrasings`: train's elements and columns, asked with wordings train never uses, and for
  (question, SQL) pairs train does not contain: did it learn the task or the sentences?
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
import struct
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ftlab.core.contamination import contaminated, words
from ftlab.core.jsonl import atomic_write_bytes
from ftlab.core.sources import SourcePackage, fetch, read_member
from ftlab.core.sql import DB_PATH, SPLITS, domain_hash, execute, hash_sample

MENDELEEV = SourcePackage("mendeleev", "1.3.0", "MIT (Copyright (c) 2015 Lukasz Mentel)")


SOURCE_MEMBER = "mendeleev/elements.db"


# ---- the table: (column, SQL type, words a question uses for it) ----
COLUMNS = (
    ("atomic_number", "INTEGER", "atomic number"),
    ("symbol", "TEXT", "symbol"),
    ("name", "TEXT", "name"),
    ("atomic_weight", "REAL", "atomic weight"),
    ("period", "INTEGER", "period"),
    ("group_id", "INTEGER", "group"),
    ("block", "TEXT", "block"),
    ("series", "TEXT", "series"),
    ("density", "REAL", "density"),
    ("melting_point", "REAL", "melting point"),
    ("boiling_point", "REAL", "boiling point"),
    ("electronegativity", "REAL", "electronegativity"),
    ("discovery_year", "INTEGER", "discovery year"),
)


COLUMN_WORDS = {c: w for c, _, w in COLUMNS}


SCHEMA = "elements(" + ", ".join(c for c, _, _ in COLUMNS) + ")"


PROMPT = "Table {schema}\nWrite SQL: {question}"


TOKEN_BUDGET = 200  # prompt + SQL after the chat template, tiny tokenizer (profiles' max_length is 256)


IDENTIFIERS = ("atomic_number", "symbol", "name")


NUMERIC = ("atomic_weight", "density", "melting_point", "boiling_point", "electronegativity", "discovery_year")


CATEGORIES = ("period", "group_id", "block", "series")


ATTRIBUTES = ("atomic_weight", "period", "group_id", "block", "series", "density", "melting_point", "boiling_point",
              "electronegativity", "discovery_year")  # what a lookup asks for (besides the other identifiers)


REAL_DIGITS = 3  # decimals kept for REAL columns (the source has float noise like 83.80999999999997)


# Round thresholds questions compare against, per numeric column.
THRESHOLDS = {
    "atomic_weight": (10, 20, 40, 60, 80, 100, 150, 200, 250),
    "density": (0.01, 1, 2, 3, 5, 7, 8, 10, 12, 15, 20),
    "melting_point": (100, 300, 500, 1000, 1500, 2000, 2500, 3000),
    "boiling_point": (100, 300, 500, 1000, 2000, 3000, 4000),
    "electronegativity": (1, 1.5, 2, 2.5, 3, 3.5),
    "discovery_year": (1700, 1750, 1800, 1850, 1900, 1950, 2000),
}


TOP_K = (2, 3, 5)


AGGREGATES = ("avg", "max", "min")


COMPARE_PARTNERS = 6  # compare_two: partners drawn per element


# ---- what is held out, and how big each split is ----
HELDOUT_COLUMNS = ("boiling_point",)


N_HELDOUT_ELEMENTS = 12


WORDLIKE_SYMBOLS = ("As", "At", "Be", "He", "In", "No", "Am", "Es")  # never held out: they are English words


TRAIN_PER_TASK = 320


PHRASING_TEST_SHARE = 0.15  # of each family's (question, SQL) pairs, at most PHRASING_TEST_PER_TASK


PHRASING_TEST_PER_TASK = 20


UNSEEN_ELEMENT_PER_TASK = 50


UNSEEN_COLUMN_PER_TASK = 8


CONTAMINATION_N = 13


# ---- question families: phrasings (the LAST one is held out of train) and the gold SQL ----
WORDS = {  # how a phrasing words a slot; "2" variants belong to held-out phrasings
    "op": {">": "above", "<": "below"},
    "op2": {">": "greater than", "<": "less than"},
    "most": {"desc": "highest", "asc": "lowest"},
    "most2": {"desc": "largest", "asc": "smallest"},
    "agg": {"avg": "average", "max": "highest", "min": "lowest"},
    "agg2": {"avg": "mean", "max": "maximum", "min": "minimum"},
}


FAMILIES = {
    "lookup_by_name": (
        ("What is the {col} of {name}?", "Give the {col} of {name}.", "{name}: what is its {col}?",
         "Tell me the {col} of the element called {name}."),
        "select {column} from elements where name = '{name}'"),
    "lookup_by_symbol": (
        ("What is the {col} of the element with symbol {symbol}?", "Give the {col} of {symbol}.",
         "Element {symbol}: what is its {col}?", "Look up the {col} of the element whose symbol is {symbol}."),
        "select {column} from elements where symbol = '{symbol}'"),
    "lookup_by_number": (
        ("What is the {col} of element number {number}?", "Give the {col} of the element with atomic number "
         "{number}.", "Element {number}: what is its {col}?", "Which {col} does element {number} have?"),
        "select {column} from elements where atomic_number = {number}"),
    "compare_two": (
        ("Which has the {most} {col}, {a} or {b}?", "Name the element with the {most} {col} of {a} and {b}.",
         "Find the element with the {most} {col} among {a} and {b}.",
         "Which element, {a} or {b}, has a {most2} {col}?"),
        "select name from elements where name in ('{a}', '{b}') order by {column} {dir} limit 1"),
    "filter_threshold": (
        ("Which elements have a {col} {op} {value}?", "List the elements with {col} {op} {value}.",
         "Name every element whose {col} is {op} {value}.", "Show all elements where the {col} is {op2} {value}."),
        "select name from elements where {column} {sign} {value}"),
    "filter_range": (
        ("Which elements have a {col} between {lo} and {hi}?", "List the elements with {col} from {lo} to {hi}.",
         "Name the elements whose {col} lies between {lo} and {hi}.",
         "Show elements with a {col} in the range {lo} to {hi}."),
        "select name from elements where {column} between {lo} and {hi}"),
    "filter_category": (
        ("Which elements are {in_cat}?", "List the elements {in_cat}.", "Name all elements {in_cat}.",
         "Show every element that is {in_cat}."),
        "select name from elements where {cat_cond}"),
    "filter_two": (
        ("Which elements {in_cat} have a {col} {op} {value}?", "List the elements {in_cat} with {col} {op} {value}.",
         "Name the elements {in_cat} whose {col} is {op} {value}.",
         "Of the elements {in_cat}, which have a {col} {op2} {value}?"),
        "select name from elements where {cat_cond} and {column} {sign} {value}"),
    "count_category": (
        ("How many elements are {in_cat}?", "Count the elements {in_cat}.",
         "What is the number of elements {in_cat}?", "How many elements {in_cat} are there?"),
        "select count(*) from elements where {cat_cond}"),
    "count_threshold": (
        ("How many elements have a {col} {op} {value}?", "Count the elements with {col} {op} {value}.",
         "What is the number of elements whose {col} is {op} {value}?",
         "How many elements have {col} {op2} {value}?"),
        "select count(*) from elements where {column} {sign} {value}"),
    "superlative": (
        ("Which element{in_cat_opt} has the {most} {col}?", "Name the element{in_cat_opt} with the {most} {col}.",
         "Find the element{in_cat_opt} whose {col} is the {most}.",
         "What element{in_cat_opt} has the {most2} {col}?"),
        "select name from elements where {cat_and}{column} is not null order by {column} {dir} limit 1"),
    "top_k": (
        ("Name the {k} elements{in_cat_opt} with the {most} {col}.",
         "Which {k} elements{in_cat_opt} have the {most} {col}?",
         "List the top {k} elements{in_cat_opt} by {col}, {most} first.",
         "Give the {k} elements{in_cat_opt} that have the {most2} {col}."),
        "select name from elements where {cat_and}{column} is not null order by {column} {dir} limit {k}"),
    "aggregate": (
        ("What is the {agg} {col} of the elements{in_cat_opt}?", "Compute the {agg} {col} of elements{in_cat_opt}.",
         "Give the {agg} {col} among elements{in_cat_opt}.", "Find the {agg2} {col} for elements{in_cat_opt}."),
        "select {fn}({column}) from elements{where_cat}"),
    "group_by": (
        ("What is {measure} in each {cat_col}?", "Show {measure} for every {cat_col}.",
         "Give {measure} per {cat_col}.", "For each {cat_col}, what is {measure}?"),
        "select {category}, {expr} from elements group by {category}"),
}


ELEMENT_TASKS = ("lookup_by_name", "lookup_by_symbol", "lookup_by_number", "compare_two")


def _one_transition(values: list[float | None]) -> float | None:
    """mendeleev's own rule for one melting/boiling point: the only value, or the first of two within 1%."""
    if len(values) == 1:
        return values[0]
    if len(values) == 2 and None not in values and math.isclose(*values, rel_tol=1e-2):
        return values[0]
    return None


def _clean(value, sql_type: str):
    """REALs rounded to REAL_DIGITS decimals (drops float noise), INTEGERs as int, text as is."""
    if value is None:
        return None
    if sql_type == "REAL":
        return round(float(value), REAL_DIGITS)
    if sql_type == "INTEGER":
        return int(value)
    return str(value)


def read_source_elements(source_db: Path) -> list[tuple]:
    """One tuple per element (in COLUMNS order) from mendeleev's database, joining series and phase transitions."""
    conn = sqlite3.connect(f"{Path(source_db).resolve().as_uri()}?mode=ro", uri=True)
    try:
        series = dict(conn.execute("select id, name from series"))
        points = defaultdict(list)
        for number, mp, bp in conn.execute("select atomic_number, melting_point, boiling_point "
                                           "from phasetransitions order by id"):
            points[number].append((mp, bp))
        rows = []
        query = ("select atomic_number, symbol, name, atomic_weight, period, group_id, block, series_id, density, "
                 "en_pauling, discovery_year from elements order by atomic_number")
        for number, symbol, name, weight, period, group, block, series_id, density, en, year in conn.execute(query):
            pts = points.get(number, [])
            values = {"atomic_number": number, "symbol": symbol, "name": name, "atomic_weight": weight,
                      "period": period, "group_id": group, "block": block, "series": series.get(series_id),
                      "density": density, "melting_point": _one_transition([p[0] for p in pts]),
                      "boiling_point": _one_transition([p[1] for p in pts]), "electronegativity": en,
                      "discovery_year": year}
            rows.append(tuple(_clean(values[c], t) for c, t, _ in COLUMNS))
    finally:
        conn.close()
    if len(rows) != 118:
        raise ValueError(f"{source_db}: expected 118 elements in table 'elements', found {len(rows)}")
    return rows


def _normalise_header(data: bytes) -> bytes:
    """Fix the header fields that record how often and by which SQLite version the file was written.

    Change counter (offset 24) and version-valid-for (92) set to 1, library version (96) to 0: informational
    only, and without this two machines with different SQLite builds would write different bytes.
    """
    head = bytearray(data)
    struct.pack_into(">I", head, 24, 1)
    struct.pack_into(">I", head, 92, 1)
    struct.pack_into(">I", head, 96, 0)
    return bytes(head)


def write_database(rows: list[tuple], path: Path = DB_PATH) -> Path:
    """Write the one-table database byte-for-byte reproducibly (fixed page size, VACUUM, normalised header)."""
    cols = ", ".join(f"{c} {t}{' PRIMARY KEY' if c == 'atomic_number' else ''}" for c, t, _ in COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "elements.db"
        conn = sqlite3.connect(file)
        try:
            conn.execute("pragma page_size = 4096")
            conn.execute("pragma journal_mode = delete")
            conn.execute(f"create table elements ({cols})")
            conn.executemany(f"insert into elements values ({', '.join('?' * len(COLUMNS))})", rows)
            conn.commit()
            conn.execute("vacuum")
        finally:
            conn.close()
        atomic_write_bytes(path, _normalise_header(file.read_bytes()))
    return path


def build_database(path: Path = DB_PATH) -> Path:
    """Fetch mendeleev's wheel, read its elements.db and write data/domain/elements.db."""
    blob = read_member(fetch(MENDELEEV), SOURCE_MEMBER)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "mendeleev-elements.db"
        source.write_bytes(blob)
        rows = read_source_elements(source)
    return write_database(rows, path)


def load_facts(db_path: Path = DB_PATH) -> list[dict]:
    """Every element of the committed table as a dict, by atomic number."""
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        cur = conn.execute("select * from elements order by atomic_number")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        conn.close()


@dataclass(frozen=True)
class Intent:
    """One (question meaning, gold SQL) pair: the slots every phrasing of a family is filled with."""

    task: str
    slots: tuple[tuple[str, str], ...]
    elements: tuple[int, ...] = ()  # atomic numbers the question names
    columns: tuple[str, ...] = ()  # columns the query reads besides `name`

    @property
    def sql(self) -> str:
        return FAMILIES[self.task][1].format(**dict(self.slots))

    def question(self, phrasing: int) -> str:
        return FAMILIES[self.task][0][phrasing].format(**dict(self.slots))


def _num(v) -> str:
    """A threshold as written in both the question and the SQL (no float noise, no trailing .0)."""
    return f"{v:g}"


def _intent(task: str, elements=(), columns=(), **slots) -> Intent:
    """An intent whose slots are the given keyword arguments plus the wordings of `dir`/`op`/`agg` if present."""
    if "dir" in slots:
        slots.update(most=WORDS["most"][slots["dir"]], most2=WORDS["most2"][slots["dir"]])
    if "sign" in slots:
        slots.update(op=WORDS["op"][slots["sign"]], op2=WORDS["op2"][slots["sign"]])
    if "fn" in slots:
        slots.update(agg=WORDS["agg"][slots["fn"]], agg2=WORDS["agg2"][slots["fn"]])
    if "column" in slots:
        slots["col"] = COLUMN_WORDS[slots["column"]]
    return Intent(task, tuple(sorted((k, str(v)) for k, v in slots.items())), tuple(elements), tuple(columns))


def _category_values(facts: list[dict]) -> list[tuple[str, object]]:
    """(column, value) for every category the table has, in a fixed order."""
    out = []
    for cat in CATEGORIES:
        out += [(cat, v) for v in sorted({f[cat] for f in facts if f[cat] is not None})]
    return out


def _category_slots(cat: str, value) -> dict:
    """How a question says 'in this category' and how the SQL filters on it."""
    words = {"period": f"in period {value}", "group_id": f"in group {value}", "block": f"in the {value} block",
             "series": f"in the {value} series"}[cat]
    cond = f"{cat} = '{value}'" if isinstance(value, str) else f"{cat} = {value}"
    return {"in_cat": words, "cat_cond": cond}


def _optional_categories(facts: list[dict]) -> list[dict]:
    """'No category' followed by every category, as slots for families where the filter is optional."""
    out = [{"in_cat_opt": "", "cat_and": "", "where_cat": "", "cat": None}]
    for cat, value in _category_values(facts):
        s = _category_slots(cat, value)
        out.append({"in_cat_opt": f" {s['in_cat']}", "cat_and": f"{s['cat_cond']} and ",
                    "where_cat": f" where {s['cat_cond']}", "cat": (cat, value)})
    return out


def _element_intents(facts: list[dict]) -> Iterator[Intent]:
    """Lookups of one attribute of one element, by name, symbol or atomic number; comparisons of two elements."""
    for key, task in (("name", "lookup_by_name"), ("symbol", "lookup_by_symbol"),
                      ("atomic_number", "lookup_by_number")):
        for f in facts:
            for column in ATTRIBUTES + tuple(c for c in IDENTIFIERS if c != key):
                if f[column] is not None:
                    yield _intent(task, (f["atomic_number"],), (column,), column=column, name=f["name"],
                                  symbol=f["symbol"], number=f["atomic_number"])
    rng = random.Random(6)
    for f in facts:
        for g in rng.sample(facts, COMPARE_PARTNERS):
            column, direction = rng.choice(NUMERIC), rng.choice(("desc", "asc"))
            if g is f or f[column] is None or g[column] is None or f[column] == g[column]:
                continue
            yield _intent("compare_two", (f["atomic_number"], g["atomic_number"]), (column,), column=column,
                          dir=direction, a=f["name"], b=g["name"])


def _filter_intents(facts: list[dict]) -> Iterator[Intent]:
    """Filters and counts by a threshold, a range, a category, or a category and a threshold."""
    for column in NUMERIC:
        cuts = THRESHOLDS[column]
        for value in cuts:
            for sign in (">", "<"):
                for task in ("filter_threshold", "count_threshold"):
                    yield _intent(task, (), (column,), column=column, sign=sign, value=_num(value))
        for i, lo in enumerate(cuts):
            for hi in cuts[i + 1:i + 3]:
                yield _intent("filter_range", (), (column,), column=column, lo=_num(lo), hi=_num(hi))
    for cat, value in _category_values(facts):
        for task in ("filter_category", "count_category"):
            yield _intent(task, (), (cat,), **_category_slots(cat, value))
        for column in NUMERIC:
            for v in THRESHOLDS[column]:
                for sign in (">", "<"):
                    yield _intent("filter_two", (), (cat, column), column=column, sign=sign, value=_num(v),
                                  **_category_slots(cat, value))


def _untied_top(facts: list[dict], column: str, direction: str, cat, k: int) -> bool:
    """True when the first k values (and the (k+1)-th, if any) are all different, so 'the top k' is well defined."""
    values = [f[column] for f in facts if f[column] is not None and (cat is None or f[cat[0]] == cat[1])]
    values.sort(reverse=direction == "desc")
    head = values[:k + 1]
    return len(values) >= k and len(set(head)) == len(head)


def _ranking_intents(facts: list[dict]) -> Iterator[Intent]:
    """Superlatives, top-k, aggregates (optionally within a category) and per-category aggregates."""
    for opt in _optional_categories(facts):
        slots = {k: v for k, v in opt.items() if k != "cat"}
        cat_cols = (opt["cat"][0],) if opt["cat"] else ()
        for column in NUMERIC:
            for direction in ("desc", "asc"):
                if _untied_top(facts, column, direction, opt["cat"], 1):
                    yield _intent("superlative", (), cat_cols + (column,), column=column, dir=direction, **slots)
                for k in TOP_K:
                    if _untied_top(facts, column, direction, opt["cat"], k):
                        yield _intent("top_k", (), cat_cols + (column,), column=column, dir=direction, k=k,
                                      **slots)
            for fn in AGGREGATES:
                yield _intent("aggregate", (), cat_cols + (column,), column=column, fn=fn, **slots)
    for cat in CATEGORIES:
        yield _intent("group_by", (), (cat,), category=cat, cat_col=COLUMN_WORDS[cat], expr="count(*)",
                      measure="the number of elements")
        for column in NUMERIC:
            for fn in AGGREGATES:
                yield _intent("group_by", (), (cat, column), category=cat, cat_col=COLUMN_WORDS[cat],
                              expr=f"{fn}({column})", measure=f"the {WORDS['agg'][fn]} {COLUMN_WORDS[column]}")


def all_intents(facts: list[dict], db_path: Path = DB_PATH) -> list[Intent]:
    """Every intent whose gold query returns at least one non-NULL value (an empty gold would reward any
    query that returns nothing), each SQL once."""
    seen, out = set(), []
    for intent in (*_element_intents(facts), *_filter_intents(facts), *_ranking_intents(facts)):
        if intent.sql in seen:
            continue
        seen.add(intent.sql)
        result = execute(intent.sql, db_path)
        if not result.ok:
            raise ValueError(f"gold SQL for {intent.task} does not run ({result.error}): {intent.sql}")
        if any(v is not None for row in result.rows for v in row):
            out.append(intent)
    return out


def heldout_elements(facts: list[dict]) -> tuple[int, ...]:
    """Atomic numbers of the elements kept out of train: the first by a hash of their symbol, skipping symbols
    that are English words (a word check could not tell them apart from ordinary text)."""
    ranked = sorted((f for f in facts if len(f["symbol"]) > 1 and f["symbol"] not in WORDLIKE_SYMBOLS),
                    key=lambda f: domain_hash(f"element:{f['symbol']}"))
    return tuple(sorted(f["atomic_number"] for f in ranked[:N_HELDOUT_ELEMENTS]))


def make_row(intent: Intent, phrasing: int, unseen: list[str]) -> dict:
    """A chat row: schema + question from the user, gold SQL from the assistant, plus what the grader needs."""
    question, sql = intent.question(phrasing), intent.sql
    prompt = PROMPT.format(schema=SCHEMA, question=question)
    return {"id": f"{intent.task}:p{phrasing}:{domain_hash(sql)[:12]}", "task": intent.task, "kind": "sql",
            "source_id": f"sql:{domain_hash(sql)[:12]}", "question": question, "phrasing": phrasing,
            "elements": list(intent.elements), "columns": list(intent.columns), "unseen": unseen,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": sql}],
            "answer": sql}


def split_intents(intents: list[Intent], heldout: tuple[int, ...]) -> dict[str, list[dict]]:
    """Assign intents to splits and phrase them (see the module docstring for what each split holds out).

    Test rows are chosen first; train is then sampled from the candidates that share no 13-gram with any test
    row (the SQL of neighbouring intents overlaps, e.g. the same ORDER BY with another LIMIT), so the test
    families stay balanced and the contamination check passes by construction.
    """
    by_task = defaultdict(list)
    for it in intents:
        by_task[it.task].append(it)
    out = {s: [] for s in SPLITS}
    candidates = {}
    for task, group in by_task.items():
        n_phrasings = len(FAMILIES[task][0])
        new_elem = [it for it in group if set(it.elements) & set(heldout)]
        new_col = [it for it in group if it not in new_elem and set(it.columns) & set(HELDOUT_COLUMNS)]
        rest = sorted((it for it in group if it not in new_elem and it not in new_col), key=lambda it: domain_hash(it.sql))
        n_test = min(PHRASING_TEST_PER_TASK, max(1, round(PHRASING_TEST_SHARE * len(rest))))

        def one_phrasing(it: Intent) -> int:
            return int(domain_hash(f"phrasing:{it.sql}"), 16) % (n_phrasings - 1)

        out["test_unseen_phrasings"] += [make_row(it, n_phrasings - 1, ["phrasing"]) for it in rest[:n_test]]
        out["test_unseen_elements"] += hash_sample([make_row(it, one_phrasing(it), ["element"]) for it in new_elem],
                                             UNSEEN_ELEMENT_PER_TASK)
        out["test_unseen_elements"] += hash_sample([make_row(it, one_phrasing(it), ["column"]) for it in new_col],
                                             UNSEEN_COLUMN_PER_TASK)
        candidates[task] = [make_row(it, p, []) for it in rest[n_test:] for p in range(n_phrasings - 1)]
    tests = question_rows(out["test_unseen_phrasings"] + out["test_unseen_elements"])
    for task, rows in candidates.items():
        overlapping = set(contaminated(tests, question_rows(rows), CONTAMINATION_N))
        out["train"] += hash_sample([r for r in rows if r["id"] not in overlapping], TRAIN_PER_TASK)
    return {s: sorted(rows, key=lambda r: (r["task"], r["id"])) for s, rows in out.items()}


def question_rows(rows: list[dict]) -> list[dict]:
    """Rows with the schema line left out of the text, for the contamination check: it is the task's fixed
    instruction, shared by every row on purpose, and longer than 13 words on its own."""
    return [{"id": r["id"], "messages": [{"role": "user", "content": r["question"]}, r["messages"][1]]}
            for r in rows]


def leaks(train: list[dict], test: list[dict]) -> list[str]:
    """Ids of test rows that share a 13-gram (question + SQL) or their gold SQL with a train row."""
    train_sql = {r["answer"] for r in train}
    same_sql = [r["id"] for r in test if r["answer"] in train_sql]
    return sorted(set(same_sql) | set(contaminated(question_rows(train), question_rows(test), CONTAMINATION_N)))


def mentions(rows: list[dict], facts: list[dict], numbers) -> list[str]:
    """Ids of rows that name one of these elements: by atomic number in their metadata, or by name or symbol
    as a word of their text."""
    chosen = [f for f in facts if f["atomic_number"] in set(numbers)]
    names = {f["name"].lower() for f in chosen}
    symbols = {f["symbol"] for f in chosen}
    bad = []
    for r in rows:
        text = " ".join(m["content"] for m in r["messages"])
        tokens = set(re.findall(r"\w+", text))
        if set(r["elements"]) & set(numbers) or names & set(words(text)) or symbols & tokens:
            bad.append(r["id"])
    return bad


def build_domain(db_path: Path = DB_PATH) -> tuple[dict[str, list[dict]], dict]:
    """All three splits from the committed table, decontaminated; and a report of what was held out/removed."""
    facts = load_facts(db_path)
    heldout = heldout_elements(facts)
    splits = split_intents(all_intents(facts, db_path), heldout)
    removed = {}
    for name in SPLITS[1:]:
        bad = set(leaks(splits["train"], splits[name]))
        splits[name] = [r for r in splits[name] if r["id"] not in bad]
        removed[name] = len(bad)
    leaked = mentions(splits["train"], facts, heldout)
    if leaked:
        raise ValueError(f"train rows name a held-out element: {leaked[:5]}")
    report = {"elements": len(facts), "heldout_elements": [f["name"] for f in facts if f["atomic_number"] in heldout],
              "heldout_columns": list(HELDOUT_COLUMNS), "removed_as_contaminated": removed,
              "rows": {s: len(r) for s, r in splits.items()}}
    return splits, report
