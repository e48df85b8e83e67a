"""The emulator's source database: the three reference tables in any SQLAlchemy database.

The reference emulator read its rows from MySQL; here SQLite is the default and any URL
SQLAlchemy understands works, so the same code can seed a real MySQL/Postgres source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from pinpipe.emulator.generator import GEO_FIELDS, PIN_FIELDS, USER_FIELDS, SourceTables
from pinpipe.errors import ConfigError, DependencyError

PIN_TABLE = "pinterest_data"
GEO_TABLE = "geolocation_data"
USER_TABLE = "user_data"
BATCH_ROWS = 5_000

#: Driver module -> the pinpipe extra that installs it.
_DRIVER_EXTRAS = {
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "psycopg": "postgres",
    "psycopg2": "postgres",
}


class MissingDriverError(ConfigError, DependencyError):
    """The database URL needs a driver that is not installed (names the extra to install)."""


def _metadata() -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table]:
    meta = sa.MetaData()
    pin = sa.Table(
        PIN_TABLE,
        meta,
        sa.Column("index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("unique_id", sa.String(36), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("poster_name", sa.Text, nullable=False),
        sa.Column("follower_count", sa.String(32), nullable=False),
        sa.Column("tag_list", sa.Text, nullable=False),
        sa.Column("is_image_or_video", sa.String(64), nullable=False),
        sa.Column("image_src", sa.Text, nullable=False),
        sa.Column("downloaded", sa.Integer, nullable=False),
        sa.Column("save_location", sa.Text, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
    )
    # Double, not Float: MySQL FLOAT is single precision and would not read back equal.
    geo = sa.Table(
        GEO_TABLE,
        meta,
        sa.Column("ind", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("timestamp", sa.DateTime, nullable=False),
        sa.Column("latitude", sa.Double, nullable=False),
        sa.Column("longitude", sa.Double, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
    )
    user = sa.Table(
        USER_TABLE,
        meta,
        sa.Column("ind", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("age", sa.Integer, nullable=False),
        sa.Column("date_joined", sa.DateTime, nullable=False),
    )
    return meta, pin, geo, user


def _display(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return repr(url)


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    """An engine for ``url``, turning setup failures into errors that say what to do."""
    try:
        engine = sa.create_engine(url)
    # NoSuchModuleError subclasses ArgumentError, so it goes first.
    except sa_exc.NoSuchModuleError as e:
        raise ConfigError(
            f"unknown database dialect in {_display(url)}: use sqlite, mysql+pymysql or "
            "postgresql+psycopg"
        ) from e
    except sa_exc.ArgumentError as e:
        raise ConfigError(
            f"invalid source database URL {url!r}: use e.g. 'sqlite:///source.db' or "
            "'mysql+pymysql://user:password@host/db'"
        ) from e
    except ModuleNotFoundError as e:
        module = (e.name or "").split(".")[0]
        extra = _DRIVER_EXTRAS.get(module)
        if extra is None:
            raise ConfigError(
                f"the driver {module!r} for {_display(url)} is not installed: pip install {module}"
            ) from e
        raise MissingDriverError(module, extra) from e
    try:
        yield engine
    except sa_exc.OperationalError as e:
        raise ConfigError(
            f"cannot use source database {_display(url)}: {e.orig}; check the URL, that the "
            "server is running and that the file's directory exists"
        ) from e
    finally:
        engine.dispose()


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


def seed_db(url: str, tables: SourceTables, *, replace: bool = True) -> dict[str, int]:
    """Write the three tables to ``url``; returns rows written per table.

    ``replace`` drops and recreates the tables; otherwise rows are appended to existing ones.
    """
    meta, pin, geo, user = _metadata()
    written: dict[str, int] = {}
    with _engine(url) as engine:
        if replace:
            meta.drop_all(engine)
        meta.create_all(engine)
        for table, rows in ((pin, tables.pin), (geo, tables.geo), (user, tables.user)):
            try:
                with engine.begin() as conn:
                    for batch in _batches(rows):
                        conn.execute(table.insert(), list(batch))
            except sa_exc.IntegrityError as e:
                raise ConfigError(
                    f"{table.name} in {_display(url)} already holds some of these rows: "
                    "seed with replace=True"
                ) from e
            written[table.name] = len(rows)
    return written


def _read(conn: sa.Connection, table: sa.Table, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    key = table.c[fields[0]]
    result = conn.execute(sa.select(*(table.c[f] for f in fields)).order_by(key))
    return [dict(zip(fields, row, strict=True)) for row in result]


def read_db(url: str) -> SourceTables:
    """Read the three tables back from ``url``, ordered by their key."""
    _, pin, geo, user = _metadata()
    with _engine(url) as engine:
        present = set(sa.inspect(engine).get_table_names())
        missing = [t.name for t in (pin, geo, user) if t.name not in present]
        if missing:
            raise ConfigError(
                f"source table(s) {', '.join(missing)} missing in {_display(url)}: seed the "
                "database first (pinpipe.emulator.source_db.seed_db)"
            )
        with engine.connect() as conn:
            tables = SourceTables(
                pin=_read(conn, pin, PIN_FIELDS),
                geo=_read(conn, geo, GEO_FIELDS),
                user=_read(conn, user, USER_FIELDS),
            )
    if not len(tables.pin) == len(tables.geo) == len(tables.user):
        raise ConfigError(
            f"source tables in {_display(url)} have {len(tables.pin)}/{len(tables.geo)}/"
            f"{len(tables.user)} rows but must align row by row: seed them again"
        )
    return tables
