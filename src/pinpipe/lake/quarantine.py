"""Rejected records in ``tables/quarantine/<table>``, with the stage that rejected them.

The batch job replaces its own rows on every run (the same raw zone gives the same rejects);
the stream job's rows accumulate. Both rules key on the ``stage`` column written here.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

Stage = Literal["batch", "stream"]


def with_stage(rejects: pa.Table, stage: Stage) -> pa.Table:
    """``rejects`` with the ``stage`` column that tells whose rows they are."""
    return rejects.append_column("stage", pa.array([stage] * rejects.num_rows, pa.string()))


def stage_predicate(stage: Stage) -> str:
    """The Delta predicate selecting one stage's rows (for a replacing overwrite)."""
    return f"stage = '{stage}'"
