"""The 2-minute soak of ``make soak`` (``benchmarks/soak.py``): no loss, no duplicate, no leak.

``pinpipe up`` runs with the batch schedule on, takes a steady 200 single-record requests/s
through all three doors and is read through its console the whole time. Only correctness
and leaks are asserted, never timing.

The leak criteria compare the last quarter of the samples with the second (the first
quarter is warm-up: imports, thread pools filling, the first batch run). Between the two,
~12,000 requests are served and ~30 console pages read, so a descriptor or thread kept per
request or per read would add dozens to thousands; one kept per batch run (one or two runs
here) shows only in the long ``make soak``.

- descriptors other than sockets (the log, raw, Parquet and Delta files, pipes): the lowest
  count of the last quarter may exceed the second's by at most 5 (checked: a file left
  open per console overview read, about 12 between the quarters, fails it). The lowest,
  not the mean: the batch job holds a hundred files for a moment, a leak never gives one
  back;
- sockets: never more than the clients can hold open (the producer's ``CONCURRENCY``
  connections, the console reader's two, the listener, a margin), since a socket kept
  after its connection closed would grow past that;
- threads other than delta-rs' tokio pool (which starts threads on demand and ends them
  after 10 s idle, so it follows the load): the highest count of the last quarter may
  exceed the second's by at most 5 (pools fill up to their caps while warming up, then
  stay); tokio's own, below its cap (512 blocking threads and one worker per core);
- resident memory: the mean may grow by less than 50 %. Loose on purpose: the allocator and
  DuckDB's caches move it by tens of MB, and a slow leak shows only in a longer soak, which
  is what ``make soak`` is for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import CONCURRENCY, run_soak

pytestmark = pytest.mark.slow


def test_two_minutes_of_steady_load_lose_nothing_double_nothing_and_leak_nothing(
    tmp_path: Path,
) -> None:
    result = run_soak(minutes=2, rate=200, home=tmp_path, sample_every_s=5, progress=True)

    assert result.alive_throughout and result.exit_code == 0
    assert result.acked == result.sent > 1_000  # every send answered: none rejected, none given up
    delivery = result.delivery
    assert delivery.lost == [], f"{len(delivery.lost)} acknowledged records not in the raw zone"
    assert delivery.misplaced == []  # each at the position its answer named
    assert delivery.duplicates == [] and delivery.duplicate_positions == []
    assert result.console.ok > 10 and result.console.failed == []
    assert result.batch_runs >= 1
    assert len(result.samples) == 24
    assert result.floor_growth("files") <= 5, [s.files for s in result.samples]
    assert max(s.fds - s.files for s in result.samples) <= CONCURRENCY + 2 + 1 + 8
    assert result.ceiling_growth("own_threads") <= 5, [s.own_threads for s in result.samples]
    assert max(s.rust_threads for s in result.samples) <= 512 + 4
    assert result.rss_growth < 0.5, [round(s.rss_mb) for s in result.samples]
