"""The ASGI factory other servers (granian) import serves the same app as `pinpipe serve`."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pinpipe.ingest.asgi import app_from_settings


def test_factory_app_takes_records_into_the_configured_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINPIPE_HOME", str(tmp_path))
    with TestClient(app_from_settings()) as client:
        answer = client.post(
            "/topics/pinpipe.pin",
            content=b'{"records":[{"value":{"index":1}}]}',
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
        )
    assert answer.status_code == 200
    assert answer.json()["offsets"][0]["offset"] == 0
    assert (tmp_path / "log.db").exists()
