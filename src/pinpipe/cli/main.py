"""The ``pinpipe`` command: one sub-command per stage, plus ``up`` and ``demo``.

Settings come from ``pinpipe.toml`` < ``PINPIPE_<SECTION>__<KEY>`` < the flags given here.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast, get_args

import typer
from rich.console import Console

from pinpipe import __version__
from pinpipe.cli.output import Format, emit
from pinpipe.errors import PinpipeError
from pinpipe.settings import Settings, load_settings

if TYPE_CHECKING:
    from pinpipe.engines import Engine
    from pinpipe.lake import Lake

app = typer.Typer(
    name="pinpipe",
    help="The Pinterest-style Lambda data pipeline: ingest, log, lake, batch, stream, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

_GLOBAL: dict[str, Any] = {}

QUALITY_FAILED = 3
"""Exit status of `pinpipe quality` when a blocking check fails (schedulers key on it)."""

Once = Annotated[bool, typer.Option("--once", help="Process what is there, then exit.")]
ViewOpt = Annotated[
    str, typer.Option("--view", help="batch, stream or merged (batch + newer stream rows).")
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json, csv or chart.")]
EngineOpt = Annotated[
    str | None, typer.Option("--engine", help="duckdb or spark [setting `engine`: duckdb].")
]


def settings(**overrides: Any) -> Settings:
    """Settings with the global flags and this command's flags on top."""
    return load_settings(**{**_GLOBAL, **{k: v for k, v in overrides.items() if v is not None}})


