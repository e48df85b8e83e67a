"""seed_db/read_db round-trip the source tables and fail with errors that name the fix."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.emulator.source_db import read_db, seed_db
from pinpipe.errors import ConfigError, DependencyError


@pytest.fixture(scope="module")
def tables() -> SourceTables:
    return generate(1_500, seed=9)


def test_roundtrip_sqlite(tmp_path: Path, tables: SourceTables) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    written = seed_db(url, tables)
    assert written == {"pinterest_data": 1_500, "geolocation_data": 1_500, "user_data": 1_500}
    back = read_db(url)
    assert back == tables
    assert [tuple(r) for r in back.pin[:1]] == [tuple(tables.pin[0])]  # field order kept


def test_column_types(tmp_path: Path, tables: SourceTables) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    seed_db(url, tables)
    inspector = sa.inspect(sa.create_engine(url))
    geo = {c["name"]: c["type"] for c in inspector.get_columns("geolocation_data")}
    pin = {c["name"]: c["type"] for c in inspector.get_columns("pinterest_data")}
    user = {c["name"]: c["type"] for c in inspector.get_columns("user_data")}
    assert isinstance(pin["index"], sa.Integer) and isinstance(pin["downloaded"], sa.Integer)
    assert isinstance(pin["follower_count"], sa.String)
    assert isinstance(geo["timestamp"], sa.DateTime) and isinstance(geo["latitude"], sa.Float)
    assert isinstance(user["date_joined"], sa.DateTime) and isinstance(user["age"], sa.Integer)
    assert list(pin) == list(tables.pin[0])


def test_replace_and_append(tmp_path: Path, tables: SourceTables) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    seed_db(url, tables)
    seed_db(url, tables, replace=True)  # idempotent
    assert len(read_db(url)) == 1_500
    with pytest.raises(ConfigError, match="replace=True"):
        seed_db(url, tables, replace=False)
    small = generate(10, seed=1)
    seed_db(url, small)
    assert read_db(url) == small


def test_missing_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(ConfigError, match=r"missing.*seed"):
        read_db(f"sqlite:///{path}")


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sqlite:///source\.db"):
        read_db("not a url")
    with pytest.raises(ConfigError, match="dialect"):
        read_db("nosuchdb://host/db")
    with pytest.raises(ConfigError, match="cannot use"):
        read_db(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")


@pytest.mark.skipif(importlib.util.find_spec("pymysql") is not None, reason="pymysql installed")
def test_missing_driver_names_the_extra() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'pinpipe\[mysql\]'") as info:
        read_db("mysql+pymysql://user:secret@localhost/pins")
    assert isinstance(info.value, DependencyError)
    assert "secret" not in str(info.value)
