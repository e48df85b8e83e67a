"""The topic policy (``[topics]``): which names may be written, how many topics, bounded metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from starlette.testclient import TestClient

from pinpipe.errors import TopicLimitError
from pinpipe.ingest.app import create_app
from pinpipe.ingest.metrics import MAX_TOPIC_LABELS
from pinpipe.log import open_log
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import IngestSettings, TopicSettings, load_settings

KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
NATIVE = {"Content-Type": "application/x-amz-json-1.1"}
ONE = json.dumps({"records": [{"value": {"n": 1}}]})


def _client(log: EmbeddedLog, topics: TopicSettings) -> TestClient:
    app = create_app(log, IngestSettings(), topics)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def policed(log: EmbeddedLog) -> Iterator[TestClient]:
    """The ingest app under the default policy (what ``pinpipe serve`` and ``up`` run)."""
    with _client(log, TopicSettings()) as client:
        yield client


def _rejections(client: TestClient, reason: str) -> float:
    found = re.search(
        rf'pinpipe_ingest_rejections_total{{reason="{reason}"}} (\S+)', client.get("/metrics").text
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(
    "topic", ["0a1b2c3d4e5f.pin", "pinpipe.geo", "demo.user", "streaming-x-pin", "a_b_user"]
)
def test_the_default_policy_accepts_topics_that_feed_a_table(
    policed: TestClient, topic: str
) -> None:
    assert policed.post(f"/topics/{topic}", content=ONE, headers=KAFKA_JSON).status_code == 200


def test_the_default_policy_refuses_other_topics_on_every_door(
    policed: TestClient, log: EmbeddedLog
) -> None:
    refused = policed.post("/topics/random-name", content=ONE, headers=KAFKA_JSON)
    assert refused.status_code == 403
    assert refused.json()["error_code"] == 40302
    assert "topics.pattern" in refused.json()["message"]
    v3 = policed.post(
        "/v3/clusters/pinpipe/topics/other/records",
        content=json.dumps({"value": {"type": "JSON", "data": 1}}),
        headers={"Content-Type": "application/json"},
    )
    assert v3.status_code == 403
    proxy = policed.put(
        "/streams/pins/record", json={"StreamName": "pins", "Data": {}, "PartitionKey": "k"}
    )
    assert proxy.status_code == 403 and proxy.json()["__type"] == "AccessDeniedException"
    native = policed.post(
        "/",
        json={"StreamName": "pins", "ShardCount": 1},
        headers={**NATIVE, "X-Amz-Target": "Kinesis_20131202.CreateStream"},
    )
    assert native.status_code == 403 and "topics.pattern" in native.json()["message"]
    assert log.topics() == []
    assert _rejections(policed, "topic_not_allowed") == 4


def test_a_pattern_of_ones_own(log: EmbeddedLog) -> None:
    with _client(log, TopicSettings(pattern=r"^team\.")) as client:
        assert client.post("/topics/team.x", content=ONE, headers=KAFKA_JSON).status_code == 200
        refused = client.post("/topics/x.pin", content=ONE, headers=KAFKA_JSON)
        assert refused.status_code == 403 and r"^team\." in refused.json()["message"]


def test_the_topic_ceiling_refuses_one_topic_more(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db", fsync=False, max_topics=3)
    with log, _client(log, TopicSettings(max_topics=3)) as client:
        for i in range(3):
            answer = client.post(f"/topics/t{i}.pin", content=ONE, headers=KAFKA_JSON)
            assert answer.status_code == 200
        refused = client.post("/topics/t3.pin", content=ONE, headers=KAFKA_JSON)
        assert refused.status_code == 403
        assert refused.json()["error_code"] == 40303
        assert "topics.max_topics" in refused.json()["message"]
        stream = client.put(
            "/streams/s-pin/record", json={"StreamName": "s", "Data": {}, "PartitionKey": "k"}
        )
        assert stream.status_code == 403
        assert client.post("/topics/t0.pin", content=ONE, headers=KAFKA_JSON).status_code == 200
        assert _rejections(client, "topic_limit") == 2
    assert len(EmbeddedLog(tmp_path / "log.db").topics()) == 3


def test_metric_series_stay_bounded_whatever_topics_are_invented(log: EmbeddedLog) -> None:
    with _client(log, TopicSettings(pattern=".*")) as client:
        for i in range(MAX_TOPIC_LABELS + 100):
            assert client.post(f"/topics/x{i}", content=ONE, headers=KAFKA_JSON).status_code == 200
        metrics = client.get("/metrics").text
    labels = set(re.findall(r'topic="([^"]*)"', metrics))
    assert len(labels) == MAX_TOPIC_LABELS + 1 and "_other" in labels


def test_old_topic_setting_names_still_work_and_a_clash_names_the_new_one(
    tmp_path: Path,
) -> None:
    moved = load_settings(
        home=tmp_path, **{"log.topic_filter": r"^a\.", "ingest.auto_create_topics": False}
    )
    assert moved.topics == TopicSettings(pattern=r"^a\.", auto_create=False)
    with pytest.raises(pydantic.ValidationError, match=r"log.topic_filter is now topics.pattern"):
        load_settings(home=tmp_path, **{"log.topic_filter": "x", "topics.pattern": "y"})
    with pytest.raises(pydantic.ValidationError, match="not a valid regular expression"):
        load_settings(home=tmp_path, **{"topics.pattern": "("})


def test_the_log_lists_and_counts_by_the_same_policy(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, **{"log.fsync": False, "topics.max_topics": 2})
    with open_log(settings) as log:
        log.create_topic("other")  # a log's own callers may create any topic...
        log.create_topic("a.pin")
        assert [t.name for t in log.topics()] == ["a.pin"]  # ...consumers see the policy's
        with pytest.raises(TopicLimitError, match=r"topics\.max_topics"):
            log.create_topic("b.pin")


def test_old_names_from_the_environment_work_with_flags_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINPIPE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PINPIPE_LOG__TOPIC_FILTER", r"^x\.")
    monkeypatch.setenv("PINPIPE_INGEST__AUTO_CREATE_TOPICS", "false")
    for flags in ({}, {"ingest.port": 5}, {"topics.max_topics": 5}):
        topics = load_settings(home=tmp_path, **flags).topics
        assert (topics.pattern, topics.auto_create) == (r"^x\.", False)
