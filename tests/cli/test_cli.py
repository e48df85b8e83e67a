"""The command line: help everywhere, errors that name the fix, settings precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinpipe.cli.main import app
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


def test_query_list_prints_the_nine_names(tmp_path: Path) -> None:
    result = run_pinpipe(tmp_path, "query", "--list")
    assert len(result.stdout.split()) == 9


def test_sql_refuses_writes(tmp_path: Path) -> None:
    result = run_pinpipe(tmp_path, "sql", "DROP TABLE pin", "--format", "json")
    assert result.returncode == 2
    assert "read-only" in result.stderr and "Traceback" not in result.stderr