@app.callback()
def _main(
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="PINPIPE_HOME", help="Working directory [./.pinpipe]."),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option("--lake", help="Lake root, a path or URI [setting lake.root: <home>/lake]."),
    ] = None,
    engine: EngineOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every step.")] = False,
) -> None:
    """pinpipe: the whole pipeline on one machine, the same code on Kafka and Spark."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if home is not None:
        _GLOBAL["home"] = home
    if lake is not None:
        _GLOBAL["lake.root"] = lake
    if engine is not None:
        _GLOBAL["engine"] = _engine(engine)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


@app.command("seed-db")
def seed_db_cmd(
    db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL [sqlite:///<home>/source.db].")
    ] = None,
    rows: Annotated[int | None, typer.Option(help="Rows per table [11154].")] = None,
    seed: Annotated[int | None, typer.Option(help="Generator seed [100].")] = None,
) -> None:
    """Generate the three source tables and write them to a SQL database."""
    from pinpipe.emulator.generator import generate
    from pinpipe.emulator.source_db import seed_db

    cfg = settings(**{"emulator.rows": rows, "emulator.seed": seed})
    url = db or default_db_url(cfg)
    counts = seed_db(url, generate(cfg.emulator.rows, cfg.emulator.seed))
    for table, n in counts.items():
        console.print(f"{table}: {n:,} rows")
    console.print(f"wrote {url}")


def default_db_url(cfg: Settings) -> str:
    cfg.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{cfg.resolve('source.db')}"


@app.command()
def emulate(
    mode: Annotated[
        str, typer.Option(help="batch (Kafka REST), stream (Kinesis) or both.")
    ] = "both",
    count: Annotated[int | None, typer.Option(help="Rows to post [until interrupted].")] = None,
    rate: Annotated[
        float | None, typer.Option(help="Rows per second [as fast as possible].")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed [100].")] = None,
    rows: Annotated[
        int | None,
        typer.Option(
            min=1, help="Distinct source rows (inds) to sample from [emulator.rows: 11154]."
        ),
    ] = None,
    db: Annotated[str | None, typer.Option(help="Read rows from this SQLAlchemy URL.")] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Posters sending at once [emulator.concurrency: 1]."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Ingest API URL [http://127.0.0.1:8082].")] = None,
    prefix: Annotated[str | None, typer.Option(help="Topic/stream prefix [pinpipe].")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="PINPIPE_API_KEY", help="Sent as x-api-key.")
    ] = None,
) -> None:
    """Post sampled rows like the reference user-posting emulators."""
    from pinpipe.emulator.poster import Mode
    from pinpipe.emulator.runner import emulate as run_emulator
    from pinpipe.emulator.runner import summary

    if mode not in get_args(Mode):
        raise typer.BadParameter("choose batch, stream or both", param_hint="--mode")
    cfg = settings(
        **{
            "emulator.seed": seed,
            "emulator.url": url,
            "emulator.prefix": prefix,
            "emulator.rows": rows,
            "emulator.concurrency": concurrency,
        }
    )
    stats = run_emulator(cfg, mode=cast(Mode, mode), count=count, rate=rate, db=db, api_key=api_key)
    console.print(summary(stats))
    if stats.failed:
        raise typer.Exit(1)


@app.command("serve")
def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [8082].")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes sharing the port [1].")
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option("--access-log/--no-access-log", help="JSON access log on stderr [on]."),
    ] = None,
) -> None:
    """Run the ingest API (Kafka REST v2/v3, Kinesis proxy and native Kinesis)."""
    from pinpipe.ingest.server import serve

    cfg = settings(
        **{
            "ingest.host": host,
            "ingest.port": port,
            "ingest.workers": workers,
            "ingest.access_log": access_log,
        }
    )
    if cfg.ingest.access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access = logging.getLogger("pinpipe.ingest.access")
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    from pinpipe.log import verify_log

    verify_log(cfg)  # never serve a damaged log file: `pinpipe doctor` first
    serve(cfg)


@app.command()
def doctor(
    recover: Annotated[
        bool, typer.Option("--recover", help="Copy what is readable into a new log file.")
    ] = False,
    to: Annotated[
        Path | None, typer.Option(help="The recovered file [<log>.recovered.db beside it].")
    ] = None,
) -> None:
    """Check the embedded log file of a home; with --recover, save what can be saved.

    Exits 0 when the file is healthy, 1 when it is damaged (after --recover too: move the
    recovered file in place yourself once its report looks right).
    """
    from pinpipe.log.doctor import diagnose
    from pinpipe.log.doctor import recover as recover_log

    cfg = settings()
    if cfg.log.backend != "embedded":
        raise typer.BadParameter("doctor checks the embedded log; Kafka checks its own logs")
    found = diagnose(cfg.log_path)
    if found.healthy:
        console.print(f"{cfg.log_path}: healthy (integrity check and offsets)")
        return
    console.print(f"{cfg.log_path}: damaged", markup=False)
    for problem in found.problems:
        console.print(f"  {problem}", markup=False)
    if not recover:
        console.print("Run `pinpipe doctor --recover` to copy what is readable into a new file.")
        raise typer.Exit(1)
    target = to or cfg.log_path.with_suffix(".recovered.db")
    report = recover_log(cfg.log_path, target)
    console.print(f"recovered {report.records:,} records into {target}", markup=False)
    for note in report.notes:
        console.print(f"  {note}", markup=False)
    if report.lost:
        console.print("could not recover these offsets (they were in damaged pages):")
        for (topic, partition), ranges in sorted(report.lost.items()):
            spans = ", ".join(f"{a}..{b - 1}" for a, b in ranges)
            console.print(f"  {topic}[{partition}]: {spans}", markup=False)
    else:
        console.print("every offset of every partition was recovered")
    console.print(f"Stop pinpipe, keep {cfg.log_path} aside, and move {target} in its place.")
    raise typer.Exit(1)


@app.command()
def backup(
    to: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
) -> None:
    """Back up the embedded log while pinpipe runs: every record acknowledged before it starts.

    The lake is not copied: back it up with its storage (S3 versioning, snapshots), or
    rebuild it from the log (`pinpipe sink --once`, `pinpipe batch`).
    """
    from pinpipe.log.doctor import backup as backup_log

    cfg = settings()
    if cfg.log.backend != "embedded":
        raise typer.BadParameter("backup copies the embedded log; back Kafka up with Kafka's tools")
    records = backup_log(cfg.log_path, to)
    console.print(f"backed up {records:,} records of {cfg.log_path} to {to}", markup=False)


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file `pinpipe backup` wrote.")],
) -> None:
    """Restore a backup as the log of this home (which must have none yet)."""
    from pinpipe.log.doctor import restore as restore_log

    cfg = settings()
    records = restore_log(source, cfg.log_path)
    console.print(f"restored {records:,} records into {cfg.log_path}", markup=False)


@app.command("keys")
def keys_cmd(
    action: Annotated[str, typer.Argument(help="new (make a key) or hash (hash a given key).")],
    key: Annotated[str | None, typer.Argument(help="The key to hash (else read stdin).")] = None,
) -> None:
    """Make or hash ingest API keys; configuration keeps only the hash."""
    from pinpipe.ingest.auth import hash_key, new_key

    if action == "new":
        made = new_key()
        console.print(f"key:  {made}\nhash: {hash_key(made)}")
        console.print("Give the key to the client; put the hash in ingest.api_keys.")
    elif action == "hash":
        given = key if key is not None else sys.stdin.readline().strip()
        if not given:
            raise typer.BadParameter("no key given")
        console.print(hash_key(given))
    else:
        raise typer.BadParameter(f"unknown action {action!r}: use new or hash")


@app.command()
def sink(once: Once = False) -> None:
    """Write the log to the raw zone (S3-sink layout), committing offsets per file."""
    from pinpipe.lake import open_lake
    from pinpipe.log import open_log
    from pinpipe.runtime.signals import stop_on_signals
    from pinpipe.sink.lake_sink import LakeSink

    cfg = settings()
    stop = stop_on_signals()
    with open_log(cfg) as log_:
        job = LakeSink(log_, open_lake(cfg), cfg.sink)
        job.run(stop, once=once)
    console.print(f"sink: {job.records_written:,} records in {job.files_written:,} files")


@app.command()
def batch(
    engine: EngineOpt = None,
    date: Annotated[
        str | None, typer.Option(help="Merge only this UTC ingest day (YYYY-MM-DD).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Merge each day from this one (YYYY-MM-DD) ...")
    ] = None,
    until: Annotated[str | None, typer.Option(help="... to this one, inclusive [today].")] = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild from the whole raw zone.")] = False,
    skip_results: Annotated[
        bool, typer.Option("--skip-results", help="Leave results/ for `pinpipe results`.")
    ] = False,
    quality_gate: Annotated[
        bool,
        typer.Option(
            "--quality-gate",
            help="After each day, run its quality checks; stop with exit 3 on a block failure.",
        ),
    ] = False,
) -> None:
    """Clean the raw zone into batch Delta tables and run every query into results/.

    Without --date or --since the whole raw zone is rebuilt (--full says so explicitly).
    """
    from pinpipe.engines import get_engine
    from pinpipe.jobs.batch import run_batch
    from pinpipe.lake import open_lake

    days = _days(date, since, until)
    if full and days:
        raise typer.BadParameter("--full rebuilds everything: drop --date/--since/--until")
    if quality_gate and not days:
        raise typer.BadParameter("--quality-gate judges days: give --date or --since")
    cfg = settings(engine=_engine(engine))
    lake, runner = open_lake(cfg), get_engine(settings=cfg)
    runs: list[dt.date | None] = [*days] if days else [None]
    for day in runs:
        report = run_batch(lake, runner, day=day, results=not skip_results)
        label = f"{day}: " if day else ""
        for table, n in report.rows.items():
            console.print(
                f"{label}{table}: {report.raw_records[table]:,} raw → {n:,} rows, "
                f"{report.rejects[table]:,} quarantined"
            )
        console.print(
            f"{label}cleaned in {report.clean_seconds:.2f}s, {len(report.results)} queries in "
            f"{report.query_seconds:.2f}s"
        )
        if quality_gate and day is not None:
            _gate(lake, runner, day, cfg)


@app.command()
def results(engine: EngineOpt = None) -> None:
    """Refresh the query results (results/: nine analytics, sentiment) from the batch tables."""
    from pinpipe.engines import get_engine
    from pinpipe.jobs.batch import BatchReport, run_queries
    from pinpipe.lake import open_lake

    cfg = settings(engine=_engine(engine))
    report = BatchReport()
    run_queries(open_lake(cfg), get_engine(settings=cfg), report)
    console.print(f"{len(report.results)} results refreshed")


@app.command()
def quality(
    date: Annotated[
        str | None,
        typer.Option(help="Judge this UTC ingest day (YYYY-MM-DD) and exit 3 on a block failure."),
    ] = None,
    max_reject_share: Annotated[
        float | None,
        typer.Option(
            help="The default *_reject_share checks fail above this share of rejects "
            "[quality.max_reject_share: 0.25]."
        ),
    ] = None,
) -> None:
    """Data quality: the latest report, or with --date the gate of one day (after `batch --date`).

    The gate evaluates every configured check over the day, records the results in
    tables/quality/results and exits 3 when a `block` check fails.
    """
    from pinpipe.cli.quality import print_report
    from pinpipe.engines import interactive_engine
    from pinpipe.lake import open_lake

    cfg = settings(**{"quality.max_reject_share": max_reject_share})
    if date is None:
        print_report(console, open_lake(cfg), interactive_engine())
        return
    day = _day(date, "--date")
    _gate(open_lake(cfg), interactive_engine(), day, cfg)
    console.print("quality gate passed")


def _gate(lake: Lake, engine: Engine, day: dt.date, cfg: Settings) -> None:
    """Evaluate and print the day's checks; exit 3 naming each failed ``block`` check."""
    from pinpipe.cli.quality import print_gate
    from pinpipe.jobs.quality import day_quality

    verdict = day_quality(lake, engine, day, cfg.quality)
    print_gate(console, verdict.results)
    if not verdict.passed:
        for failed in verdict.failed:
            err_console.print(f"[red]quality gate failed:[/red] {failed.describe()}", markup=True)
        err_console.print(
            f"{len(verdict.failed)} blocking check(s) failed for {day}; rejects by reason: "
            '`pinpipe sql "SELECT reason, count(*) FROM quarantine GROUP BY 1"`'
        )
        raise typer.Exit(QUALITY_FAILED)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the command line instead of running it.")
    ] = False,
) -> None:
    """Run a pinpipe command as the engine's own job: spark-submit to `spark.master` on Spark.

    Example: `pinpipe --engine spark submit batch --date 2026-11-01`. Exits with the job's
    status (3 from a failed quality gate, as the command itself would).
    """
    import shlex
    import subprocess

    from pinpipe.engines import job_command

    if not ctx.args:
        raise typer.BadParameter("name the pinpipe command to run, e.g. `submit batch --full`")
    command = job_command(ctx.args, settings())
    if dry_run:
        console.print(shlex.join(command), markup=False, highlight=False)
        return
    raise typer.Exit(subprocess.run(command).returncode)


