"""Ingest API benchmark: wrk (compiled, loopback) against ``pinpipe serve`` with fsync on.

``run()`` returns a markdown section for docs/benchmarks.md. wrk is installed with apt when it
is missing (the tests never need it). Every server runs with durable acknowledgements
(``log.fsync = true``) and without access logs, in its own fresh home directory.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from pinpipe.ingest.probe import wait_healthy
from pinpipe.runtime.demo import free_port

DURATION_S = 10
CONNECTIONS = 64
ROW = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "No Title Data Available",
    "description": "No description available Story format",
    "follower_count": "User Info Error",
    "poster_name": "User Info Error",
    "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)",
    "image_src": "Image src error.",
    "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion",
    "category": "mens-fashion",
}


@dataclass
class Result:
    label: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    records_per_request: int
    errors: int

    @property
    def records_per_s(self) -> float:
        return self.requests_per_s * self.records_per_request


def _wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def _start(stack: str, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PINPIPE_HOME": str(home), "PINPIPE_LOG__FSYNC": "true"}
    py = sys.executable
    if stack == "granian":
        granian = str(Path(py).parent / "granian")
        cmd = [
            granian,
            "--interface",
            "asgi",
            "--factory",
            "--loop",
            "uvloop",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-ws",
            "pinpipe.ingest.asgi:app_from_settings",
        ]
    elif stack == "uvicorn-h11":
        cmd = [
            py,
            "-m",
            "uvicorn",
            "--factory",
            "pinpipe.ingest.asgi:app_from_settings",
            "--port",
            str(port),
            "--http",
            "h11",
            "--loop",
            "asyncio",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    else:
        workers = "2" if stack == "pinpipe-2-workers" else "1"
        cmd = [
            py,
            "-m",
            "pinpipe",
            "serve",
            "--port",
            str(port),
            "--workers",
            workers,
            "--no-access-log",
        ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", proc=proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful drain), then SIGKILL after 60 s; the process is reaped."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _script(path: Path, body: bytes, content_type: str, method: str, delay_ms: int = 0) -> Path:
    lua = (
        f'wrk.method = "{method}"\n'
        f"wrk.body = [==[{body.decode()}]==]\n"
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
    )
    if delay_ms:
        lua += f"function delay()\n  return {delay_ms}\nend\n"
    path.write_text(lua)
    return path


def _wrk_run(
    wrk: str, url: str, script: Path, connections: int, label: str, per_request: int
) -> Result:
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{DURATION_S}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=DURATION_S + 60,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(r"Socket errors:.*?timeout (\d+)", out)
    if socket_errors:
        errors += int(socket_errors.group(1))
    return Result(f"{label}, {connections} conn", rate, p50, p99, per_request, errors)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _measure(stack: str, work: Path, wrk: str) -> list[Result]:
    home = Path(tempfile.mkdtemp(prefix=f"ingest-{stack}-", dir=work))
    port = free_port()
    proc = _start(stack, home, port)
    base = f"http://127.0.0.1:{port}"
    kafka_json = "application/vnd.kafka.json.v2+json"
    single = orjson.dumps({"records": [{"value": ROW}]})
    batch = orjson.dumps({"records": [{"value": {**ROW, "index": i}} for i in range(500)]})
    puts = orjson.dumps(
        {"records": [{"data": {**ROW, "index": i}, "partition-key": "p"} for i in range(500)]}
    )
    results: list[Result] = []
    try:
        s1 = _script(work / f"{stack}-1.lua", single, kafka_json, "POST")
        results.append(
            _wrk_run(wrk, f"{base}/topics/bench.pin", s1, CONNECTIONS, "single record", 1)
        )
        if stack in ("pinpipe", "pinpipe-2-workers"):
            paced = _script(work / f"{stack}-paced.lua", single, kafka_json, "POST", delay_ms=10)
            results.append(
                _wrk_run(wrk, f"{base}/topics/bench.pin", paced, 50, "paced ~5k req/s", 1)
            )
            b = _script(work / f"{stack}-b.lua", batch, kafka_json, "POST")
            results.append(_wrk_run(wrk, f"{base}/topics/bench.pin", b, 8, "500 per POST", 500))
            k = _script(work / f"{stack}-k.lua", puts, "application/json", "PUT")
            results.append(
                _wrk_run(wrk, f"{base}/streams/bench-pin/records", k, 8, "PutRecords 500", 500)
            )
    finally:
        stop(proc)
    return results


STACKS = {
    "pinpipe": "`pinpipe serve`: uvicorn + httptools + uvloop, lean ASGI app, 1 process",
    "pinpipe-2-workers": "`pinpipe serve --workers 2`: 2 processes sharing the port",
    "uvicorn-h11": "same app on uvicorn's defaults (h11, asyncio loop)",
    "granian": "same app on granian 2 (ASGI, uvloop, 1 worker)",
}


def run() -> str:
    """Measure every stack; the markdown section for docs/benchmarks.md."""
    wrk = _wrk()
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-ingest-") as tmp:
        work = Path(tmp)
        measured = {stack: _measure(stack, work, wrk) for stack in STACKS}
    lines = [
        "## Ingest API: HTTP produce with durable acknowledgements",
        "",
        f"wrk 4 (2 threads) on loopback against a fresh server, {DURATION_S} s per row, "
        f"{platform.machine()}, {os.cpu_count()} cores shared by wrk and the server. Every "
        "200 is sent only after the group-committed SQLite transaction holding the record "
        "was fsynced (`log.fsync = true`). Records are the 0.5 KB pin rows of the emulator, "
        "posted as Kafka REST v2 JSON (`POST /topics/bench.pin`) or as API Gateway "
        "PutRecords (`PUT /streams/bench-pin/records`). Access logs off.",
        "",
        "| server | load | req/s | records/s | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for stack, results in measured.items():
        for r in results:
            lines.append(
                f"| {stack} | {r.label} | {r.requests_per_s:,.0f} | {r.records_per_s:,.0f} | "
                f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} |"
            )
    lines += ["", "Stacks:", ""]
    lines += [f"- **{name}**: {text}" for name, text in STACKS.items()]
    lines += ["", LIMITS]
    return "\n".join(lines) + "\n"


LIMITS = """Targets (issue: 10,000 single-record requests/s, 200,000 records/s batched, p99 <= 20 ms
at 5,000 requests/s) and what limits them on this machine:

- **Single-record requests/s**: granian reaches the 10,000 target with this app; uvicorn
  (the default, because `pinpipe up` embeds it in a thread and drains it gracefully) gets
  85-95% of that. wrk shares the two cores with the server, so about a third of the CPU goes
  to the load generator; Python's per-request work (HTTP parsing, routing, JSON validation,
  metrics) is the rest. Tried: h11 vs httptools/uvloop vs granian, two worker processes,
  orjson, a lean ASGI layer instead of Starlette routing, one event-loop wake-up per group
  commit instead of per request, cached metric labels.
- **Latency at a steady rate**: the paced rows keep p99 well under 20 ms; wrk's 50 connections
  did not generate a full 5,000 requests/s beside the server on 2 cores.
- **Batched records/s**: about 16 us of Python per record (parsing the request, validating
  each record, re-serialising its value, building the SQLite row) caps one process near
  70,000 records/s; the SQLite append itself runs at 130,000+ records/s (see the log
  section). Two workers contend for SQLite's single write lock, which is why their batched
  rows show multi-second stalls, counted by wrk as timeout errors.
  Reaching 200,000 would need the per-record work out of Python (a native JSON-to-row path)
  or more cores."""


if __name__ == "__main__":
    print(run())
