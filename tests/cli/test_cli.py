"""The command line: help everywhere, errors that name the fix, settings precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinpipe.cli.main import app
from pinpipe.transform.queries import QUERIES
from tests.helpers import run_pinpipe

COMMANDS = [
    "seed-db", "emulate", "serve", "sink", "batch", "stream", "query", "sql", "up", "demo",
    "console",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_query_before_any_data_names_the_fix(tmp_path: Path) -> None:
    result = run_pinpipe(tmp_path, "query", "top_country")
    assert result.returncode == 2
    assert "run `pinpipe batch`" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_query_lists_the_choices(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    result = run_pinpipe(tmp_path, "query", "nope")
    assert result.returncode == 2 and "category_by_country" in result.stderr


def test_serve_refuses_a_public_address_without_api_keys(tmp_path: Path) -> None:
    result = run_pinpipe(tmp_path, "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "PINPIPE_INGEST__API_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_seed_db_writes_the_three_source_tables(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'src.db'}"
    result = run_pinpipe(tmp_path, "seed-db", "--db", url, "--rows", "120")
    assert result.returncode == 0, result.stderr
    with sa.create_engine(url).connect() as con:
        for table in ("pinterest_data", "geolocation_data", "user_data"):
            assert con.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 120


def test_query_list_prints_every_analytic(tmp_path: Path) -> None:
    result = run_pinpipe(tmp_path, "query", "--list")
    assert result.stdout.split() == list(QUERIES)  # DATA.md's nine, then sentiment


def test_sql_refuses_writes(tmp_path: Path) -> None:
    result = run_pinpipe(tmp_path, "sql", "DROP TABLE pin", "--format", "json")
    assert result.returncode == 2
    assert "read-only" in result.stderr and "Traceback" not in result.stderr


def test_emulate_rows_grows_the_distinct_inds_past_the_reference_data(tmp_path: Path) -> None:
    """``--rows`` sets how many distinct source rows the emulator samples from (11,154 by
    default, the reference data's size), so growth runs bring new inds."""
    import orjson

    from tests.helpers import running_server

    with running_server(tmp_path) as (url, log):
        done = run_pinpipe(
            tmp_path, "emulate", "--url", url, "--mode", "batch", "--rows", "100000",
            "--count", "300", "--seed", "7",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        records = log.fetch("pinpipe.pin", 0, 0, 1000)
    inds = {orjson.loads(r.value)["index"] for r in records}
    assert len(records) == 300
    assert max(inds) >= 11_154, "every ind came from the reference-sized table"
    assert len(inds) > 250, "300 samples of 100,000 rows are nearly all distinct"


def test_realtime_top_and_trending_after_the_stream_job(tmp_path: Path) -> None:
    import json

    from pinpipe.emulator.generator import generate
    from pinpipe.log.embedded import EmbeddedLog
    from pinpipe.settings import load_settings
    from tests.helpers import produce_rows

    with EmbeddedLog(load_settings(home=tmp_path).log_path) as log:
        produce_rows(log, generate(50, seed=4), list(range(50)))
    assert run_pinpipe(tmp_path, "stream", "--once").returncode == 0
    top = run_pinpipe(tmp_path, "realtime", "top", "--minutes", "5", "--limit", "100", "-f", "json")
    assert top.returncode == 0, top.stderr
    assert sum(r["posts"] for r in json.loads(top.stdout)) == 50  # every pin, this minute
    by_topic = run_pinpipe(tmp_path, "realtime", "top", "--by", "topic", "-f", "json")
    assert {r["topic"]: r["records"] for r in json.loads(by_topic.stdout)} == {
        "pinpipe.pin": 50, "pinpipe.geo": 50, "pinpipe.user": 50
    }  # fmt: skip
    trending = run_pinpipe(tmp_path, "realtime", "trending")
    assert trending.returncode == 0 and "score" in trending.stdout, trending.stderr
    wrong = run_pinpipe(tmp_path, "realtime", "top", "--minutes", "7")
    assert wrong.returncode == 2 and "choose 5, 15 or 60" in wrong.stderr