@app.command()
def maintain(
    engine: EngineOpt = None,
    raw_retention_days: Annotated[
        int | None, typer.Option(help="Expire covered raw days older than this [0: never].")
    ] = None,
    vacuum_hours: Annotated[
        int | None, typer.Option(help="VACUUM retention in hours [168].")
    ] = None,
) -> None:
    """Keep the lake small: trim covered stream rows, expire old raw days, compact, VACUUM."""
    from pinpipe.engines import get_engine
    from pinpipe.jobs.maintain import maintain as run_maintain
    from pinpipe.lake import open_lake
    from pinpipe.log.base import wall_clock_ms

    cfg = settings(
        engine=_engine(engine),
        **{
            "maintain.raw_retention_days": raw_retention_days,
            "maintain.vacuum_retention_hours": vacuum_hours,
        },
    )
    report = run_maintain(
        open_lake(cfg), get_engine(settings=cfg), cfg.maintain, now_ms=wall_clock_ms()
    )
    console.print(
        f"trimmed {sum(report.trimmed.values()):,} covered stream rows; expired "
        f"{report.raw_deleted:,} raw objects ({report.raw_kept_uncovered:,} old ones kept: "
        f"not batched yet); compacted away {sum(report.compacted.values()):,} files; "
        f"vacuumed {sum(report.vacuumed.values()):,} files"
    )


