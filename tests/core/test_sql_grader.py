"""Notebook 06's SQL grader and sandbox, against hand-worked values: how close two numbers must be, what order and
duplicates mean, which statements and functions are refused, the limits, and how accuracy is summed up."""
import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftlab.core.sql import check_statement, execute, execution_match, grade, is_ordered, same_result, summarise
from ftlab.lessons.domain_tuning import extract_sql
from ftlab.core import sql as sql_box

FE = "select density from elements where symbol = 'Fe'"  # 7.87 in the committed table


# ---- comparing results: 6 significant digits, order only when the gold has ORDER BY, duplicates count ----

@pytest.mark.parametrize("pred, matches", [
    ("select density * (1 + 1e-9) from elements where symbol = 'Fe'", True),  # float noise: same to 6 digits
    ("select density * 1.00001 from elements where symbol = 'Fe'", False),  # 7.87008: differs in the 6th digit
    ("select density * 1.004 from elements where symbol = 'Fe'", False),  # 7.90148
    ("select density + 0.01 from elements where symbol = 'Fe'", False),  # 7.88
    ("select 7.87", True),  # a literal of the same value
    ("select 787 / 100.0", True),
])
def test_numbers_match_to_six_significant_digits(pred, matches):
    assert execution_match(pred, FE) is matches


@pytest.mark.parametrize("a, b, equal", [
    (0.1 + 0.2, 0.3, True),
    (1.000001, 1.0, True),  # 7th digit
    (1.00001, 1.0, False),  # 6th digit
    (1234567, 1234570.0, True),  # ints too: 1.23457e6
    (1234567, 1234500, False),
    (3, 3.0, True), (True, 1, True), (0, 0.0, True),
    ("3", 3, False), ("Fe", "fe", False), (None, 0, False), (None, None, True),
])
def test_normalised_values(a, b, equal):
    assert (sql_box._normalise(a) == sql_box._normalise(b)) is equal


def _result(*rows):
    return sql_box.QueryResult(rows=tuple(rows), columns=("x",))


def test_order_counts_only_when_asked_and_duplicates_always_count():
    ab, ba = _result((1,), (2,)), _result((2,), (1,))
    assert same_result(ba, ab, ordered=False) and not same_result(ba, ab, ordered=True)
    assert same_result(ab, ab, ordered=True)
    assert not same_result(_result((1,), (1,), (2,)), ab, ordered=False)  # a multiset, not a set
    assert not same_result(_result((1,)), ab, ordered=False)
    assert same_result(sql_box.QueryResult(rows=((1,),), columns=("other_name",)), _result((1,)), ordered=True)
    failed = sql_box.QueryResult(error="boom")
    assert not same_result(failed, failed, ordered=False)  # two errors are not the same answer
    assert not same_result(failed, _result(), ordered=False) and not same_result(_result(), failed, ordered=False)
    cut = sql_box.QueryResult(rows=((1,),), truncated=True)
    assert not same_result(cut, _result((1,)), ordered=False)


@pytest.mark.parametrize("sql, ordered", [
    ("select name from elements order by density", True),
    ("SELECT name FROM elements ORDER\n  BY density DESC", True),
    ("select name from elements", False),
    ("select border_by from t", False),
    ("select name as xorder from elements", False),
    ("select orderby from t", False),
])
def test_is_ordered(sql, ordered):
    assert is_ordered(sql) is ordered


def test_gold_row_order_matters_only_with_its_order_by():
    gold_ordered = "select name from elements where period = 1 order by atomic_number"
    gold_unordered = "select name from elements where period = 1"
    reversed_ = "select name from elements where period = 1 order by atomic_number desc"
    assert not execution_match(reversed_, gold_ordered) and execution_match(reversed_, gold_unordered)


# ---- the sandbox: one SELECT, read-only, no dangerous functions, bounded ----

