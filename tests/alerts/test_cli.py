"""``pinpipe alerts list|test`` and the alert engine's loop reacting to new data."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from pinpipe.alerts import AlertEngine
from pinpipe.engines import interactive_engine
from pinpipe.lake import Lake
from pinpipe.settings import AlertRule, AlertSettings
from tests.alerts.receiver import receiver
from tests.helpers import delta_rows, run_pinpipe
from tests.quality.crafted import window, write_realtime

RULES = [
    {"name": "no_pins", "kind": "absent", "aggregate": "records_by_topic", "value": "records",
     "where": {"topic": "*.pin"}, "minutes": 2},
    {"name": "trending", "kind": "baseline", "aggregate": "posts_by_category", "value": "posts",
     "by": "category", "factor": 3, "minutes": 10, "cooldown_seconds": 60},
]  # fmt: skip


def test_alerts_test_sends_a_signed_test_delivery_and_list_shows_rules(
    tmp_path: Path, lake: Lake
) -> None:
    with receiver() as hook:
        env = {
            "PINPIPE_ALERTS__RULES": json.dumps(RULES),
            "PINPIPE_ALERTS__WEBHOOK_URL": hook.url,
            "PINPIPE_ALERTS__SECRET": "cli-secret",
            "COLUMNS": "250",  # one line per rule
        }
        sent = run_pinpipe(tmp_path, "alerts", "test", "trending", **env)
        assert sent.returncode == 0, sent.stderr
        assert "test delivery of trending delivered" in sent.stdout
        (got,) = hook.requests
        assert got.doc["status"] == "test" and got.signed_with("cli-secret")
        assert "cli-secret" not in sent.stdout + sent.stderr
        (delivered,) = delta_rows(lake.alerts("deliveries"))
        assert delivered["test"] is True

        listed = run_pinpipe(tmp_path, "alerts", "list", **env)
        assert listed.returncode == 0, listed.stderr
        assert "no_pins" in listed.stdout and "posts_by_category.posts by category" in listed.stdout
        assert "no alert has fired" in listed.stdout

        unknown = run_pinpipe(tmp_path, "alerts", "test", "nope", **env)
        assert unknown.returncode == 2 and "no alert rule 'nope'" in unknown.stderr

        hook.down = True
        failed = run_pinpipe(
            tmp_path, "alerts", "test", "no_pins", PINPIPE_ALERTS__ATTEMPTS="2",
            PINPIPE_ALERTS__BACKOFF_SECONDS="0", **env,
        )  # fmt: skip
        assert failed.returncode == 1 and "dead_letters" in failed.stderr
        assert len(delta_rows(lake.alerts("dead_letters"))) == 1


def test_the_loop_evaluates_when_a_source_table_has_new_data(lake: Lake) -> None:
    """A long clock interval: only new data in the aggregate can trigger the evaluation."""
    spike = AlertRule(name="spike", kind="threshold", aggregate="posts_by_category", value="posts",
                      threshold=100, minutes=5)  # fmt: skip
    with receiver() as hook:
        settings = AlertSettings(rules=(spike,), webhook_url=hook.url, every_seconds=3600,
                                 poll_seconds=0.05)  # fmt: skip
        alerts = AlertEngine(lake, interactive_engine(), settings)
        stop = threading.Event()
        thread = threading.Thread(target=alerts.run, args=(stop,), daemon=True)
        thread.start()
        try:
            minute = int(time.time() // 60 * 60_000)
            write_realtime(lake.realtime("posts_by_category"), "posts_by_category",
                           [window(minute, category="art", posts=500)])  # fmt: skip
            deadline = time.monotonic() + 30
            while not hook.requests and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(30)
        (got,) = hook.requests
        assert got.doc["rule"] == "spike" and got.doc["value"] == 500
