"""`pinpipe console`: the console alone, read-only over a lake another process wrote."""

from __future__ import annotations

from pathlib import Path

import requests

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.lake import Lake
from pinpipe.log.embedded import EmbeddedLog
from tests.fixtures import Spawn
from tests.helpers import merged_answers, produce_rows, run_pinpipe, stream_once, wait_healthy
from tests.infra.process import free_port


def test_console_reads_an_existing_lake(
    spawn_pinpipe: Spawn, tmp_path: Path, log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(40)))
    stream_once(log, lake, get_engine("duckdb"))
    port = free_port()
    proc = spawn_pinpipe("console", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)  # /healthz redirects to the console's overview

    overview = requests.get(f"{url}/ui/api/overview", timeout=10).json()["overview"]
    assert overview["tables"]["stream"]["tables"] == {"pin": 40, "geo": 40, "user": 40}
    assert {p["end"] for p in overview["log"]["partitions"]} == {40}
    assert not overview["ingest"]["live"] and overview["stages"] == {}

    answer = requests.get(f"{url}/ui/api/analytics/top_country", timeout=30).json()
    expected = merged_answers(lake)["top_country"]
    assert [dict(zip(answer["columns"], r, strict=True)) for r in answer["rows"]] == expected
    csv = requests.get(f"{url}/ui/analytics/top_country.csv", timeout=30)
    assert csv.headers["content-disposition"].endswith('filename="top_country.csv"')

    refused = requests.get(f"{url}/ui/sql", params={"q": "DROP TABLE pin"}, timeout=10)
    assert refused.status_code == 400 and "read-only" in refused.text
    missing = requests.get(f"{url}/ui/api/analytics/nope", timeout=10)
    assert missing.status_code == 404 and missing.json() == {"error": "no analytic named 'nope'"}
    for response in (refused, missing):
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "Traceback" not in response.text and str(tmp_path) not in response.text


def test_console_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    done = run_pinpipe(tmp_path, "console", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "without API keys" in done.stderr and "Traceback" not in done.stderr