@pytest.mark.parametrize("sql, problem", [
    (None, "expected the SQL as a string, got NoneType"),
    (b"select 1", "expected the SQL as a string, got bytes"),
    ("", "empty query"), (" ;\n ", "empty query"),
    ("x" * 2001, "query is 2001 characters, over the limit of 2000"),
    ("select '\x00'", "query contains a NUL character"),
    ("explain select 1", "this one starts with 'explain'"),
    ("/* hi */ drop table elements", "this one starts with 'drop'"),
    ("-- c\n pragma x", "this one starts with 'pragma'"),
    ("(select 1)", "this one starts with ''"),
])
def test_statements_refused_before_they_reach_sqlite(sql, problem):
    assert problem in check_statement(sql)


@pytest.mark.parametrize("sql, problem", [
    ("", "empty query"), (";;", "empty query"),
    ("select '\x00'", "query contains a NUL character"),
    (";select 1", "only a single SELECT (or WITH … SELECT) statement is allowed; this one starts with ''"),
    # the length is counted without trailing semicolons, whatever the last character before them
    ("select 1 as " + "X" * 1989, "query is 2001 characters, over the limit of 2000"),
])
def test_refusals_in_full(sql, problem):
    assert check_statement(sql) == problem
    assert check_statement("select 1 as " + "X" * 1988 + ";;") is None  # 2000 characters and two semicolons


@pytest.mark.parametrize("sql", [
    "select 1", " SELECT 1 ;", "with t as (select 1) select * from t", "-- the answer\nselect 1",
    "/* a\nb */ select 1", "select '" + "x" * (2000 - len("select ''")) + "'",  # exactly 2000 characters
])
def test_statements_allowed(sql):
    assert check_statement(sql) is None
    assert execute(sql).ok


@pytest.mark.parametrize("function", ["load_extension", "fts3_tokenizer", "LOAD_Extension", "Fts3_Tokenizer"])
def test_denied_functions_are_refused_by_name_whatever_the_case(function):
    result = execute(f"select {function}('simple')")
    assert not result.ok and f"not authorized to use function: {function}" in result.error
    # fts3_tokenizer('simple') would otherwise return a pointer into the process's memory


@pytest.mark.parametrize("function", ["readfile", "writefile", "edit"])
def test_denied_functions_are_refused_even_where_sqlite_has_them(function, monkeypatch, tmp_path):
    """The sqlite3 shell's file functions, registered on the connection as another SQLite build could have them."""
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    connect = sql_box._connect

    def with_file_functions(db_path, deadline):
        conn = connect(db_path, deadline)
        conn.create_function(function, -1, lambda *args: secret.read_text())
        return conn

    monkeypatch.setattr(sql_box, "_connect", with_file_functions)
    assert execute("select abs(-2)").rows == ((2,),)  # the wrapper itself works
    result = execute(f"select {function}('{secret}')")
    assert not result.ok and "not authorized" in result.error


def test_the_authorizer_decision_table():
    ok, deny = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY
    allowed = [(sqlite3.SQLITE_SELECT, None, None), (sqlite3.SQLITE_READ, "elements", "name"),
               (sqlite3.SQLITE_FUNCTION, None, "abs"), (sqlite3.SQLITE_FUNCTION, None, None),
               (sqlite3.SQLITE_RECURSIVE, None, None)]
    denied = [(sqlite3.SQLITE_FUNCTION, None, "load_extension"), (sqlite3.SQLITE_FUNCTION, None, "READFILE"),
              (sqlite3.SQLITE_INSERT, "elements", None), (sqlite3.SQLITE_UPDATE, "elements", "name"),
              (sqlite3.SQLITE_DELETE, "elements", None), (sqlite3.SQLITE_PRAGMA, "query_only", None),
              (sqlite3.SQLITE_ATTACH, "x.db", None), (sqlite3.SQLITE_CREATE_TABLE, "t", None),
              (sqlite3.SQLITE_TRANSACTION, "BEGIN", None)]
    for action, a1, a2 in allowed:
        assert sql_box._authorize(action, a1, a2, "main", None) == ok, (action, a2)
    for action, a1, a2 in denied:
        assert sql_box._authorize(action, a1, a2, "main", None) == deny, (action, a1, a2)


