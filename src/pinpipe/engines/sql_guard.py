"""The read-only SQL guard: one SELECT over the named views, judged on a parsed tree.

Queries reach it from people (``pinpipe sql``, the console), so it refuses rather than trusts:
the query is parsed with sqlglot (shipped with Ibis) in the engine's dialect, and refused unless
it is one SELECT (or set operation, or WITH ... SELECT) whose tables are plain names and whose
functions cannot reach files, the environment or the JVM. The interactive DuckDB engine also
runs with ``enable_external_access = false``, so a gap here still cannot read a file.
"""

from __future__ import annotations

import re
from typing import Final

import sqlglot
from sqlglot import expressions as exp

from pinpipe.errors import ConfigError

_READ_ONLY_ROOTS: Final = (exp.Select, exp.SetOperation, exp.Subquery)

_WRITING_NODES: Final = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Command", "Copy",
        "Pragma", "Set", "Attach", "Detach", "Use", "Transaction", "Commit", "Rollback",
        "LoadData", "Install", "Export", "Grant", "Revoke", "TruncateTable",
    )
    if hasattr(exp, name)
)  # fmt: skip

_FORBIDDEN_FUNCTIONS: Final = re.compile(
    r"^(read_\w*|\w+_scan|glob|getenv|query|query_table|sniff_csv|parquet_\w+|delta_\w+|"
    r"reflect|try_reflect|java_method|read_files|input_file_name|load_extension|"
    r"current_setting|set_config|system|shell)$",
    re.IGNORECASE,
)
_PATHLIKE: Final = re.compile(r"[/\\:]|\.\w+$")


def _refuse(what: str) -> ConfigError:
    return ConfigError(
        f"only read-only queries over the named views are allowed: {what!r} is not permitted"
    )


def _function_name(node: exp.Func) -> str:
    return node.name if isinstance(node, exp.Anonymous) else node.sql_name()


def check_read_only(query: str, *, dialect: str = "duckdb") -> str:
    """``query`` without a trailing semicolon, or ConfigError saying why it is refused."""
    body = query.strip().rstrip(";").rstrip()
    if not body:
        raise ConfigError("the SQL query is empty: write one SELECT (or WITH ... SELECT) query")
    try:
        statements = [s for s in sqlglot.parse(body, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"the SQL query does not parse: {first}") from exc
    if len(statements) != 1:
        raise ConfigError("only one SQL statement is allowed: remove the extra ';' statements")
    tree = statements[0]
    if not isinstance(tree, _READ_ONLY_ROOTS):
        raise ConfigError("only read-only queries are allowed: start the query with SELECT or WITH")
    for node in tree.walk():
        if isinstance(node, _WRITING_NODES):
            raise _refuse(node.key.upper())
        if isinstance(node, exp.Func) and _FORBIDDEN_FUNCTIONS.match(_function_name(node)):
            raise _refuse(_function_name(node).upper())
        if isinstance(node, exp.Table):
            if node.args.get("db") or node.args.get("catalog"):
                raise _refuse(node.sql(dialect=dialect))
            name = node.this
            if not isinstance(name, exp.Identifier) or _PATHLIKE.search(name.name):
                raise _refuse(node.sql(dialect=dialect))
    return body
