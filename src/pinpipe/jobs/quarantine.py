"""Rejected records, kept with their reason, stage and origin in ``tables/quarantine/<table>``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa

from pinpipe.jobs import delta_io

Stage = Literal["batch", "stream"]


def with_stage(rejects: pa.Table, stage: Stage) -> pa.Table:
    """Add the ``stage`` column: batch runs replace their own rows, stream rows accumulate."""
    return rejects.append_column("stage", pa.array([stage] * rejects.num_rows, pa.string()))


def replace_batch_rejects(path: Path, rejects: pa.Table) -> None:
    """Swap the batch stage's rows for ``rejects``; stream rows are left alone."""
    rows = with_stage(rejects, "batch")
    if delta_io.open_table(path) is None:
        delta_io.overwrite(path, rows)
    else:
        delta_io.overwrite(path, rows, predicate="stage = 'batch'")
