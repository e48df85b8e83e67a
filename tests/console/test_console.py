"""The console in a real browser (Debian's chromium through Playwright) over `pinpipe up`.

The emulator posts through both doors while the browser watches the overview and the
analytics; then every analytic, an Explore question and an SQL query are checked against
`pinpipe query` / `pinpipe sql` run as separate commands, a write statement is refused with
its reason, and a record the test posted is found in quarantine with its origin. A public bind
with API keys refuses the console without a key and lets a reader's key in.

Set ``PINPIPE_SCREENSHOTS=docs/console`` (``make screenshots``) to write each page's picture.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from pinpipe.ingest.auth import hash_key
from pinpipe.transform.queries import QUERIES
from tests.fixtures import Spawn
from tests.helpers import run_pinpipe, wait_healthy
from tests.infra.process import free_port

pytestmark = pytest.mark.slow

WAIT_MS = 90_000
"""Upper bound for anything the browser waits for (a failure, never a speed check)."""
KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
MARKER = "console-test-quarantine-marker"
FAST = {
    "PINPIPE_LOG__FSYNC": "false",
    "PINPIPE_STREAM__TRIGGER_INTERVAL_MS": "200",
    "PINPIPE_CONSOLE__REFRESH_MS": "250",
}


@dataclass
class Up:
    url: str
    home: Path
    proc: subprocess.Popen[bytes]


def _up(spawn: Spawn, home: Path, *args: str, **env: str) -> Up:
    port = free_port()
    proc = spawn("up", "--port", str(port), *args, home=home, env={**FAST, **env})
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return Up(url, home, proc)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def shoot(page: Page, name: str) -> None:
    """A picture of the page for docs/, only when PINPIPE_SCREENSHOTS names a folder."""
    folder = os.environ.get("PINPIPE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def number(page: Page, selector: str) -> float:
    text = page.locator(selector).first.inner_text().replace(",", "").strip()
    return float(text) if text not in ("", "–") else 0.0


def cells(page: Page, table: str) -> list[list[str]]:
    """The visible rows of a table, cell texts as shown."""
    rows: list[list[str]] = page.eval_on_selector_all(
        f"#{table} tbody tr",
        "rows => rows.filter(r => !r.hidden)"
        ".map(r => Array.from(r.cells, c => c.innerText.trim()))",
    )
    return rows


def shown(value: Any) -> str:
    """A value as the console's tables show it (a number the same whether 1000 or 1000.0)."""
    if value is None:
        return ""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def cli_json(home: Path, *args: str) -> Any:
    done = run_pinpipe(home, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_landed(page: Page, up: Up) -> dict[str, Any]:
    """Wait until the stream job has committed every record the log holds; the overview."""
    page.wait_for_function(
        """async (url) => {
            const r = await fetch(url + '/ui/api/overview');
            const o = (await r.json()).overview;
            const parts = o.log.partitions;
            return parts.length >= 6 && parts.every(p => p.stream_lag === 0 && p.end > 0);
        }""",
        arg=up.url,
        polling=500,
    )
    overview: dict[str, Any] = requests.get(f"{up.url}/ui/api/overview", timeout=10).json()
    return overview["overview"]


def test_console_follows_the_emulator_and_answers_like_the_cli(
    spawn_pinpipe: Spawn, tmp_path: Path, context: BrowserContext
) -> None:
    up = _up(spawn_pinpipe, tmp_path)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{up.url}/ui/")
    expect(page.locator("h1")).to_contain_text("Overview")
    assert number(page, "#stream-rows") == 0
    chart_before = page.locator("#rows-chart").get_attribute("data-last")
    analytics = context.new_page()
    analytics.goto(f"{up.url}/ui/analytics")
    card = analytics.locator('[data-analytic="users_joined_by_year"]')
    expect(card).to_have_attribute("data-updates", "1")

    quarantined = requests.post(
        f"{up.url}/topics/pinpipe.pin",
        json={"records": [{"value": {"index": MARKER, "title": "not a pin"}}]},
        headers=KAFKA_JSON,
        timeout=10,
    )
    assert quarantined.status_code == 200, quarantined.text
    origin = quarantined.json()["offsets"][0]
    refused = requests.post(
        f"{up.url}/topics/pinpipe.pin", data=b"{not json", headers=KAFKA_JSON, timeout=10
    )
    assert refused.status_code in (400, 422)
    emulator = spawn_pinpipe(
        "emulate", "--mode", "both", "--count", "150", "--rate", "25", "--url", up.url,
        home=tmp_path,
    )  # fmt: skip

    # the overview moves while the emulator posts: rates, acks, rows, the charts
    page.wait_for_function(
        "() => Number(document.querySelector('#records-per-s').innerText.replace(/,/g, '')) > 0"
    )
    page.wait_for_function(
        "() => Number(document.querySelector('#stream-rows').innerText.replace(/,/g, '')) > 0"
    )
    page.wait_for_function(
        "(before) => { const c = document.querySelector('#rows-chart');"
        " return Number(c.dataset.last) > 0 && c.dataset.last !== before; }",
        arg=chart_before,
    )
    assert number(page, "#acks") > 0
    doors = {row[0] for row in cells(page, "doors")}
    assert {"Kafka REST v2", "Kinesis (API Gateway)"} <= doors
    expect(page.locator("#rejections")).to_contain_text("invalid")
    expect(page.locator("#stages")).to_contain_text("running")
    assert emulator.wait(WAIT_MS / 1000) == 0
    overview = wait_landed(page, up)
    assert overview["tables"]["stream"]["total"] > 0
    page.wait_for_function(
        "(n) => Number(document.querySelector('#stream-rows').innerText.replace(/,/g, '')) === n",
        arg=overview["tables"]["stream"]["total"],
    )
    shoot(page, "overview")

    # /metrics carries the overview's figures for Prometheus and Grafana
    metrics = requests.get(f"{up.url}/metrics", timeout=10).text
    stream_pin = overview["tables"]["stream"]["tables"]["pin"]
    assert f'pinpipe_table_rows{{table="pin",zone="stream"}} {float(stream_pin)}' in metrics
    for name in (
        "pinpipe_log_end_offset", "pinpipe_consumer_lag", "pinpipe_stream_freshness_seconds",
        "pinpipe_stage_state", "pinpipe_ingest_records_total", "pinpipe_ingest_rejections_total",
    ):  # fmt: skip
        assert f"\n{name}{{" in metrics, name

    # the analytics page redrew as rows landed
    analytics.wait_for_function(
        "() => Number(document.querySelector('[data-analytic=\"users_joined_by_year\"]')"
        ".dataset.updates) > 1"
    )
    expect(analytics.locator(".bars .bar-row").first).to_be_visible()
    shoot(analytics, "analytics")

    # every analytic, row for row, as `pinpipe query --all` answers it
    answers = cli_json(up.home, "query", "--all")
    assert set(answers) == set(QUERIES)
    for name, expected in answers.items():
        page.goto(f"{up.url}/ui/analytics/{name}")
        expect(page.locator("#result")).to_be_visible()
        got = sorted(tuple(shown(v) for v in row) for row in cells(page, "result"))
        assert got == sorted(tuple(shown(v) for v in row.values()) for row in expected), name
        expect(page.locator("#chart .bar-row").first).to_be_visible()
        if name == "category_by_country":
            shoot(page, "analytic")
            search = page.locator("#search")
            country = expected[0]["country"]
            search.fill(country)
            assert all(country.lower() in " ".join(r).lower() for r in cells(page, "result"))
            with page.expect_download() as download:
                page.get_by_role("link", name="CSV").click()
            lines = Path(download.value.path()).read_text().splitlines()
            assert lines[0].split(",") == list(expected[0]) and len(lines) == len(expected) + 1

    # Explore: the joined tables, a filter, a group-by, a measure
    page.goto(f"{up.url}/ui/explore")
    page.select_option("#table", "joined")
    page.wait_for_url("**table=joined**")
    page.select_option('select[name="f0_col"]', "age")
    page.select_option('select[name="f0_op"]', ">=")
    page.fill('input[name="f0_val"]', "25")
    page.select_option("#group", "country")
    page.select_option("#measure", "count_distinct")
    page.select_option("#column", "user_name")
    page.click("#run")
    expect(page.locator("#sql-ran")).to_contain_text("count(DISTINCT")
    expected_rows = cli_json(
        up.home, "sql",
        'SELECT country, count(DISTINCT user_name) AS n FROM pin JOIN geo USING (ind) '
        'JOIN "user" USING (ind) WHERE age >= 25 GROUP BY country',
    )  # fmt: skip
    got_counts = {row[0]: shown(row[1]) for row in cells(page, "result")}
    assert got_counts == {shown(r["country"]): shown(r["n"]) for r in expected_rows}
    expect(page.locator("#chart .bar-row").first).to_be_visible()
    shoot(page, "explore")

    # the SQL editor answers like `pinpipe sql`, and explains a refusal
    query = "SELECT category, count(*) AS n FROM pin GROUP BY 1 ORDER BY 2 DESC, 1"
    page.goto(f"{up.url}/ui/sql")
    page.fill("#q", query)
    page.click("#run")
    expect(page.locator("#result")).to_be_visible()
    expected_rows = cli_json(up.home, "sql", query)
    got_rows = [[shown(v) for v in row] for row in cells(page, "result")]
    assert got_rows == [[shown(r["category"]), shown(r["n"])] for r in expected_rows]
    shoot(page, "sql")
    page.fill("#q", "DELETE FROM pin WHERE ind > 0")
    page.click("#run")
    expect(page.locator("#refused")).to_contain_text("read-only")
    expect(page.locator("#result")).to_have_count(0)

    # the quarantined record, found by its raw text, with its origin
    page.goto(f"{up.url}/ui/quarantine")
    expect(page.locator("#reasons")).to_contain_text("ind is not an integer")
    page.fill("#q", MARKER)
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(f"**q={MARKER}**")
    (row,) = cells(page, "records")
    assert row[1:7] == [
        "pin", "stream", "ind is not an integer", "pinpipe.pin",
        str(origin["partition"]), str(origin["offset"]),
    ]  # fmt: skip
    assert MARKER in row[7]
    page.goto(f"{up.url}/ui/quarantine")
    shoot(page, "quarantine")
    assert not errors, errors

    # real time: the stream job's one-minute windows, as `pinpipe realtime top` reads them
    def windows() -> Any:
        return cli_json(up.home, "realtime", "top", "--by", "topic", "--minutes", "60")

    expected_windows, previous = windows(), None
    while expected_windows != previous:  # the windows flush every couple of seconds
        time.sleep(3)
        previous, expected_windows = expected_windows, windows()
    assert sum(r["records"] for r in expected_windows) > 0
    page.goto(f"{up.url}/ui/realtime?minutes=60")
    page.wait_for_function(
        """(expected) => {
            const rows = Array.from(document.querySelectorAll('#rt-records_by_topic .bar-row'),
                r => [r.querySelector('.bar-label').innerText,
                      Number(r.querySelector('.bar-value').innerText.replace(/,/g, ''))]);
            return JSON.stringify(rows) === JSON.stringify(expected);
        }""",
        arg=[[r["topic"], r["records"]] for r in expected_windows],
    )
    expect(page.locator("#rt-posts_by_category .bar-row").first).to_be_visible()
    shoot(page, "realtime")

    # a person opening the root lands in the console; with the overview open, a stop drains
    page.goto(up.url)
    expect(page.locator("h1")).to_contain_text("Overview")
    page.wait_for_function("() => document.querySelector('#live-state').className.includes('on')")
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(WAIT_MS / 1000) == 0


def test_public_bind_needs_a_reading_key(
    spawn_pinpipe: Spawn, tmp_path: Path, context: BrowserContext
) -> None:
    keys = [
        {"sha256": hash_key("reader-key")[7:], "name": "reader", "scope": "read"},
        {"sha256": hash_key("producer-key")[7:], "name": "producer", "scope": "produce"},
    ]
    up = _up(
        spawn_pinpipe, tmp_path, "--host", "0.0.0.0", PINPIPE_INGEST__API_KEYS=json.dumps(keys)
    )
    api = requests.get(f"{up.url}/ui/api/overview", timeout=10)
    assert api.status_code == 401 and "API key" in api.json()["error"]
    produced = requests.post(
        f"{up.url}/topics/pinpipe.pin",
        json={"records": [{"value": {"index": 1}}]},
        headers={**KAFKA_JSON, "x-api-key": "producer-key"},
        timeout=10,
    )
    assert produced.status_code == 200

    page = context.new_page()
    response = page.goto(f"{up.url}/ui/explore")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "/ui/login" in page.url
    shoot(page, "login")
    for key, reason in (("wrong-key", "not valid"), ("producer-key", "only produce")):
        page.fill('input[name="key"]', key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#login-error")).to_contain_text(reason)
    assert not [c for c in context.cookies() if c["name"] == "pinpipe_session"]
    page.fill('input[name="key"]', "reader-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_contain_text("Explore")
    (cookie,) = [c for c in context.cookies() if c["name"] == "pinpipe_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert (tmp_path / "console.secret").stat().st_mode & 0o777 == 0o600
    page.goto(f"{up.url}/ui/analytics/%3Cscript%3E")
    body = page.content()
    assert "no analytic named" in body and "Traceback" not in body and str(tmp_path) not in body
    page.get_by_role("button", name="Sign out").click()
    assert "/ui/login" in page.url
