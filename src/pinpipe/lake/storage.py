"""Where the lake's bytes live, behind one filesystem interface (``pyarrow.fs``).

A lake root is a URI: a local path (``/data/lake``, ``file:///data/lake``) or an object store
(``s3://bucket/prefix``). Every stage reads and writes through ``Storage``, so none of them
knows which. ``pyarrow.fs`` is already a dependency (Arrow and delta-rs read through it), speaks
local disks and S3 behind one interface, and brings the AWS SDK's credential chain and retries.
"""

from __future__ import annotations

import configparser
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from pinpipe.errors import ConfigError, LakeFullError, StorageError
from pinpipe.settings import LakeSettings

DEFAULT_REGION = "us-east-1"
_LIST_ATTEMPTS = 5


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
class S3Options:
    """How to reach S3: endpoint, region and addressing; credentials stay with the AWS chain."""

    endpoint_url: str = ""
    region: str = DEFAULT_REGION
    path_style: bool = False
    retries: int = 10

    @classmethod
    def from_settings(cls, lake: LakeSettings) -> S3Options:
        env = os.environ
        endpoint = (
            lake.endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL", "")
        )
        region = (
            lake.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        )
        path_style = lake.addressing == "path" or (lake.addressing == "auto" and bool(endpoint))
        return cls(endpoint.rstrip("/"), region, path_style, lake.retries)

    def filesystem(self) -> pafs.S3FileSystem:
        scheme = urlparse(self.endpoint_url).scheme if self.endpoint_url else "https"
        return pafs.S3FileSystem(
            region=self.region,
            endpoint_override=self.endpoint_url or None,
            scheme=scheme,
            force_virtual_addressing=not self.path_style,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=self.retries),
            request_timeout=30,
            connect_timeout=10,
        )

    def delta_options(self) -> dict[str, str]:
        """delta-rs ``storage_options``: the same endpoint, region, addressing and credentials."""
        options = {"AWS_REGION": self.region}
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
            if self.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false" if self.path_style else "true"
        options.update(_shared_credentials())
        return options


def _shared_credentials() -> dict[str, str]:
    """Keys from ``~/.aws/credentials`` when the environment has none.

    delta-rs reads the environment and instance profiles itself but not the shared credentials
    file; the AWS SDK behind ``pyarrow.fs`` reads all three. The keys stay in memory.
    """
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")).expanduser()
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser()
    parser.read(path)
    profile = os.environ.get("AWS_PROFILE", "default")
    if not parser.has_section(profile):
        return {}
    section = parser[profile]
    found = {
        "AWS_ACCESS_KEY_ID": section.get("aws_access_key_id", ""),
        "AWS_SECRET_ACCESS_KEY": section.get("aws_secret_access_key", ""),
        "AWS_SESSION_TOKEN": section.get("aws_session_token", ""),
    }
    return {k: v for k, v in found.items() if v}


_FULL = ("No space left on device", "(os error 28)", "Disk quota exceeded", "(os error 122)")
"""How a full disk reads in the errors of libraries without an errno (delta-rs, Arrow C++)."""


