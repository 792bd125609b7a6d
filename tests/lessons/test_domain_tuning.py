"""Notebook 06's text-to-SQL data and grader: the committed table, the splits, and safe execution."""
import shutil
import sqlite3
import threading
import time

import pytest

from ftlab.build import sql_domain as domain, manifest
from ftlab.core.contamination import contaminated
from ftlab.core.data import validate_rows
from ftlab.core.sql import DB_PATH, SPLITS, execute, execution_accuracy, execution_match
from ftlab.lessons import domain_tuning
from ftlab.core import sql as sql_box


@pytest.fixture(scope="module")
def splits():
    return {s: sql_box.load_domain(s) for s in SPLITS}


@pytest.fixture(scope="module")
def facts():
    return domain.load_facts()


@pytest.fixture
def db_copy(tmp_path):
    """A private copy of the committed database, so a failing safety test cannot damage the real one."""
    path = tmp_path / "elements.db"
    shutil.copy(DB_PATH, path)
    return path


# ---- the committed table ----

def test_committed_table_is_one_small_table_with_the_schema_every_prompt_shows(splits):
    conn = sqlite3.connect(f"{DB_PATH.resolve().as_uri()}?mode=ro", uri=True)
    tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
    columns = [r[1] for r in conn.execute("pragma table_info(elements)")]
    count = conn.execute("select count(*) from elements").fetchone()[0]
    conn.close()
    assert tables == ["elements"]
    assert columns == [c for c, _, _ in domain.COLUMNS]
    assert count == 118 and DB_PATH.stat().st_size < 64 * 1024
    for name, rows in splits.items():
        for r in rows:
            assert r["messages"][0]["content"].startswith(f"Table {domain.SCHEMA}\n"), f"{name}: {r['id']}"


def test_columns_are_mostly_filled(facts):
    for column, _, _ in domain.COLUMNS:
        filled = sum(f[column] is not None for f in facts)
        assert filled >= 80, f"{column}: only {filled} of 118 elements have a value"


def test_database_writer_is_byte_reproducible(tmp_path, facts):
    rows = [tuple(f[c] for c, _, _ in domain.COLUMNS) for f in facts]
    a = domain.write_database(rows, tmp_path / "a.db")
    b = domain.write_database(rows, tmp_path / "b.db")
    assert manifest.sha256_of(a) == manifest.sha256_of(b) == manifest.sha256_of(DB_PATH)


def test_one_transition_follows_mendeleevs_rule():
    assert domain._one_transition([10.0]) == 10.0
    assert domain._one_transition([100.0, 100.5]) == 100.0  # two allotropes within 1%: the first
    assert domain._one_transition([317.3, 852.35]) is None  # white vs red phosphorus: ambiguous
    assert domain._one_transition([]) is None


# ---- the dataset ----

def test_rebuilding_from_the_committed_table_gives_the_committed_rows(splits):
    rebuilt, report = domain.build_domain(DB_PATH)
    assert report["removed_as_contaminated"] == {s: 0 for s in SPLITS[1:]}
    for name in SPLITS:
        assert rebuilt[name] == splits[name], f"data/domain/{name}.jsonl.gz differs from a rebuild"


def test_split_sizes_and_families(splits):
    assert 2500 <= len(splits["train"]) <= 5000
    for name in SPLITS[1:]:
        assert 200 <= len(splits[name]) <= 300, f"{name}: {len(splits[name])} rows"
    families = set(domain.FAMILIES)
    assert {r["task"] for r in splits["train"]} == families
    assert {r["task"] for r in splits["test_unseen_phrasings"]} == families
    assert {r["task"] for r in splits["test_unseen_elements"]} >= set(domain.ELEMENT_TASKS)


def test_every_gold_query_runs_and_returns_a_value(splits):
    for name, rows in splits.items():
        for r in rows:
            result = execute(r["answer"])
            assert result.ok, f"{name}: {r['id']}: {result.error}"
            assert any(v is not None for row in result.rows for v in row), f"{name}: {r['id']}: empty result"
            assert r["messages"][-1]["content"] == r["answer"]


def test_rows_are_valid_chat_rows_within_the_tiny_models_length_budget(splits):
    from ftlab.core import models
    _, tok = models.load("tiny")
    for name, rows in splits.items():
        validate_rows(rows, f"data/domain/{name}.jsonl.gz", tokenizer=tok, max_tokens=domain.TOKEN_BUDGET)


