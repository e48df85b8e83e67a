"""``tables/alerts/``: firing episodes (one row per rule and key), deliveries, dead letters.

The firing table is rewritten whole on each change (it holds one row per rule and key); it is
committed *before* a delivery is attempted, so a restart knows every episode that began and
whether its notification went out. Deliveries and dead letters are appended.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Final, Literal

import pyarrow as pa
from deltalake import write_deltalake

from pinpipe.lake.delta import TableStore
from pinpipe.lake.layout import Lake
from pinpipe.lake.storage import disk_full_errors

STAMP = pa.timestamp("ms", tz="UTC")
Delivery = Literal["pending", "delivered", "dead_letter", "none"]
"""none: the rule has no webhook, the episode is only recorded."""

FIRING: Final = pa.schema(
    [
        ("rule", pa.string()),
        ("key", pa.string()),
        ("state", pa.string()),
        ("episode_start", STAMP),
        ("value", pa.float64()),
        ("message", pa.string()),
        ("delivery", pa.string()),
        ("notified_at", STAMP),
        ("resolved_at", STAMP),
        ("updated_at", STAMP),
    ]
)
DELIVERIES: Final = pa.schema(
    [
        ("rule", pa.string()),
        ("key", pa.string()),
        ("episode_start", STAMP),
        ("idempotency_key", pa.string()),
        ("url", pa.string()),
        ("status_code", pa.int32()),
        ("attempts", pa.int32()),
        ("test", pa.bool_()),
        ("delivered_at", STAMP),
    ]
)
DEAD_LETTERS: Final = pa.schema(
    [
        ("rule", pa.string()),
        ("key", pa.string()),
        ("episode_start", STAMP),
        ("idempotency_key", pa.string()),
        ("url", pa.string()),
        ("status_code", pa.int32()),
        ("attempts", pa.int32()),
        ("error", pa.string()),
        ("body", pa.string()),
        ("test", pa.bool_()),
        ("failed_at", STAMP),
    ]
)


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Episode:
    """One firing of a rule for a key, from its start to its resolution."""

    rule: str
    key: str
    state: Literal["firing", "resolved"]
    episode_start: int
    value: float | None
    message: str
    delivery: Delivery
    notified_at: int | None = None
    resolved_at: int | None = None
    updated_at: int | None = None

    def but(self, **changes: object) -> Episode:
        return replace(self, **changes)  # type: ignore[arg-type]


class AlertState:
    """The alert tables of one lake, read and written through a table store."""

    def __init__(self, lake: Lake, store: TableStore) -> None:
        self.store = store
        self.firing_uri = lake.alerts("firing")
        self.deliveries_uri = lake.alerts("deliveries")
        self.dead_letters_uri = lake.alerts("dead_letters")

    def load(self) -> dict[tuple[str, str], Episode]:
        """The latest episode of every rule and key (none yet: empty)."""
        dataset = self.store.dataset(self.firing_uri)
        if dataset is None:
            return {}
        found = {}
        for row in dataset.to_table().to_pylist():
            stamps = {k: _ms(row[k]) for k in ("notified_at", "resolved_at", "updated_at")}
            start = _ms(row["episode_start"])
            assert start is not None
            episode = Episode(
                row["rule"], row["key"], row["state"], start, row["value"], row["message"],
                row["delivery"], **stamps,
            )  # fmt: skip
            found[(episode.rule, episode.key)] = episode
        return found

    def save(self, episodes: dict[tuple[str, str], Episode]) -> None:
        rows = [asdict(e) for _, e in sorted(episodes.items())]
        self.store.overwrite(self.firing_uri, pa.Table.from_pylist(rows, schema=FIRING))

    def _append(self, uri: str, rows: list[dict[str, object]], schema: pa.Schema) -> None:
        table = self.store.open(uri)
        with disk_full_errors(uri, "append to"):
            write_deltalake(
                table if table is not None else uri,
                pa.Table.from_pylist(rows, schema=schema),
                mode="append",
                storage_options=None if table is not None else self.store.options(uri),
            )

    def delivered(self, row: dict[str, object]) -> None:
        self._append(self.deliveries_uri, [row], DELIVERIES)

    def dead_letter(self, row: dict[str, object]) -> None:
        self._append(self.dead_letters_uri, [row], DEAD_LETTERS)

    def rows(self, uri: str) -> list[dict[str, object]]:
        dataset = self.store.dataset(uri)
        return [] if dataset is None else dataset.to_table().to_pylist()
