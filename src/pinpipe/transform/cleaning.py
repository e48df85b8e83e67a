"""Raw relation → cleaned rows + quarantined rejects, and latest-arrival deduplication.

Every raw row lands in exactly one of ``rows`` and ``rejects``: both are filters of one staged
relation on whether a reject reason was found. Everything is Ibis, so DuckDB and Spark run the
same definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from pinpipe.lake.line import LINE_FIELD, META_COLUMNS, RAW_TEXT_FIELD, TableName, raw_fields
from pinpipe.transform import coerce, geo, pin, user
from pinpipe.transform.schema import CLEAN_COLUMNS
from pinpipe.transform.staging import Staged, Stager

REJECT_COLUMNS: Final = ("table", "reason", *META_COLUMNS, "raw")
QUALITY_COLUMNS: Final = ("table", "issue", "count")

NOT_AN_OBJECT: Final = "not a JSON object"
MISSING_IND: Final = "missing ind"
IND_NOT_INTEGER: Final = "ind is not an integer"
IND_OUT_OF_RANGE: Final = "ind out of range"

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

_STAGERS: Final[dict[TableName, Stager]] = {
    "pin": pin.STAGER,
    "geo": geo.STAGER,
    "user": user.STAGER,
}
_KEYS: Final[dict[TableName, tuple[str, str]]] = {
    "pin": ("index", "ind"),
    "geo": ("ind", "index"),
    "user": ("ind", "index"),
}
"""Key spellings in order of preference: the table's own first, the other as a fallback."""

_REASON: Final = "_reject_reason"
_LINE: Final = LINE_FIELD


@dataclass(frozen=True)
class Cleaned:
    """Cleaned ``rows`` (contract columns, then metadata), ``rejects`` and ``quality`` counts.

    All three are lazy Ibis tables over the same raw relation; an engine executes the ones it
    needs (cache the raw relation first to parse the input once).
    """

    rows: ir.Table
    rejects: ir.Table
    quality: ir.Table


def _stage(table: TableName, raw: ir.Table) -> tuple[ir.Table, Staged]:
    """The raw relation with typed columns, the reject reason and the data-quality flags.

    Three layers separated by ``view()`` (trimmed text, parsed values, contract columns):
    Ibis would otherwise inline each expression into every expression that uses it, and the
    engine would trim the same long text and run the same regular expression many times.
    """
    fields = raw.select(
        *META_COLUMNS,
        RAW_TEXT_FIELD,
        _LINE,
        **{name: coerce.text(raw[name]) for name in raw_fields(table)},
    ).view()
    own, other = _KEYS[table]
    stager = _STAGERS[table]
    key_text = fields[own].coalesce(fields[other])
    parsed = fields.mutate(
        _key_text=key_text, _key=coerce.integer(key_text), **stager.parse(fields)
    ).view()
    staged = stager.finish(parsed)
    key, key_text = parsed._key, parsed._key_text
    key_outside = coerce.outside(key, INT32_MIN, INT32_MAX)
    checks = (
        (parsed[RAW_TEXT_FIELD].notnull(), NOT_AN_OBJECT),
        (key_text.isnull(), MISSING_IND),
        (coerce.invalid(key_text, key), IND_NOT_INTEGER),
        (key_outside, IND_OUT_OF_RANGE),
        *staged.checks,
    )
    reason = ibis.cases(*((cond.fill_null(False), text) for cond, text in checks), else_=None)
    flags = {f"_issue_{i}": flag.fill_null(False) for i, flag in enumerate(staged.issues.values())}
    out = parsed.select(
        ind=ibis.ifelse(key_outside, ibis.null(dt.int64), key).cast(dt.int32),
        **staged.columns,
        **{m: parsed[m] for m in META_COLUMNS},
        **{_LINE: parsed[_LINE], _REASON: reason.cast(dt.string)},
        **flags,
    ).view()
    return out, staged


def clean(table: TableName, raw: ir.Table) -> Cleaned:
    """Clean one table's raw relation per DATA.md §3 (see the module docstrings per table)."""
    staged, spec = _stage(table, raw)
    accepted = staged.filter(staged[_REASON].isnull())
    rows = accepted.select(*CLEAN_COLUMNS[table], *META_COLUMNS)
    rejected = staged.filter(staged[_REASON].notnull())
    rejects = rejected.select(
        table=ibis.literal(table, dt.string),
        reason=rejected[_REASON],
        **{m: rejected[m] for m in META_COLUMNS},
        raw=rejected[_LINE],
    )
    return Cleaned(rows=rows, rejects=rejects, quality=_quality(table, accepted, spec))


def clean_in_one(table: TableName, raw: ir.Table) -> ir.Table:
    """``clean``'s rows and rejects as ONE relation, split by ``split_cleaned``.

    For small inputs (a micro-batch) the fixed cost of a query dominates: one query instead
    of two halves it. Rows are those whose ``_reject_reason`` is NULL.
    """
    staged, _ = _stage(table, raw)
    return staged.select(*CLEAN_COLUMNS[table], *META_COLUMNS, _LINE, _REASON)


def split_cleaned(
    table: TableName, both: pa.Table, rows_schema: pa.Schema, rejects_schema: pa.Schema
) -> tuple[pa.Table, pa.Table]:
    """``clean_in_one``'s result as ``clean``'s rows and rejects (their schemas given)."""
    accepted = pc.is_null(both[_REASON])
    rows = both.filter(accepted).select(rows_schema.names).cast(rows_schema)
    rejected = both.filter(pc.invert(accepted))
    columns = {
        "table": pa.array([table] * rejected.num_rows, pa.string()),
        "reason": rejected[_REASON],
        **{m: rejected[m] for m in META_COLUMNS},
        "raw": rejected[_LINE],
    }
    rejects = pa.table(columns).select(rejects_schema.names).cast(rejects_schema)
    return rows, rejects


def _quality(table: TableName, accepted: ir.Table, spec: Staged) -> ir.Table:
    """One row per known issue of ``table`` with how many accepted records had it."""
    parts = [
        accepted.aggregate(count=accepted[f"_issue_{i}"].cast(dt.int64).sum().fill_null(0)).select(
            table=ibis.literal(table, dt.string),
            issue=ibis.literal(issue, dt.string),
            count="count",
        )
        for i, issue in enumerate(spec.issues)
    ]
    if not parts:
        schema = ibis.schema({"table": dt.string, "issue": dt.string, "count": dt.int64})
        return ibis.memtable(schema.to_pyarrow().empty_table())
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def data_quality(table: TableName, raw: ir.Table) -> ir.Table:
    """Counts of values kept as NULL because they could not be coerced (``table, issue, count``)."""
    return clean(table, raw).quality


def latest(rows: ir.Table) -> ir.Table:
    """One row per ``ind``: the latest arrival, by (_timestamp, _topic, _partition, _offset)."""
    window = ibis.window(
        group_by=rows.ind,
        order_by=[
            rows._timestamp.desc(),
            rows._topic.desc(),
            rows._partition.desc(),
            rows._offset.desc(),
        ],
    )
    ranked = rows.mutate(_arrival_rank=ibis.row_number().over(window))
    return ranked.filter(ranked._arrival_rank == 0).drop("_arrival_rank")