def test_test_splits_share_no_13gram_and_no_gold_sql_with_train(splits):
    for name in SPLITS[1:]:
        assert domain.leaks(splits["train"], splits[name]) == [], name
        assert not {r["answer"] for r in splits[name]} & {r["answer"] for r in splits["train"]}


def test_leak_check_catches_a_copied_row(splits):
    copied = dict(splits["train"][0], id="copied")
    assert domain.leaks(splits["train"], splits["test_unseen_phrasings"] + [copied]) == ["copied"]
    # and the shared schema line is why the check looks at question + SQL: on whole prompts everything overlaps
    assert len(contaminated(splits["train"], splits["test_unseen_elements"][:20])) == 20


def test_heldout_elements_never_appear_in_train(splits, facts):
    heldout = domain.heldout_elements(facts)
    unseen = [r for r in splits["test_unseen_elements"] if r["unseen"] == ["element"]]
    assert len(unseen) >= 150
    assert {n for r in unseen for n in r["elements"]} & set(heldout) == set(heldout)
    assert all(set(r["elements"]) & set(heldout) for r in unseen)
    assert domain.mentions(splits["train"], facts, heldout) == []
    assert domain.mentions(splits["test_unseen_phrasings"], facts, heldout) == []
    assert len(domain.mentions(unseen, facts, heldout)) == len(unseen)  # the check does see them


def test_heldout_column_is_never_queried_in_train(splits):
    for column in domain.HELDOUT_COLUMNS:
        assert not any(column in r["answer"] or column in r["columns"] for r in splits["train"])
        asked = [r for r in splits["test_unseen_elements"] if r["unseen"] == ["column"]]
        assert len(asked) >= 50 and all(column in r["answer"] for r in asked)


def test_unseen_phrasings_are_phrasings_train_never_uses(splits):
    last = {task: len(p) - 1 for task, (p, _) in domain.FAMILIES.items()}
    assert all(r["phrasing"] < last[r["task"]] for r in splits["train"] + splits["test_unseen_elements"])
    assert all(r["phrasing"] == last[r["task"]] for r in splits["test_unseen_phrasings"])
    train_questions = {r["question"] for r in splits["train"]}
    assert not train_questions & {r["question"] for r in splits["test_unseen_phrasings"]}


def test_domain_files_are_in_the_manifest_with_their_source():
    entries = {e["path"]: e for e in manifest.load_manifest()}
    for path in ["domain/elements.db"] + [f"domain/{s}.jsonl.gz" for s in SPLITS]:
        assert entries[path]["sources"] == [domain.MENDELEEV.pin], path
        assert "MIT" in entries[path]["licence"]
    assert entries["domain/elements.db"]["rows"] == 118


# ---- grading ----

def test_grader_accepts_equivalent_rewrites():
    pairs = [
        ("SELECT  density AS d\nFROM elements WHERE symbol='Fe';", "select density from elements where name = 'Iron'"),
        ("select name from elements where period = 1 order by atomic_number desc",
         "select name from elements where period = 1"),
        ("select sum(density) / count(density) from elements where period = 4",
         "select avg(density) from elements where period = 4"),
        ("select count(name) from elements where group_id = 18", "select count(*) from elements where group_id = 18"),
        ("-- the densest\nselect e.name from elements e order by e.density desc limit 1",
         "select name from elements where density is not null order by density desc limit 1"),
    ]
    for pred, gold in pairs:
        assert execution_match(pred, gold), pred


def test_grader_rejects_wrong_queries():
    gold = "select name from elements where period = 2 and density is not null order by density desc limit 3"
    wrong = [
        "select name from elements where period = 2 and density is not null order by density asc limit 3",
        "select name from elements where period = 3 and density is not null order by density desc limit 3",
        "select name, density from elements where period = 2 order by density desc limit 3",
        "select name from elements where period = 2 order by density desc limit 2",
        "select name from (select name, density from elements where period = 2 order by density desc limit 3) "
        "order by name",  # right rows, wrong order, and the gold has ORDER BY
        "select nam from elements", "selec name from elements", "", "drop table elements",
    ]
    for pred in wrong:
        assert not execution_match(pred, gold), pred


def test_grader_does_not_accept_a_truncated_result_nor_a_gold_that_does_not_run():
    huge = "with recursive c(x) as (select 1 union all select x + 1 from c limit 5000) select x from c"
    assert not sql_box.same_result(execute(huge), execute(huge), ordered=True)
    with pytest.raises(ValueError, match="gold SQL does not run"):
        execution_match("select 1", "select nothing from nowhere")