lake_app = typer.Typer(help="The lake: is a day's raw data complete?", no_args_is_help=True)
app.add_typer(lake_app, name="lake")


@lake_app.command("ready")
def lake_ready(
    date: Annotated[str, typer.Option(help="The UTC ingest day (YYYY-MM-DD).")],
) -> None:
    """Exit 0 once the day's raw data is complete in the lake (the sink passed the day), else 1."""
    from pinpipe.log import open_log
    from pinpipe.log.base import wall_clock_ms
    from pinpipe.sink.lake_sink import SINK_GROUP
    from pinpipe.sink.progress import day_progress

    cfg = settings()
    day = _day(date, "--date")
    with open_log(cfg) as log_:
        progress = day_progress(log_, day, wall_clock_ms(), SINK_GROUP)
    for line in progress.pending:
        console.print(f"not yet: {line}")
    if not progress.complete:
        raise typer.Exit(1)
    console.print(f"{day}: raw data complete")


realtime_app = typer.Typer(
    help="The stream job's one-minute windows: what is hot, what is trending.",
    no_args_is_help=True,
)
app.add_typer(realtime_app, name="realtime")


@realtime_app.command("top")
def realtime_top(
    by: Annotated[str, typer.Option(help="category, country or topic.")] = "category",
    minutes: Annotated[int, typer.Option(help="Over the last 5, 15 or 60 minutes.")] = 5,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 10,
    fmt: FormatOpt = "table",
) -> None:
    """The categories (countries, topics) with the most records in the last minutes."""
    from pinpipe.engines import interactive_engine
    from pinpipe.lake import open_lake
    from pinpipe.serve.realtime import WINDOW_CHOICES, Ranked, top

    names = {"category": "posts_by_category", "country": "events_by_country"}
    names["topic"] = "records_by_topic"
    if by not in names:
        raise typer.BadParameter("choose category, country or topic", param_hint="--by")
    if minutes not in WINDOW_CHOICES:
        raise typer.BadParameter("choose 5, 15 or 60", param_hint="--minutes")
    found = top(
        open_lake(settings()), interactive_engine(), cast(Ranked, names[by]), minutes, limit=limit
    )
    emit(console, {f"top {by} over the last {minutes} minutes": found}, _format(fmt), many=False)