def is_disk_full(exc: BaseException) -> bool:
    """``exc`` says a write found no space (ENOSPC, EDQUOT), from Python, Arrow or delta-rs."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(marker in str(exc) for marker in _FULL)


@contextmanager
def disk_full_errors(uri: str, what: str) -> Iterator[None]:
    """A write of ``uri`` that found the disk full becomes ``LakeFullError`` naming it, so the
    stage pauses (``pinpipe up``) or the command says what to free; other errors pass."""
    try:
        yield
    except LakeFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise LakeFullError(uri, what, _first_line(exc)) from exc
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _fix_for(exc: OSError) -> str:
    text = str(exc)
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        return "create the bucket first, or point lake.root at an existing one"
    if "AccessDenied" in text or "Forbidden" in text or "InvalidAccessKeyId" in text:
        return "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
    if "resolve" in text.lower() or "connect" in text.lower():
        return "check lake.endpoint_url / AWS_ENDPOINT_URL_S3 and that the server is up"
    return "check lake.root and the storage's health"


_OPENED: dict[str, Storage] = {}
"""Object-store roots opened in this process, so a bare URI finds how to reach its store."""


@dataclass(frozen=True)
class Storage:
    """Reads, lists and writes files under one lake root."""

    root: str
    filesystem: pafs.FileSystem = field(compare=False, repr=False)
    fsync: bool = True
    """Local disks only: fsync each written file and its folder before it counts as written."""
    s3: S3Options | None = field(default=None, compare=False)

    @classmethod
    def for_root(
        cls, root: str | Path, *, settings: LakeSettings | None = None, fsync: bool = True
    ) -> Storage:
        uri = normalize_root(root)
        scheme = urlparse(uri).scheme
        if is_local(uri):
            return cls(uri, pafs.LocalFileSystem(), fsync)
        if scheme in ("s3", "s3a"):
            options = S3Options.from_settings(settings or LakeSettings())
            storage = cls("s3://" + uri.split("://", 1)[1], options.filesystem(), fsync, options)
            _OPENED[storage.root] = storage
            return storage
        raise ConfigError(
            f"lake root {uri!r}: use a local path or an s3://bucket/prefix URI "
            f"({scheme}:// is not supported)"
        )

    @classmethod
    def for_uri(cls, uri: str) -> Storage:
        """The storage that reaches ``uri``: the lake opened at its root, else a default one.

        Table stores and engines are handed URIs, not lakes; this finds the endpoint, region
        and credentials the lake holding the URI was opened with.
        """
        if is_local(uri):
            return cls(normalize_root(uri), pafs.LocalFileSystem())
        normalized = "s3://" + uri.split("://", 1)[1]
        roots = [
            root for root in _OPENED if normalized == root or normalized.startswith(root + "/")
        ]
        if roots:
            return _OPENED[max(roots, key=len)]
        return cls.for_root(uri)

    @property
    def local(self) -> bool:
        return is_local(self.root)

    def _path(self, uri: str) -> str:
        """The path ``filesystem`` understands for ``uri`` (no scheme)."""
        return uri.removeprefix("file://").removeprefix("s3://")

    def _uri(self, path: str) -> str:
        return path if self.local else "s3://" + path

    @contextmanager
    def _errors(self, uri: str, action: str) -> Iterator[None]:
        """OS errors from the store become StorageError naming the object and the fix."""
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as exc:
            if self.local:
                raise
            bucket, _, key = self._path(uri).partition("/")
            raise StorageError(
                f"could not {action} s3://{bucket}/{key} (bucket {bucket!r}, key {key!r}): "
                f"{exc}; {_fix_for(exc)}"
            ) from exc

    def _infos(self, prefix: str, *, recursive: bool) -> list[pafs.FileInfo]:
        """What is below ``prefix``; nothing when it is absent.

        A writer renaming or creating entries during the walk can make one listing fail with
        FileNotFoundError (``allow_not_found`` covers only the prefix itself), so the walk is
        retried; it is empty only when the prefix really does not exist.
        """
        path = self._path(prefix)
        selector = pafs.FileSelector(path, recursive=recursive, allow_not_found=True)
        with self._errors(prefix, "list"):
            for _ in range(_LIST_ATTEMPTS):
                try:
                    return list(self.filesystem.get_file_info(selector))
                except FileNotFoundError:
                    if self.filesystem.get_file_info(path).type == pafs.FileType.NotFound:
                        return []
            return list(self.filesystem.get_file_info(selector))

    def list_files(self, prefix: str) -> list[FileEntry]:
        """Every file below ``prefix`` (recursive), sorted by URI; none when it is absent."""
        infos = self._infos(prefix, recursive=True)
        found = [
            FileEntry(self._uri(info.path), info.size or 0)
            for info in infos
            if info.type == pafs.FileType.File
        ]
        return sorted(found, key=lambda e: e.uri)

    def list_dirs(self, prefix: str) -> list[str]:
        """The folders directly below ``prefix``, sorted; none when it is absent."""
        infos = self._infos(prefix, recursive=False)
        return sorted(
            self._uri(info.path) for info in infos if info.type == pafs.FileType.Directory
        )

    def read_bytes(self, uri: str) -> bytes:
        with self._errors(uri, "read"), self.filesystem.open_input_stream(self._path(uri)) as f:
            return bytes(f.read())

    def exists(self, uri: str) -> bool:
        with self._errors(uri, "look up"):
            return self.filesystem.get_file_info(self._path(uri)).type != pafs.FileType.NotFound

    def delete(self, uri: str) -> None:
        with self._errors(uri, "delete"):
            self.filesystem.delete_file(self._path(uri))

    def write_atomically(self, uri: str, data: bytes) -> None:
        """Write ``data`` so a reader sees the old object, the new one, or none.

        Object stores make a single PUT visible whole; a local disk gets a temporary file,
        fsync and a rename, then an fsync of the folder so the rename survives a power cut.
        A write that fails (a full disk: ``LakeFullError``) removes its temporary file, so
        no partial object is left to take space or be read.
        """
        if not self.local:
            with (
                self._errors(uri, "write"),
                self.filesystem.open_output_stream(self._path(uri)) as out,
            ):
                out.write(data)
            return
        path = Path(self._path(uri))
        tmp = path.with_name(f".{path.name}.tmp")
        with disk_full_errors(uri, "write"):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(tmp, "wb") as out:
                    out.write(data)
                    out.flush()
                    if self.fsync:
                        os.fsync(out.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, path)
        if self.fsync:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def delta_options(self) -> dict[str, str]:
        """``storage_options`` for delta-rs on this root (none for a local disk)."""
        return self.s3.delta_options() if self.s3 is not None else {}
