"""The JSON access log of ``pinpipe serve``: one line per request, none lost at a stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import requests

from pinpipe.ingest.probe import wait_healthy
from tests.infra.process import free_port

JSON_V2 = {"Content-Type": "application/vnd.kafka.json.v2+json"}


def test_every_request_gets_one_json_line_written_by_the_time_the_server_stops(
    tmp_path: Path,
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinpipe", "serve", "--port", str(port), "--access-log"],
        env={**os.environ, "PINPIPE_HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        with requests.Session() as session:
            for i in range(50):
                body = {"records": [{"value": {"i": i}}]}
                response = session.post(f"{url}/topics/acc.pin", json=body, headers=JSON_V2)
                assert response.status_code == 200
            assert session.post(f"{url}/topics/acc.pin", data=b"{", headers=JSON_V2).status_code
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    lines = [orjson.loads(line) for line in err.splitlines() if line.startswith(b"{")]
    produce = [line for line in lines if line["route"] == "/topics/{topic}"]
    assert [line["status"] for line in produce] == [200] * 50 + [400]
    assert sum(line["records"] for line in produce) == 50
    assert all(line["topic"] == "acc.pin" and line["method"] == "POST" for line in produce)