@realtime_app.command("trending")
def realtime_trending(
    baseline: Annotated[int, typer.Option(min=1, help="Minutes of baseline.")] = 15,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 10,
    fmt: FormatOpt = "table",
) -> None:
    """Categories by the last minute's posts against their baseline: (posts+1)/(baseline+1)."""
    from pinpipe.engines import interactive_engine
    from pinpipe.lake import open_lake
    from pinpipe.serve.realtime import trending

    found = trending(
        open_lake(settings()), interactive_engine(), baseline_minutes=baseline, limit=limit
    )
    emit(console, {"trending categories": found}, _format(fmt), many=False)


airflow_app = typer.Typer(help="Run pinpipe from Apache Airflow.", no_args_is_help=True)
app.add_typer(airflow_app, name="airflow")


@airflow_app.command("bundle-config")
def airflow_bundle_config(
    name: Annotated[str, typer.Option(help="The bundle's name in Airflow.")] = "pinpipe",
) -> None:
    """Print the `[dag_processor] dag_bundle_config_list` entry that loads pinpipe's DAGs."""
    import json

    from pinpipe.scheduling import bundle_config

    print(json.dumps(bundle_config(name), indent=2))


alerts_app = typer.Typer(
    help="Alert rules, their firing state, test deliveries.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list() -> None:
    """The configured rules and every episode in tables/alerts/firing."""
    from pinpipe.alerts.state import AlertState
    from pinpipe.cli.alerts import print_alerts
    from pinpipe.engines import interactive_engine
    from pinpipe.lake import open_lake

    cfg = settings()
    state = AlertState(open_lake(cfg), interactive_engine().tables)
    print_alerts(console, cfg.alerts, state.load())


@alerts_app.command("test")
def alerts_test(rule: Annotated[str, typer.Argument(help="The rule's name.")]) -> None:
    """Send a test delivery of RULE to its webhook (recorded like any delivery); exit 1 if it
    ends in the dead-letter table."""
    from pinpipe.alerts import AlertEngine
    from pinpipe.engines import interactive_engine
    from pinpipe.lake import open_lake

    cfg = settings()
    alerts = AlertEngine(open_lake(cfg), interactive_engine(), cfg.alerts)
    if not alerts.test(rule):
        err_console.print(
            f"[red]test delivery of {rule} failed[/red]: see tables/alerts/dead_letters"
        )
        raise typer.Exit(1)
    console.print(f"test delivery of {rule} delivered")


def _days(date: str | None, since: str | None, until: str | None) -> list[dt.date]:
    """The UTC days the flags name (none: a full rebuild)."""
    if date and (since or until):
        raise typer.BadParameter("give --date or --since/--until, not both")
    if until and not since:
        raise typer.BadParameter("--until needs --since")
    if date:
        return [_day(date, "--date")]
    if not since:
        return []
    first = _day(since, "--since")
    last = _day(until, "--until") if until else dt.datetime.now(dt.UTC).date()
    if last < first:
        raise typer.BadParameter("--until is before --since")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _day(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("write the day as YYYY-MM-DD", param_hint=flag) from None


@app.command()
def stream(once: Once = False, engine: EngineOpt = None) -> None:
    """Clean records from the log into the stream Delta tables, exactly once."""
    from pinpipe.jobs.stream import stream_job
    from pinpipe.runtime.signals import stop_on_signals

    cfg = settings(engine=_engine(engine))
    stop = stop_on_signals()
    job = stream_job(cfg)
    job.run(stop, once=once)
    s = job.stats
    console.print(
        f"stream ({cfg.engine}): {s.records:,} records → {s.rows:,} rows, {s.rejects:,} quarantined"
    )


@app.command()
def query(
    name: Annotated[str | None, typer.Argument(help="Query name (see --list).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every query.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the query names.")] = False,
    view: ViewOpt = "merged",
    fmt: FormatOpt = "table",
    engine: EngineOpt = None,
) -> None:
    """Run the analytics over the batch, stream or merged view."""
    from pinpipe.engines import get_engine
    from pinpipe.lake import open_lake
    from pinpipe.serve.query import run_queries
    from pinpipe.transform.queries import QUERIES

    if list_:
        for q in QUERIES:
            print(q)
        return
    if (name is None) == (not all_):
        raise typer.BadParameter("give a query NAME or --all (see --list)")
    cfg = settings(engine=_engine(engine))
    names = list(QUERIES) if all_ else [name or ""]
    results = run_queries(open_lake(cfg), get_engine(settings=cfg), names, _view(view))
    emit(console, results, _format(fmt), many=all_)


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help='e.g. "SELECT count(*) FROM pin"')],
    view: ViewOpt = "merged",
    fmt: FormatOpt = "table",
) -> None:
    """Read-only SQL over views pin, geo, user and quarantine (on the embedded engine)."""
    from pinpipe.engines import interactive_engine
    from pinpipe.lake import open_lake
    from pinpipe.serve.query import run_sql

    cfg = settings()
    result = run_sql(open_lake(cfg), interactive_engine(), statement, _view(view))
    emit(console, {"result": result}, _format(fmt), many=False)


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="Ingest API port [8082].")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1].")] = None,
) -> None:
    """Run ingest, sink, stream job and batch scheduler until SIGINT/SIGTERM."""
    from pinpipe.runtime.supervisor import Supervisor

    cfg = settings(**{"ingest.port": port, "ingest.host": host})
    supervisor = Supervisor(cfg)
    supervisor.install_signal_handlers()
    where = f"http://{cfg.ingest.host}:{cfg.ingest.port}"
    err_console.print(f"pinpipe up: {where} (home {cfg.home}); Ctrl-C stops")
    if cfg.console.enabled:
        err_console.print(f"console: {where}/ui/")
    raise typer.Exit(supervisor.run())