def test_connection_limits(tmp_path):
    conn = sql_box._connect(sql_box.DB_PATH, [float("inf")])
    try:
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED) == 0
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == 1_000_000
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH) == 2016
    finally:
        conn.close()
    assert execute("select length(zeroblob(1000000))").rows == ((1_000_000,),)  # the largest value allowed
    too_big = execute("select length(zeroblob(1000001))")
    assert not too_big.ok and "too big" in too_big.error


def test_the_connection_is_read_only_even_for_a_statement_past_the_checks(tmp_path):
    import shutil
    db = tmp_path / "e.db"
    shutil.copy(sql_box.DB_PATH, db)
    conn = sql_box._connect(db, [float("inf")])
    conn.set_authorizer(None)  # even with the authorizer gone, mode=ro and query_only refuse writes
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            conn.execute("delete from elements")
    finally:
        conn.close()


def test_a_past_deadline_stops_a_long_query_and_a_short_one_still_runs():
    # no clock involved: the progress handler is asked every 1,000 SQLite steps; `select 1` takes fewer
    assert execute("select 1", timeout_s=0).rows == ((1,),)
    endless = execute("with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c",
                      timeout_s=0)
    assert endless.error == "stopped after the time limit of 0 s"
    stopped = execute("with recursive c(x) as (select 1 union all select x + 1 from c) select max(x) from c",
                      timeout_s=0.25)
    assert stopped.error == "stopped after the time limit of 0.25 s"


def test_rows_up_to_the_cap_are_not_truncated():
    three = "select x from (select 1 as x union all select 2 union all select 3)"
    assert execute(three, max_rows=3) == sql_box.QueryResult(rows=((1,), (2,), (3,)), columns=("x",))
    capped = execute(three, max_rows=2)
    assert capped.rows == ((1,), (2,)) and capped.truncated
    both = execute("select name, symbol from elements where atomic_number <= 2 order by atomic_number;")
    assert both.rows == (("Hydrogen", "H"), ("Helium", "He")) and both.columns == ("name", "symbol")


def test_trailing_semicolons_are_dropped_before_sqlite_sees_the_query():
    assert execute("select 1;;").rows == ((1,),)  # sqlite3 itself refuses 'select 1;;' as two statements
    assert execute("select 1 as X;;").columns == ("X",)  # only semicolons go, not the X before them


def test_two_statements_and_broken_sql_are_errors_named_by_their_kind():
    assert execute("select 1; select 2").error.startswith("ProgrammingError: ")
    assert execute("select name from nowhere").error == "OperationalError: no such table: nowhere"


# ---- grading a list of predictions ----

def test_grade_and_summarise_hand_worked():
    rows = [{"id": "r1", "task": "a", "answer": FE},
            {"id": "r2", "task": "a", "answer": "select count(*) from elements"},
            {"id": "r3", "task": "b", "answer": "select name from elements where atomic_number = 1"}]
    preds = ["select 7.87", "selct nothing", "select 'Helium'"]
    outcomes = grade(preds, rows)
    assert outcomes == [{"id": "r1", "task": "a", "ran": True, "correct": True},
                        {"id": "r2", "task": "a", "ran": False, "correct": False},
                        {"id": "r3", "task": "b", "ran": True, "correct": False}]
    assert summarise(outcomes) == {"overall": pytest.approx(1 / 3), "n": 3, "invalid_sql": pytest.approx(1 / 3),
                                   "per_task": {"a": 0.5, "b": 0.0}}
    assert sql_box.execution_accuracy(preds, rows) == summarise(outcomes)
    assert summarise([]) == {"overall": 0.0, "n": 0, "invalid_sql": 0.0, "per_task": {}}


