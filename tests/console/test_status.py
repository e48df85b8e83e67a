"""What the supervisor reports about its stages, as the console shows it."""

from __future__ import annotations

from pinpipe.console.status import PipelineStatus, public_message


def test_restarts_and_failures_keep_the_last_error_without_paths() -> None:
    status = PipelineStatus()
    status.set("sink", "running")
    status.set("sink", "restarting", OSError("cannot write /srv/pinpipe/lake/raw/x.json: full"))
    status.set("sink", "running")
    status.batch_ran(raw_records=12, seconds=0.5)
    snap = status.snapshot()
    sink = snap["stages"]["sink"]
    assert sink["state"] == "running" and sink["restarts"] == 1
    assert sink["last_error"] == "OSError: cannot write …: full"
    assert snap["batch"]["raw_records"] == 12


def test_public_messages_are_one_bounded_line() -> None:
    message = public_message("first line C:\\Users\\me\\lake\\x\nTraceback (most recent call last)")
    assert message == "first line …"
    assert len(public_message("x" * 1000)) == 300


def test_the_overview_shows_firing_alerts_and_forgets_resolved_ones(tmp_path: object) -> None:
    from pathlib import Path

    from pinpipe.alerts.state import AlertState, Episode
    from pinpipe.console.figures import Figures, Sources
    from pinpipe.engines.duckdb import DuckDBEngine
    from pinpipe.lake import open_lake
    from pinpipe.settings import load_settings

    settings = load_settings(home=Path(str(tmp_path)))
    lake = open_lake(settings)
    store = DuckDBEngine(threads=1).tables
    figures = Figures(settings, lake, store, Sources())
    assert figures.sample()["alerts"] == {"firing": []}

    state = AlertState(lake, store)
    firing = Episode(
        "no_pins", "pin", "firing", 1_700_000_000_000, 0.0, "no pin records", "delivered"
    )
    state.save({("no_pins", "pin"): firing})
    [shown] = figures.sample()["alerts"]["firing"]
    assert (shown["rule"], shown["key"], shown["delivery"]) == ("no_pins", "pin", "delivered")
    assert shown["since"] == 1_700_000_000.0

    state.save({("no_pins", "pin"): firing.but(state="resolved", resolved_at=1_700_000_060_000)})
    assert figures.sample()["alerts"] == {"firing": []}
