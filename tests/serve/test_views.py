"""Serving views: batch, stream and merged (the Lambda merge), and the query entry points."""

from __future__ import annotations

import threading

import orjson
import pytest

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads
from pinpipe.engines import get_engine, interactive_engine
from pinpipe.engines.microbatch import MicroBatchStream
from pinpipe.errors import ConfigError
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.serve.query import run_queries, run_sql
from pinpipe.serve.views import load_view
from pinpipe.settings import SinkSettings, StreamSettings
from pinpipe.sink.lake_sink import LakeSink
from tests.helpers import produce_rows


def _pins(lake: Lake, view: str) -> dict[int, str]:
    engine = interactive_engine()
    try:
        rows = engine.to_arrow(load_view(lake, engine, view, "pin")).to_pylist()  # type: ignore[arg-type]
    finally:
        engine.close()
    return {r["ind"]: r["title"] for r in rows}


def test_merged_is_the_batch_plus_newer_stream_rows_latest_arrival_wins(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(10)))
    LakeSink(log, lake, SinkSettings(flush_size=5)).run(threading.Event(), once=True)
    jobs = get_engine("duckdb")
    run_batch(lake, jobs)
    # After the batch run: a newer version of row 2 and a new row 11 arrive by the stream door.
    pin, _, _ = payloads(source, 2)
    log.produce(
        "streaming-pinpipe-pin", [ProduceRecord(orjson.dumps({**pin, "title": "Newer title"}))]
    )
    produce_rows(log, source, [11])
    MicroBatchStream(log, lake, jobs, StreamSettings()).run(threading.Event(), once=True)
    engine = interactive_engine()  # reads run sealed, whatever wrote the tables

    batch, stream, merged = (_pins(lake, v) for v in ("batch", "stream", "merged"))
    assert sorted(batch) == list(range(10))
    assert sorted(stream) == sorted(merged) == [*range(10), 11]
    assert merged[2] == stream[2] == "Newer title" != batch[2]
    assert {i: t for i, t in merged.items() if i != 2} == {
        i: t for i, t in stream.items() if i != 2
    }
    counted = run_sql(lake, engine, "SELECT count(*) AS n FROM pin", "merged")
    assert counted.to_pylist() == [{"n": 11}]
    assert set(run_sql(lake, engine, "SELECT * FROM quarantine LIMIT 0").column_names) >= {
        "reason",
        "stage",
        "raw",
    }


def test_missing_tables_and_unknown_queries_name_the_fix(lake: Lake) -> None:
    engine = interactive_engine()
    with pytest.raises(ConfigError, match=r"run `pinpipe stream` \(or `pinpipe up`\)"):
        load_view(lake, engine, "stream", "geo")
    with pytest.raises(ConfigError, match="choose from: category_by_country"):
        run_queries(lake, engine, ["no_such_query"])
