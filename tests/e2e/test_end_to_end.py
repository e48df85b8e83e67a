"""The whole path through real processes: HTTP → `pinpipe up` → lake → batch → query/sql."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import requests
from deltalake import DeltaTable

from pinpipe.emulator.generator import generate
from pinpipe.emulator.poster import run
from pinpipe.transform.queries import QUERIES
from tests.fixtures import Spawn
from tests.helpers import run_pinpipe, wait_healthy
from tests.infra.process import free_port

pytestmark = pytest.mark.slow


def _rows(path: Path | str) -> list[dict[str, object]]:
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()  # type: ignore[no-any-return]


def test_records_posted_over_http_end_up_cleaned_and_queryable(
    tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = spawn_pinpipe("up", "--port", str(port), env={"PINPIPE_SINK__FLUSH_SIZE": "100"})
    try:
        wait_healthy(url, up, timeout_s=20)
        source = generate(2_000, seed=3)
        stats = run(source, mode="both", count=150, seed=5, url=url)
        bad = requests.post(
            f"{url}/topics/pinpipe.geo",
            data=json.dumps({"records": [{"value": {"ind": 1, "latitude": "north"}}]}),
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
        )
        assert bad.status_code == 200
        refused = requests.post(
            f"{url}/topics/pinpipe.geo",
            data="{not json",
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
        )
        assert refused.status_code == 400 and refused.json()["error_code"] == 400
    finally:
        up.send_signal(signal.SIGTERM)
        _, err = up.communicate(timeout=120)
    assert up.returncode == 0, err.decode()[-2000:]
    assert stats.total_acknowledged == 900 and stats.failed == 0

    # The stream job drained before exit: every acknowledged record is a stream row.
    stream_pin = _rows(tmp_path / "lake/tables/stream/pin")
    assert len(stream_pin) == 300
    assert {r["_topic"] for r in stream_pin} == {"pinpipe.pin", "streaming-pinpipe-pin"}
    quarantined = _rows(tmp_path / "lake/tables/quarantine/stream/geo")
    assert [(q["reason"], q["stage"]) for q in quarantined] == [
        ("latitude is not a number", "stream")
    ]

    batch = run_pinpipe(tmp_path, "batch")
    assert batch.returncode == 0, batch.stderr
    batch_pin = _rows(tmp_path / "lake/tables/batch/pin")
    distinct = {r["ind"] for r in stream_pin}
    assert sorted(r["ind"] for r in batch_pin) == sorted(distinct)
    assert len(_rows(tmp_path / "lake/tables/quarantine/batch/geo")) == 1  # each stage its own
    assert len(_rows(tmp_path / "lake/tables/quarantine/stream/geo")) == 1

    out = run_pinpipe(tmp_path, "query", "--all", "--format", "json")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert list(results) == list(QUERIES)
    total_posts = sum(r["category_count"] for r in results["category_by_country"])
    assert 0 < total_posts <= len(distinct)
    for view in ("batch", "stream"):
        again = run_pinpipe(tmp_path, "query", "--all", "--format", "json", "--view", view)
        assert json.loads(again.stdout) == results

    sql = run_pinpipe(tmp_path, "sql", "SELECT count(*) AS n FROM pin", "--format", "json")
    assert json.loads(sql.stdout) == [{"n": len(distinct)}]
    q = run_pinpipe(tmp_path, "sql", "SELECT reason FROM quarantine ORDER BY stage", "-f", "csv")
    assert q.stdout.splitlines() == ["reason", *["latitude is not a number"] * 2]