@app.command("console")
def console_cmd(
    port: Annotated[int | None, typer.Option(help="Port [console.port: 8083].")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1].")] = None,
) -> None:
    """Serve the web console read-only over an existing lake (--lake: a path or s3://...)."""
    from pinpipe.console.server import serve_console

    serve_console(settings(**{"console.port": port, "console.host": host}))


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Rows to post (each is 6 records).")] = 1000,
    port: Annotated[int | None, typer.Option(help="Ingest API port [a free one].")] = None,
) -> None:
    """Run the whole pipeline on fresh demo data and print every analytic."""
    from pinpipe.cli.output import render_compact
    from pinpipe.runtime.demo import run_demo, watch_live

    outcome = run_demo(settings(), rows=rows, port=port, say=console.print)
    for name, table in outcome.results.items():
        render_compact(console, name, table)
    console.print()
    for line in watch_live(settings()):
        console.print(line)
    raise typer.Exit(outcome.exit_code)


def _view(value: str) -> Any:
    if value not in ("batch", "stream", "merged"):
        raise typer.BadParameter("choose batch, stream or merged", param_hint="--view")
    return value


def _engine(value: str | None) -> str | None:
    from pinpipe.settings import ENGINE_NAMES

    if value is not None and value not in ENGINE_NAMES:
        raise typer.BadParameter(f"choose {' or '.join(ENGINE_NAMES)}", param_hint="--engine")
    return value


def _format(value: str) -> Format:
    if value not in get_args(Format):
        raise typer.BadParameter("choose table, json, csv or chart", param_hint="--format")
    return value  # type: ignore[return-value]


def main() -> None:
    """Entry point: pinpipe errors become one line naming the fix, exit status 2."""
    try:
        app()
    except PinpipeError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
