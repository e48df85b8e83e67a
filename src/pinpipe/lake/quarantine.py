"""Rejected records, with the stage that rejected them: ``tables/quarantine/<stage>/<table>``.

Each stage writes its own table (one writer per Delta table): the batch job replaces its rows
on every run (the same raw zone gives the same rejects), the stream job's rows accumulate.
The ``stage`` column written here tells them apart where readers see both together.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

Stage = Literal["batch", "stream"]
STAGES: tuple[Stage, ...] = ("batch", "stream")


def with_stage(rejects: pa.Table, stage: Stage) -> pa.Table:
    """``rejects`` with the ``stage`` column that tells whose rows they are."""
    return rejects.append_column("stage", pa.array([stage] * rejects.num_rows, pa.string()))