def test_grade_refuses_a_gold_that_does_not_run_naming_the_row():
    with pytest.raises(ValueError, match=r"row r9: gold SQL does not run \(OperationalError: no such column"):
        grade(["select 1"], [{"id": "r9", "task": "a", "answer": "select nope from elements"}])
    with pytest.raises(ValueError, match="2 predictions for 1 rows"):
        grade(["select 1", "select 2"], [{"id": "r1", "task": "a", "answer": "select 1"}])


def test_grade_compares_in_order_only_when_the_gold_has_order_by():
    gold = "select name from elements where period = 1 order by atomic_number"
    reversed_ = "select name from elements where period = 1 order by atomic_number desc"
    rows = [{"id": "o", "task": "a", "answer": gold}, {"id": "u", "task": "a", "answer": gold.split(" order")[0]}]
    assert [o["correct"] for o in grade([reversed_, reversed_], rows)] == [False, True]


COUNT_5000 = "with recursive c(x) as (select 1 union all select x + 1 from c limit 5000) select count(*) from c"


def test_the_time_limit_reaches_the_prediction_too():
    """5,000 rows take more than 1,000 SQLite steps (when the clock is checked) and a few milliseconds: stopped
    by a limit of 0 s, done well within the default 1 s."""
    rows = [{"id": "r", "task": "a", "answer": "select 5000"}]
    assert grade([COUNT_5000], rows)[0]["correct"] is True
    assert grade([COUNT_5000], rows, timeout_s=0)[0] == {"id": "r", "task": "a", "ran": False, "correct": False}
    assert sql_box.execution_accuracy([COUNT_5000], rows, timeout_s=0)["invalid_sql"] == 1.0
    assert execution_match(COUNT_5000, "select 5000") and not execution_match(COUNT_5000, "select 5000", timeout_s=0)


def test_grade_passes_the_time_limit_on():
    slow = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    with pytest.raises(ValueError, match="stopped after the time limit of 0 s"):
        grade(["select 1"], [{"id": "r", "task": "a", "answer": slow}], timeout_s=0)
    with pytest.raises(ValueError, match="stopped after the time limit of 0 s"):
        execution_match("select 1", slow, timeout_s=0)
    assert sql_box.execution_accuracy([slow], [{"id": "r", "task": "a", "answer": "select 1"}],
                                     timeout_s=0)["invalid_sql"] == 1.0


# ---- extracting the SQL from a chatty answer ----

def test_a_fenced_query_wins_over_one_before_the_fence():
    assert extract_sql("select 1\n```sql\nselect 2\n```") == "select 2"
    assert extract_sql("Use:\n```SQL\nWITH t AS (SELECT 1) SELECT * FROM t;\n```") == \
        "WITH t AS (SELECT 1) SELECT * FROM t"
    assert extract_sql("```sql\nselect 3") == "select 3"  # an unclosed fence (generation cut off)
    assert extract_sql("It selects nothing: reselect") == ""  # a word containing 'select' is not a query
    assert extract_sql("The selection.\nselect  a,\n   b from t") == "select a, b from t"
    assert extract_sql(42) == ""


PIECES = ["select", "SELECT", "with t as (", "name", "from elements", ";", "\n", "\n\n", "```", "```sql\n", "Sure",
          " ", "  ", "-- c", "select 1"]


@given(st.lists(st.sampled_from(PIECES), max_size=12))
@settings(max_examples=300, deadline=None)
def test_extracted_sql_is_one_clean_statement_or_nothing(parts):
    sql = extract_sql("".join(parts))
    assert sql == "" or re.match(r"(?i)(select|with)\b", sql)
    assert ";" not in sql and "```" not in sql and "\n" not in sql and "  " not in sql and sql == sql.strip()
    assert extract_sql(sql) == sql
