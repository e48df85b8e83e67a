"""Emulator: how fast the source tables are generated and rows are turned into payloads.

Generation is ``generate(11_154)`` (the reference table size, seed 100). Its baseline is
Faker (en_US, seeded) filling the same three tables' fields with its stock providers
(``uuid4``, ``sentence``, ``paragraph``, ``name``, ``date_time``, ``latitude``, ...): the
cost of naive Faker rows, without the reference's shapes and shares. Sampling is
``sample_rows`` + ``payloads`` for 100,000 rows, the work the poster does before each
request; its baseline is ``orjson.dumps`` of the same three payloads, the poster's next step.
Each figure is the best of 3 repeats in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import orjson
from faker import Faker

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.emulator.sampler import payloads, sample_rows

ROWS = 11_154
SAMPLES = 100_000
REPEATS = 3
SEED = 100


def _best(work: Callable[[], object]) -> float:
    """The shortest of ``REPEATS`` wall times of ``work()``, in seconds."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def faker_rows(rows: int, seed: int = SEED) -> list[tuple[dict[str, Any], ...]]:
    """The baseline: ``rows`` pin/geo/user rows of stock Faker values, same field counts."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    out: list[tuple[dict[str, Any], ...]] = []
    for i in range(rows):
        pin = {
            "index": i,
            "unique_id": fake.uuid4(),
            "title": fake.sentence(),
            "description": fake.paragraph(),
            "poster_name": fake.name(),
            "follower_count": str(fake.random_int(0, 100_000)),
            "tag_list": ",".join(fake.words(5)),
            "is_image_or_video": fake.random_element(("image", "video")),
            "image_src": fake.image_url(),
            "downloaded": fake.random_int(0, 1),
            "save_location": fake.file_path(),
            "category": fake.word(),
        }
        geo = {
            "ind": i,
            "timestamp": fake.date_time(),
            "latitude": float(fake.latitude()),
            "longitude": float(fake.longitude()),
            "country": fake.country(),
        }
        user = {
            "ind": i,
            "first_name": fake.first_name(),
            "last_name": fake.last_name(),
            "age": fake.random_int(20, 60),
            "date_joined": fake.date_time(),
        }
        out.append((pin, geo, user))
    return out


def _sample(tables: SourceTables) -> list[tuple[dict[str, Any], ...]]:
    return [payloads(tables, row) for row in islice(sample_rows(len(tables), SEED), SAMPLES)]


def _dump(rows: list[tuple[dict[str, Any], ...]]) -> int:
    return sum(len(orjson.dumps(record)) for row in rows for record in row)


def measure() -> dict[str, float]:
    """Seconds per step (best of ``REPEATS``), keyed as in the table."""
    tables = generate(ROWS, SEED)
    sampled = _sample(tables)
    return {
        "generate": _best(lambda: generate(ROWS, SEED)),
        "faker": _best(lambda: faker_rows(ROWS)),
        "sample": _best(lambda: _sample(tables)),
        "dumps": _best(lambda: _dump(sampled)),
    }


def run() -> str:
    """The markdown section, measured now."""
    seconds = measure()
    steps = [
        ("generate", f"`generate({ROWS:,})`", ROWS),
        ("faker", "baseline: stock Faker rows, same fields", ROWS),
        ("sample", "`sample_rows` + `payloads`", SAMPLES),
        ("dumps", "baseline: `orjson.dumps` of those payloads", SAMPLES),
    ]
    lines = [
        "## Emulator: generating and sampling rows",
        "",
        (__doc__ or "").strip(),
        "",
        "| step | rows | seconds | rows/s |",
        "|---|---:|---:|---:|",
    ]
    for key, label, rows in steps:
        lines.append(f"| {label} | {rows:,} | {seconds[key]:.3f} | {rows / seconds[key]:,.0f} |")
    ratio = seconds["faker"] / seconds["generate"]
    lines += ["", f"`generate` runs at {ratio:.1f}× the rows/s of the Faker baseline."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
