"""``make bench``: run the benchmark sections and update docs/benchmarks.md in place.

Each section lives between ``<!-- bench:<name> -->`` markers, so running one section
(``python benchmarks/run.py --only ingest``) keeps the others' last results.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks.md"
SECTIONS = (
    "targets",
    "pipeline",
    "ingest",
    "log",
    "engines",
    "emulator",
    "lake",
    "realtime",
    "console",
)

HEADER = """# Benchmarks

Written by `make bench` (`benchmarks/run.py`); each section says how it was measured. Every
figure is wall time on the machine named in the section, from one run.
"""


def machine() -> str:
    return (
        f"_{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}_"
    )


def update(doc: str, name: str, body: str) -> str:
    block = f"<!-- bench:{name} -->\n{body.rstrip()}\n\n{machine()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.DOTALL)
    if pattern.search(doc):
        return pattern.sub(lambda _: block, doc)
    return doc.rstrip() + "\n\n" + block + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    doc = OUT.read_text() if OUT.exists() else HEADER
    for name in args.only.split(","):
        try:
            module = importlib.import_module(f"bench_{name}")
        except ModuleNotFoundError:
            print(f"[bench] no section {name!r}, skipped", file=sys.stderr)
            continue
        section = module.run()
        doc = update(doc, name, section)
        OUT.write_text(doc)  # keep finished sections even if a later one fails
        print(section)


if __name__ == "__main__":
    main()
