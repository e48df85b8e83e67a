"""The examples of ``docs/quality-and-alerts.md`` load as settings and do what the page says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pinpipe.alerts import AlertEngine
from pinpipe.engines import interactive_engine
from pinpipe.lake import Lake
from pinpipe.quality import evaluate_window
from pinpipe.settings import Settings
from tests.alerts.receiver import receiver
from tests.quality.crafted import MINUTE, T0, cleaned_rows, rejects, window, write, write_realtime

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quality-and-alerts.md"


def _blocks() -> list[dict[str, Any]]:
    return [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", PAGE.read_text(), re.S)]


@pytest.fixture
def documented(tmp_path: Path) -> Settings:
    checks, alerts = _blocks()
    return Settings.model_validate({"home": tmp_path, **checks, **alerts})


def test_the_page_has_the_two_examples(documented: Settings) -> None:
    assert documented.quality.checks is not None
    kinds = {c.kind for c in documented.quality.checks}
    assert kinds == {
        "null_rate", "accepted_values", "range", "format", "unique", "freshness", "volume",
        "schema_drift", "quarantine_rate",
    }  # fmt: skip
    assert [r.name for r in documented.alerts.rules] == [
        "quarantine_rate", "no_pins", "trending_category", "pin_rejects_check",
    ]  # fmt: skip


def test_the_documented_checks_judge_a_window(documented: Settings, lake: Lake) -> None:
    assert documented.quality.checks is not None
    write(lake.table("stream", "pin"), cleaned_rows(
        4, category=["art", None, None, "travel"], is_image_or_video=["image"] * 4,
        image_src=["https://x/1.png"] * 4,
    ))  # fmt: skip
    write(lake.quarantine("pin", "stream"), rejects(2))
    found = evaluate_window(lake, interactive_engine(), documented.quality.checks, T0, T0 + MINUTE)
    status = {r.check.name: r.status for r in found}
    assert status["pin_category_nulls"] == "warn"  # 2 of 4 NULL, above 10%
    assert status["pin_reject_share"] == "fail"  # 2 of 6 records, above 25%: a block check
    assert status["pin_media_type"] == status["pin_image_url"] == "pass"


def test_the_documented_rules_fire_on_crafted_aggregates(documented: Settings, lake: Lake) -> None:
    now = T0 + 20 * MINUTE
    records = [window(now - i * MINUTE, topic="pinpipe.pin", records=10) for i in range(4, 6)]
    write_realtime(lake.realtime("records_by_topic"), "records_by_topic", records)
    bad = [window(now - 4 * MINUTE, table="pin", reason="missing ind", rejects=2)]
    write_realtime(lake.realtime("rejects_by_reason"), "rejects_by_reason", bad)
    posts = [window(now - i * MINUTE, category="art", posts=1) for i in range(2, 12)]
    posts.append(window(now - MINUTE, category="art", posts=5))
    write_realtime(lake.realtime("posts_by_category"), "posts_by_category", posts)
    with receiver() as hook:
        settings = documented.alerts.model_copy(update={"webhook_url": hook.url})
        alerts = AlertEngine(lake, interactive_engine(), settings, clock=lambda: now / 1000)
        firing = {(e.rule, e.key) for e in alerts.tick()}
    assert firing == {("quarantine_rate", ""), ("no_pins", ""), ("trending_category", "art")}
    assert sorted(r.doc["rule"] for r in hook.requests) == [
        "no_pins", "quarantine_rate", "trending_category",
    ]  # fmt: skip