@pytest.mark.parametrize("sql", [
    "DROP TABLE elements",
    "DELETE FROM elements",
    "UPDATE elements SET name = 'x'",
    "INSERT INTO elements (atomic_number) VALUES (999)",
    "ATTACH DATABASE 'evil.db' AS evil",
    "PRAGMA writable_schema = ON",
    "select 1; DROP TABLE elements",
    "select 1; select 2",
    "with x as (select 1) delete from elements",
    "CREATE TABLE t (x)",
    "VACUUM",
    "select load_extension('x')",
    "select randomblob(1000000000)",
])
def test_writes_and_escapes_are_refused_and_the_database_is_unchanged(sql, db_copy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = manifest.sha256_of(db_copy)
    result = execute(sql, db_copy)
    assert not result.ok and result.error, sql
    assert manifest.sha256_of(db_copy) == before
    assert not (tmp_path / "evil.db").exists()
    assert execute("select count(*) from elements", db_copy).rows == ((118,),)


@pytest.mark.parametrize("sql", ["drop table elements", "delete from elements", "pragma writable_schema = on",
                                 "attach database ':memory:' as m"])
def test_the_authorizer_refuses_writes_even_past_the_statement_check(sql, db_copy):
    conn = sql_box._connect(db_copy, [time.monotonic() + 5])
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(sql)
    finally:
        conn.close()


def test_endless_recursive_query_is_stopped_by_the_time_limit():
    """The query never ends on its own, so any result at all means the limit stopped it; how soon depends on the
    machine and its load, so the only clock here is a generous bound that turns a broken limit into a failure."""
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
    box = {}

    def run():
        box["result"] = execute(sql, timeout_s=0.3)

    worker = threading.Thread(target=run, daemon=True)  # a broken limit fails the test instead of hanging it
    worker.start()
    worker.join(timeout=120)
    assert "result" in box, "the query was still running after 120 s"
    assert box["result"].error == "stopped after the time limit of 0.3 s"


def test_rows_returned_are_capped():
    result = execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c", max_rows=50)
    assert result.ok and len(result.rows) == 50 and result.truncated


@pytest.mark.parametrize("pred", [None, 42, "", "   ;", "SELECT", "select 'unterminated", "select 1\x00",
                                  "ß∂ƒ", "x" * 10_000, "/* only a comment */"])
def test_execute_never_raises_on_bad_model_output(pred):
    result = execute(pred)
    assert not result.ok and result.error


def test_a_missing_database_is_an_error_not_a_wrong_answer(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such database"):
        execute("select 1", tmp_path / "missing.db")


def test_execution_accuracy_overall_and_per_task(splits):
    rows = splits["test_unseen_phrasings"]
    gold = [r["answer"] for r in rows]
    perfect = execution_accuracy(gold, rows)
    assert perfect["overall"] == 1.0 and perfect["n"] == len(rows) and perfect["invalid_sql"] == 0.0
    assert set(perfect["per_task"]) == set(domain.FAMILIES)
    half = [g if r["task"].startswith("lookup") else "select" for g, r in zip(gold, rows)]
    score = execution_accuracy(half, rows)
    assert score["per_task"]["lookup_by_name"] == 1.0 and score["per_task"]["aggregate"] == 0.0
    lookups = sum(r["task"].startswith("lookup") for r in rows)
    assert score["overall"] == pytest.approx(lookups / len(rows))
    assert score["invalid_sql"] == pytest.approx(1 - lookups / len(rows))
    with pytest.raises(ValueError, match="one prediction per row"):
        execution_accuracy(gold[:-1], rows)


# ---- asking a model: prompts, SQL extraction, scoring ----

@pytest.mark.parametrize("answer, sql", [
    ("select name from elements", "select name from elements"),
    ("```sql\nSELECT name\nFROM elements WHERE period = 1;\n```\nThis lists them.",
     "SELECT name FROM elements WHERE period = 1"),
    ("Sure! Here is the query:\n\nSELECT density FROM elements WHERE name = 'Iron';\nIt returns the density.",
     "SELECT density FROM elements WHERE name = 'Iron'"),
    ("The element with the highest density is osmium.\n\nselect name from elements order by density desc limit 1\n\n"
     "select 2", "select name from elements order by density desc limit 1"),
    ("```\nThe answer is 42\n```\nselect 42", "select 42"),  # a fence without SQL is not the query
    ("WITH t AS (SELECT name FROM elements) SELECT * FROM t", "WITH t AS (SELECT name FROM elements) SELECT * FROM t"),
    ("Iron is the element with symbol Fe.", ""),
    ("", ""),
    (None, ""),
])
def test_extract_sql_takes_the_first_query_out_of_a_chatty_answer(answer, sql):
    assert domain_tuning.extract_sql(answer) == sql


def test_extracted_sql_of_a_chatty_answer_is_graded_right(splits):
    row = splits["test_unseen_phrasings"][0]
    chatty = f"Here you go:\n```sql\n{row['answer'].upper()};\n```\nHope it helps!"
    assert not execution_match(chatty, row["answer"])
    assert execution_match(domain_tuning.extract_sql(chatty), row["answer"])


def test_shots_come_from_different_families_and_are_deterministic(splits):
    k = len(domain.FAMILIES)
    picked = domain_tuning.shots(splits["train"], k)
    assert len(picked) == k and len({r["task"] for r in picked}) == k
    assert [r["id"] for r in picked] == [r["id"] for r in domain_tuning.shots(splits["train"], k)]
    assert len(domain_tuning.shots(splits["train"], k + 2)) == k + 2  # then a second example per family
    assert domain_tuning.shots(splits["train"][:3], 10) == domain_tuning.shots(splits["train"][:3], 3)


def test_few_shot_prompt_puts_examples_before_the_question_and_keeps_the_gold_last(splits):
    row, examples = splits["test_unseen_elements"][0], domain_tuning.shots(splits["train"], 2)
    built = domain_tuning.with_prompt(row, examples, domain_tuning.INSTRUCTION)
    roles = [m["role"] for m in built["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert built["messages"][2]["content"] == examples[0]["answer"]
    assert built["messages"][-2:] == row["messages"] and built["answer"] == row["answer"]
    assert domain_tuning.with_prompt(row)["messages"] == row["messages"]
    assert row["messages"][0]["role"] == "user"  # the original row is not modified
    validate_rows([built], "few-shot")


def test_sample_is_fixed_mixed_and_a_subset(splits):
    rows = splits["test_unseen_phrasings"]
    a, b = domain_tuning.sample(rows, 40), domain_tuning.sample(list(reversed(rows)), 40)
    assert [r["id"] for r in a] == [r["id"] for r in b] and len(a) == 40
    assert len({r["task"] for r in a}) >= 8
    assert {r["id"] for r in a} <= {r["id"] for r in rows}
    assert domain_tuning.sample(rows, None) == rows


def test_accuracy_on_a_sample_of_stored_outcomes(splits):
    rows = splits["test_unseen_phrasings"]
    preds = [r["answer"] if i % 2 == 0 else "select 0" for i, r in enumerate(rows)]
    outcomes = sql_box.grade(preds, rows)
    assert sql_box.summarise(outcomes) == execution_accuracy(preds, rows)
    evens = rows[::2]
    assert domain_tuning.accuracy_on(outcomes, evens)["overall"] == 1.0
    assert domain_tuning.accuracy_on(outcomes, rows[1::2])["overall"] == 0.0
    with pytest.raises(KeyError, match="no stored outcome"):
        domain_tuning.accuracy_on(outcomes[:-1], rows)


def test_score_sql_extracts_and_grades_generated_answers(splits, monkeypatch):
    # canned answers instead of a model, so the scoring path is tested in milliseconds
    rows = splits["test_unseen_phrasings"][:4]
    canned = [f"```sql\n{rows[0]['answer']}\n```", rows[1]["answer"] + "; -- done", "I do not know.", "select 0"]
    monkeypatch.setattr(domain_tuning, "generate_answers", lambda model, tok, rs, *a, **k: canned[:len(rs)])
    result = domain_tuning.score_sql(object(), None, rows)
    assert [o["correct"] for o in result["outcomes"]] == [True, True, False, False]
    assert [o["ran"] for o in result["outcomes"]] == [True, True, False, True]
    assert result["scores"]["overall"] == 0.5 and result["answers"] == canned
    assert result["sql"][2] == "" and result["seconds_per_question"] >= 0


def test_accuracy_by_unseen_separates_new_elements_from_the_new_column(splits):
    rows = splits["test_unseen_elements"]
    preds = [r["answer"] if r["unseen"] == ["column"] else "select 0" for r in rows]
    by_kind = domain_tuning.accuracy_by_unseen(sql_box.grade(preds, rows), rows)
    assert by_kind["column"]["overall"] == 1.0 and by_kind["element"]["overall"] == 0.0
    assert by_kind["column"]["n"] + by_kind["element"]["n"] == len(rows)
    with pytest.raises(ValueError, match="same order"):
        domain_tuning.accuracy_by_unseen(sql_box.grade(preds, rows), list(reversed(rows)))
