"""Where the lake's bytes live, behind one filesystem interface (``pyarrow.fs``).

A lake root is a URI: a local path (``/data/lake``, ``file:///data/lake``) today; object stores
plug in here, and every stage reads and writes through ``Storage`` so none of them knows which.
``pyarrow.fs`` is already a dependency (Arrow and delta-rs read through it) and speaks local
disks and S3 behind one interface.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from pinpipe.errors import ConfigError


@dataclass(frozen=True)
class FileEntry:
    """One stored file: its URI (what readers are given) and its size in bytes."""

    uri: str
    size: int


def normalize_root(root: str | Path) -> str:
    """The root as a URI without a trailing slash; local paths become absolute paths."""
    text = str(root)
    scheme = urlparse(text).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # len 1: a Windows drive letter
        local = text.removeprefix("file://") if scheme == "file" else text
        return str(Path(local).expanduser().resolve())
    return text.rstrip("/")


def is_local(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file")


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for local paths and URIs alike."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


@dataclass(frozen=True)
class Storage:
    """Reads, lists and writes files under one lake root."""

    root: str
    filesystem: pafs.FileSystem = field(compare=False, repr=False)
    fsync: bool = True
    """Local disks only: fsync each written file and its folder before it counts as written."""

    @classmethod
    def for_root(cls, root: str | Path, *, fsync: bool = True) -> Storage:
        uri = normalize_root(root)
        if not is_local(uri):
            raise ConfigError(
                f"lake root {uri!r}: only local lake roots are supported by this version; "
                "use a local path"
            )
        return cls(uri, pafs.LocalFileSystem(), fsync)

    @property
    def local(self) -> bool:
        return is_local(self.root)

    def _path(self, uri: str) -> str:
        """The path ``filesystem`` understands for ``uri``."""
        return uri.removeprefix("file://")

    def list_files(self, prefix: str) -> list[FileEntry]:
        """Every file below ``prefix`` (recursive), sorted by URI; none when it is absent."""
        selector = pafs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        found = [
            FileEntry(info.path, info.size or 0)
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]
        return sorted(found, key=lambda e: e.uri)

    def list_dirs(self, prefix: str) -> list[str]:
        """The folders directly below ``prefix``, sorted; none when it is absent."""
        selector = pafs.FileSelector(self._path(prefix), recursive=False, allow_not_found=True)
        return sorted(
            info.path
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        )

    def read_bytes(self, uri: str) -> bytes:
        with self.filesystem.open_input_stream(self._path(uri)) as stream:
            return bytes(stream.read())

    def exists(self, uri: str) -> bool:
        return self.filesystem.get_file_info(self._path(uri)).type != pafs.FileType.NotFound

    def delete(self, uri: str) -> None:
        self.filesystem.delete_file(self._path(uri))

    def write_atomically(self, uri: str, data: bytes) -> None:
        """Write ``data`` so a reader sees the old object, the new one, or none.

        Object stores make a single PUT visible whole; a local disk gets a temporary file,
        fsync and a rename, then an fsync of the folder so the rename survives a power cut.
        """
        if not self.local:
            with self.filesystem.open_output_stream(self._path(uri)) as out:
                out.write(data)
            return
        path = Path(self._path(uri))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())
        os.replace(tmp, path)
        if self.fsync:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def delta_options(self) -> dict[str, str]:
        """``storage_options`` for delta-rs on this root (none for a local disk)."""
        return {}
