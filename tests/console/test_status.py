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
