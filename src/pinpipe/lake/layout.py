"""The lake layout, in one place (DESIGN.md "Lake layout").

```
raw/topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json
tables/batch/{pin,geo,user}
tables/stream/{pin,geo,user}
tables/quarantine/{batch,stream}/{pin,geo,user}
tables/realtime/<aggregate>          (the stream job's one-minute windows)
tables/quality/results               (every data-quality check evaluated)
tables/alerts/{firing,deliveries,dead_letters}
results/<query name>
_checkpoints/<job>
```

Every location is a URI string under the root (a local path today, an object-store URI next),
so the same names serve every storage and every engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pinpipe.lake.line import TableName, table_of_topic
from pinpipe.lake.quarantine import Stage
from pinpipe.lake.storage import Storage, join
from pinpipe.settings import LakeSettings, Settings

Zone = Literal["batch", "stream"]
ZONES: tuple[Zone, ...] = ("batch", "stream")

_RAW_NAME = re.compile(r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d{10,})\.json$")


def raw_object_name(topic: str, partition: int, start_offset: int) -> str:
    """The Confluent S3-sink object name: ``<topic>+<partition>+<start offset, 10 digits>.json``."""
    return f"{topic}+{partition}+{start_offset:010d}.json"


@dataclass(frozen=True)
class RawFile:
    """One committed raw object: where it is and which records it starts with."""

    uri: str
    topic: str
    partition: int
    start_offset: int
    size: int

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Lake:
    """Names of every zone under one root, and the storage that holds them."""

    storage: Storage

    @classmethod
    def at(cls, root: str | Path, *, settings: LakeSettings | None = None) -> Lake:
        """The lake at ``root`` (a path or URI); ``settings`` say how to reach object stores."""
        return cls(Storage.for_root(root, settings=settings))

    @property
    def root(self) -> str:
        return self.storage.root

    @property
    def raw_topics(self) -> str:
        return join(self.root, "raw", "topics")

    def raw_partition_dir(self, topic: str, partition: int) -> str:
        return join(self.raw_topics, topic, f"partition={partition}")

    def raw_file(self, topic: str, partition: int, start_offset: int) -> str:
        return join(
            self.raw_partition_dir(topic, partition),
            raw_object_name(topic, partition, start_offset),
        )

    def raw_files(self, table: TableName | None = None) -> list[RawFile]:
        """Committed raw objects, optionally only those of topics feeding ``table``, sorted."""
        found: list[RawFile] = []
        for topic_dir in self.storage.list_dirs(self.raw_topics):
            if table is not None and table_of_topic(topic_dir.rsplit("/", 1)[-1]) != table:
                continue
            for entry in self.storage.list_files(topic_dir):
                name = entry.uri.rsplit("/", 1)[-1]
                match = _RAW_NAME.match(name)
                parent = entry.uri.rsplit("/", 2)[-2]
                if match and parent.startswith("partition="):
                    found.append(
                        RawFile(
                            entry.uri,
                            match["topic"],
                            int(match["partition"]),
                            int(match["offset"]),
                            entry.size,
                        )
                    )
        return found

    def foreign_raw_files(self) -> list[str]:
        """Files under the raw zone that ``raw_files`` never reads: not named as the sink names
        its objects, outside a ``partition=N`` folder, or of a topic that feeds no table."""
        foreign: list[str] = []
        for topic_dir in self.storage.list_dirs(self.raw_topics):
            feeds = table_of_topic(topic_dir.rsplit("/", 1)[-1]) is not None
            for entry in self.storage.list_files(topic_dir):
                name = entry.uri.rsplit("/", 1)[-1]
                parent = entry.uri.rsplit("/", 2)[-2]
                if not (feeds and _RAW_NAME.match(name) and parent.startswith("partition=")):
                    foreign.append(entry.uri)
        return foreign

    def table(self, zone: Zone, table: TableName) -> str:
        return join(self.root, "tables", zone, table)

    def quarantine(self, table: TableName, stage: Stage) -> str:
        """The rejects of one stage: each stage has its own table, so each table has one
        writer (object stores give Delta no safe commit for two writers of one table)."""
        return join(self.root, "tables", "quarantine", stage, table)

    def realtime(self, name: str) -> str:
        """A windowed aggregate the stream job maintains (``posts_by_category``, ...)."""
        return join(self.root, "tables", "realtime", name)

    @property
    def quality_results(self) -> str:
        """Every data-quality check evaluated, appended (one row per check and window/run)."""
        return join(self.root, "tables", "quality", "results")

    def alerts(self, name: str) -> str:
        """Alert state: ``firing`` episodes, ``deliveries``, ``dead_letters``."""
        return join(self.root, "tables", "alerts", name)

    def result(self, name: str) -> str:
        return join(self.root, "results", name)

    def checkpoint(self, job: str) -> str:
        """Private state of a job that keeps its own checkpoint (Spark Structured Streaming)."""
        return join(self.root, "_checkpoints", job)


def open_lake(settings: Settings) -> Lake:
    """The lake the settings name (``lake.root``, relative to home unless a URI)."""
    return Lake.at(settings.lake_root, settings=settings.lake)
