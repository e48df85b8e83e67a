"""What each table's cleaning module hands the shared cleaning step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis.expr.types as ir


@dataclass(frozen=True)
class Staged:
    """Typed contract columns (key excluded), reject checks in order, data-quality flags.

    ``checks`` are (condition, reason) pairs: the first true condition rejects the record.
    ``issues`` are flags counted for accepted records that were kept with a NULL value.
    """

    columns: dict[str, ir.Value]
    checks: tuple[tuple[ir.BooleanValue, str], ...]
    issues: dict[str, ir.BooleanValue]


@dataclass(frozen=True)
class Stager:
    """A table's cleaning in two steps, so each regular expression runs once per value.

    ``parse`` maps trimmed text fields to typed values (new columns over the text table);
    ``finish`` reads those columns back to build the contract columns and the checks.
    """

    parse: Callable[[ir.Table], dict[str, ir.Value]]
    finish: Callable[[ir.Table], Staged]
