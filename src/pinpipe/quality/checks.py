"""What a check is, the default set, and what one evaluation of a check yields."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

from pinpipe.lake.line import TABLES
from pinpipe.settings import CheckKind, CheckSettings, QualitySettings

Scope = Literal["run", "window", "clock"]
"""run: one batch day; window: one closed one-minute stream window; clock: now."""
Status = Literal["pass", "warn", "fail"]
"""fail only for a ``block`` check; a failing ``warn`` check is ``warn``."""

SCOPES: Final[dict[CheckKind, tuple[Scope, ...]]] = {
    "null_rate": ("run", "window"),
    "accepted_values": ("run", "window"),
    "range": ("run", "window"),
    "format": ("run", "window"),
    "unique": ("run",),  # the stream tables keep every arrival: only the batch ones dedupe
    "volume": ("run", "window"),
    "schema_drift": ("run", "window"),
    "quarantine_rate": ("run", "window"),
    "freshness": ("clock",),  # on a clock, so it fires when nothing arrives at all
}
"""Where each kind of check is evaluated."""

COLUMN_KINDS: Final = ("null_rate", "accepted_values", "range", "format")


def default_checks(settings: QualitySettings) -> tuple[CheckSettings, ...]:
    """The set used when ``quality.checks`` is not configured.

    Blocking: the reject share (the gate pinpipe always had) and unique ``ind`` in the batch
    tables. Warnings: freshness, volume, schema drift, and a few column rules of DATA.md.
    """
    checks: list[CheckSettings] = []
    for table in TABLES:
        checks += [
            CheckSettings(
                name=f"{table}_reject_share",
                kind="quarantine_rate",
                table=table,
                severity="block",
                max_share=settings.max_reject_share,
            ),
            CheckSettings(name=f"{table}_unique_ind", kind="unique", table=table, severity="block"),
            CheckSettings(name=f"{table}_freshness", kind="freshness", table=table, minutes=10),
            CheckSettings(name=f"{table}_volume", kind="volume", table=table, factor=5),
            CheckSettings(name=f"{table}_schema_drift", kind="schema_drift", table=table),
        ]
    checks += [
        CheckSettings(
            name="pin_category_nulls", kind="null_rate", table="pin", column="category",
            max_share=0.1,
        ),
        CheckSettings(
            name="pin_media_type", kind="accepted_values", table="pin",
            column="is_image_or_video",
            values=("image", "video", "multi-video(story page format)"),
        ),
        CheckSettings(
            name="pin_image_url", kind="format", table="pin", column="image_src",
            pattern=r"https?://\S+",
        ),
        CheckSettings(
            name="geo_country_nulls", kind="null_rate", table="geo", column="country",
            max_share=0.1,
        ),
        CheckSettings(
            name="user_age_range", kind="range", table="user", column="age", min=0, max=120,
        ),
    ]  # fmt: skip
    return tuple(checks)


def effective_checks(settings: QualitySettings) -> tuple[CheckSettings, ...]:
    """The configured checks, or the default set."""
    return settings.checks if settings.checks is not None else default_checks(settings)


@dataclass(frozen=True)
class CheckResult:
    """One check evaluated once: for a batch run, a stream window or the clock."""

    check: CheckSettings
    scope: Scope
    run_id: str
    observed: float | None
    """The measure (a share, a ratio to the baseline, minutes, a count of drifted fields);
    None when there was nothing to measure (no rows: the check passes)."""
    threshold: float
    failed: bool
    message: str
    key: str = ""
    """What the result is about within the table (freshness: the topic)."""
    window_start: int | None = None
    window_end: int | None = None
    """Epoch ms: the window (or day) judged; None for the clock."""
    examples: list[dict[str, object]] = field(default_factory=list)

    @property
    def status(self) -> Status:
        if not self.failed:
            return "pass"
        return "fail" if self.check.severity == "block" else "warn"

    @property
    def blocks(self) -> bool:
        return self.status == "fail"

    def describe(self) -> str:
        """One line naming the check: what the gate prints on failure."""
        c = self.check
        seen = (
            "n/a" if self.observed is None or math.isnan(self.observed) else f"{self.observed:.4g}"
        )
        where = f"{c.table}/{self.key}" if self.key else c.table
        measured = f"observed {seen}, threshold {self.threshold:.4g}"
        return f"{c.name} ({c.kind}, {where}, {c.severity}): {self.message} [{measured}]"
