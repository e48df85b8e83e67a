"""Every home kept under ``homes/`` (one archive per release, made by ``make_home.py``) opens
and runs under today's code: the log's records are all there, the old tables answer as that
release did, and every stage runs on over them to the same answers.

The homes are kept as archives: they are test fixtures, the exact bytes an earlier release
wrote, not caches or builds.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import load_settings
from tests.helpers import run_pinpipe

HOMES = sorted((Path(__file__).parent / "homes").glob("*.tar.gz"))


def _answers(home: Path) -> dict[str, Any]:
    done = run_pinpipe(home, "query", "--all", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, rows in expected.items():  # a later release may answer more analytics
        assert json.loads(json.dumps(got[name], default=str)) == rows, name


@pytest.mark.parametrize("kept", HOMES, ids=[h.name.removesuffix(".tar.gz") for h in HOMES])
def test_a_home_of_an_earlier_release_opens_and_runs(kept: Path, tmp_path: Path) -> None:
    with tarfile.open(kept) as archive:
        archive.extractall(tmp_path, filter="data")
    (home,) = (p for p in tmp_path.iterdir() if p.is_dir())
    expected = json.loads((home / "expected.json").read_text())["answers"]

    with EmbeddedLog(load_settings(home=home).log_path) as log:  # migrates the file forward
        assert len(log.fetch("pinpipe.pin", 0, 0, 1000)) == 60
        assert len(log.fetch("pinpipe.geo", 0, 0, 1000)) == 61
    assert run_pinpipe(home, "doctor").returncode == 0
    _same(_answers(home), expected)  # the old release's Delta tables, read today

    for stage in (["sink", "--once"], ["batch"], ["stream", "--once"]):
        done = run_pinpipe(home, *stage)
        assert done.returncode == 0, (stage, done.stderr[-2000:])
    _same(_answers(home), expected)  # and every stage carries on over them
