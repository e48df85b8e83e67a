"""Serving: the named analytics and read-only SQL over the cleaned tables."""

from __future__ import annotations

import ibis.expr.types as ir
import pyarrow as pa

from pinpipe.engines import Engine, check_read_only
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES
from pinpipe.serve.views import View, contract_columns, load_views, quarantine_view
from pinpipe.transform.queries import QUERIES
from pinpipe.transform.sentiment import with_sentiment


def run_queries(
    lake: Lake, engine: Engine, names: list[str], view: View = "merged"
) -> dict[str, pa.Table]:
    """Each named query over ``view``, in the order given."""
    unknown = [n for n in names if n not in QUERIES]
    if unknown:
        raise ConfigError(f"unknown query {unknown[0]!r}; choose from: {', '.join(QUERIES)}")
    views = load_views(lake, engine, view)
    return {
        name: engine.to_arrow(QUERIES[name](views["pin"], views["geo"], views["user"]))
        for name in names
    }


def run_sql(lake: Lake, engine: Engine, query: str, view: View = "merged") -> pa.Table:
    """Read-only SQL over views ``pin``, ``geo``, ``user`` (``view``), ``pin_sentiment`` (pin
    with the sentiment of its title and description) and ``quarantine``."""
    check_read_only(query, dialect=engine.dialect)  # refuse before touching any table
    tables: dict[str, ir.Table] = {
        t: contract_columns(t, v) for t, v in load_views(lake, engine, view).items()
    }
    tables["pin_sentiment"] = with_sentiment(tables["pin"])  # scored only when queried
    quarantine = quarantine_view(lake, engine)
    if quarantine is not None:
        tables["quarantine"] = quarantine
    assert set(TABLES) <= set(tables)
    return engine.sql(query, tables)
