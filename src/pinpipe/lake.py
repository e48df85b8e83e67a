"""The lake layout, in one place (DESIGN.md "Lake layout").

```
raw/topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json
tables/batch/{pin,geo,user}
tables/stream/{pin,geo,user}
tables/quarantine/{pin,geo,user}
results/<query name>
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pinpipe.transform.schema import TableName, table_of_topic

Zone = Literal["batch", "stream", "quarantine"]
_RAW_NAME = re.compile(r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d{10,})\.json$")


@dataclass(frozen=True)
class RawFile:
    path: Path
    topic: str
    partition: int
    start_offset: int


@dataclass(frozen=True)
class Lake:
    root: Path

    @property
    def raw_topics(self) -> Path:
        return self.root / "raw" / "topics"

    def raw_partition_dir(self, topic: str, partition: int) -> Path:
        return self.raw_topics / topic / f"partition={partition}"

    def raw_file(self, topic: str, partition: int, start_offset: int) -> Path:
        """The S3-sink object key: ``<topic>+<partition>+<start offset, 10 digits>.json``."""
        name = f"{topic}+{partition}+{start_offset:010d}.json"
        return self.raw_partition_dir(topic, partition) / name

    def raw_files(self, table: TableName | None = None) -> list[RawFile]:
        """Committed raw files, optionally only those of topics feeding ``table``, sorted."""
        found: list[RawFile] = []
        if not self.raw_topics.is_dir():
            return found
        for topic_dir in sorted(self.raw_topics.iterdir()):
            if table is not None and table_of_topic(topic_dir.name) != table:
                continue
            for path in sorted(topic_dir.glob("partition=*/*.json")):
                match = _RAW_NAME.match(path.name)
                if match:
                    found.append(
                        RawFile(
                            path,
                            match["topic"],
                            int(match["partition"]),
                            int(match["offset"]),
                        )
                    )
        return found

    def table(self, zone: Zone, table: TableName) -> Path:
        return self.root / "tables" / zone / table

    def result(self, name: str) -> Path:
        return self.root / "results" / name
