"""The read-only guard: one SELECT over named views, judged on the parsed query, per dialect."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from pinpipe.engines import check_read_only, interactive_engine
from pinpipe.errors import ConfigError

ALLOWED = [
    "SELECT count(*) FROM pin",
    "select p.category, count(*) from pin p join geo g on p.ind = g.ind group by 1",
    "WITH t AS (SELECT ind FROM user) SELECT * FROM t UNION ALL SELECT ind FROM pin",
    "(SELECT 1)",
    "SELECT * FROM \"quarantine\" WHERE reason LIKE '%drop table%' -- insert\n;",
]

REFUSED = {
    "": "empty",
    "   ;  ": "empty",
    "SELECT 1; SELECT 2": "one SQL statement",
    "DELETE FROM pin": "read-only",
    "WITH t AS (SELECT 1) INSERT INTO pin SELECT * FROM t": "read-only",
    "SELECT * FROM read_parquet('/etc/x.parquet')": "READ_PARQUET",
    "SELECT * FROM glob('/etc/*')": "GLOB",
    "SELECT getenv('HOME')": "GETENV",
    "SELECT * FROM '/etc/passwd'": "not permitted",
    "SELECT * FROM other_db.main.pin": "not permitted",
    "SELECT * FROM pin.csv": "not permitted",
    "SELEC 1": "does not parse",
}


@pytest.mark.parametrize("query", ALLOWED)
@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_read_only_queries_pass_unchanged_but_for_the_trailing_semicolon(
    query: str, dialect: str
) -> None:
    assert check_read_only(query, dialect=dialect) == query.strip().rstrip(";").rstrip()


@pytest.mark.parametrize(("query", "why"), REFUSED.items())
def test_everything_else_is_refused_with_the_reason(query: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        check_read_only(query, dialect="duckdb")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT java_method('java.lang.System', 'exit', 0)",
        "SELECT * FROM parquet.`/etc`",
        "SELECT input_file_name() FROM pin",
    ],
)
def test_spark_sql_that_reaches_the_jvm_or_files_is_refused(query: str) -> None:
    with pytest.raises(ConfigError, match="not permitted"):
        check_read_only(query, dialect="spark")


def test_the_interactive_engine_cannot_touch_files_even_past_the_guard() -> None:
    engine = interactive_engine()
    try:
        views = {"t": engine.table(pa.table({"x": [1, 2]}))}
        assert engine.sql("SELECT sum(x) AS s FROM t", views).to_pylist() == [{"s": 3}]
        raw = engine.backend.con  # type: ignore[attr-defined]
        with pytest.raises(duckdb.PermissionException):
            raw.sql("SELECT * FROM read_text('/etc/hostname')").fetchall()
    finally:
        engine.close()
