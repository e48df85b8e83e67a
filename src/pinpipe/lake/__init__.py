"""The lake: the raw line, the layout of zones and objects, where bytes live, Delta tables."""

from pinpipe.lake.layout import Lake, RawFile, Zone, open_lake
from pinpipe.lake.line import TABLES, TableName

__all__ = ["TABLES", "Lake", "RawFile", "TableName", "Zone", "open_lake"]
