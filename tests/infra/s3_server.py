"""Real S3-protocol servers on loopback for tests and ``make s3``, without Docker.

Two servers, because they disagree in the corners a lake depends on:

* ``moto``: moto's server (``python -m moto.server``) from this venv; in memory, any
  credentials accepted, fast to start.
* ``s3proxy``: S3Proxy (``org.gaul:s3proxy``, the ``jar-with-dependencies`` build) from Maven
  Central, fetched with ``mvn dependency:copy`` into ``~/.cache/pinpipe/s3proxy-<version>/`` on
  first use, serving jclouds' ``filesystem`` backend from the workdir and checking AWS v2/v4
  signatures against a fixed test identity, so a wrong credential fails as it would on AWS.

``start(kind, workdir)`` returns once the server answers ``ListBuckets``. ``python -m
tests.infra.s3_server start [moto|s3proxy]`` leaves one running in the background, prints
``export`` lines of its AWS environment and then its endpoint as the last line; ``stop``
stops it (state in ``~/.cache/pinpipe/s3-<kind>/``, or ``$PINPIPE_S3_STATE/s3-<kind>/``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.infra.process import free_port, small_jvm, terminate

if TYPE_CHECKING:
    from botocore.client import BaseClient

KINDS = ("moto", "s3proxy")
S3PROXY_VERSION = os.environ.get("PINPIPE_S3PROXY_VERSION", "4.1.0")
CACHE_ROOT = Path(os.environ.get("PINPIPE_CACHE", Path.home() / ".cache" / "pinpipe"))
START_TIMEOUT_S = 60.0
S3PROXY_HEAP = os.environ.get("PINPIPE_S3PROXY_HEAP", "-Xms64m -Xmx256m")
# Fixed test credentials: s3proxy checks signatures against them, moto accepts anything.
ACCESS_KEY = "pinpipe-test"
SECRET_KEY = "pinpipe-test-secret"
REGION = "us-east-1"

# Files that ``start`` writes in a workdir, and so the only ones ``stop`` removes.
_DATA = "data"
_LOG = "server.log"
_PROPERTIES = "s3proxy.properties"


class S3ServerError(RuntimeError):
    """The server could not be obtained or started; the message says what failed."""


@dataclass
class S3Server:
    """A running S3-protocol server: where it listens and the credentials it accepts."""

    kind: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    pid: int
    workdir: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and delete the files ``start`` made."""
        terminate(self.pid, timeout)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        if self.workdir is not None:
            _remove_files(self.workdir)

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3, the AWS CLI and delta-rs here."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def storage_options(self) -> dict[str, str]:
        """delta-rs / object_store options for this server (plain HTTP must be allowed)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def client(self, **config: Any) -> BaseClient:
        """A boto3 S3 client with this server's endpoint and credentials, not the caller's."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def create_bucket(self, name: str) -> None:
        """Create ``name`` unless it exists: fixtures may share a server and a bucket."""
        from botocore.exceptions import ClientError

        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except ClientError as error:
            if error.response["Error"]["Code"] not in {
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            }:
                raise


def s3proxy_jar(version: str = S3PROXY_VERSION) -> Path:
    """S3Proxy's self-contained jar, fetched from Maven Central with Maven on first use."""
    home = CACHE_ROOT / f"s3proxy-{version}"
    jar = home / "s3proxy.jar"
    if jar.exists():
        return jar
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise S3ServerError("the s3proxy test server needs 'java' (17+) and 'mvn' on PATH")
    home.mkdir(parents=True, exist_ok=True)
    staging = home / f"download-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        "mvn",
        "-B",
        "-q",
        "dependency:copy",
        f"-Dartifact=org.gaul:s3proxy:{version}:jar:jar-with-dependencies",
        f"-DoutputDirectory={staging}",
    ]
    # No pom: run outside any project so Maven does not pick up an unrelated pom.xml.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=home)
    fetched = staging / f"s3proxy-{version}-jar-with-dependencies.jar"
    if done.returncode != 0 or not fetched.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise S3ServerError(
            f"Maven could not fetch org.gaul:s3proxy:{version} (jar-with-dependencies):\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    os.replace(fetched, jar)  # atomic: a concurrent start sees no half-written jar
    shutil.rmtree(staging, ignore_errors=True)
    return jar


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return [*launcher, "-H", "127.0.0.1", "-p", str(port)]


def _s3proxy_properties(workdir: Path, port: int) -> str:
    settings = {
        "s3proxy.endpoint": f"http://127.0.0.1:{port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": ACCESS_KEY,
        "s3proxy.credential": SECRET_KEY,
        "jclouds.provider": "filesystem",
        "jclouds.identity": ACCESS_KEY,
        "jclouds.credential": SECRET_KEY,
        "jclouds.filesystem.basedir": str(workdir / _DATA),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _s3proxy_command(jar: Path, properties: Path) -> list[str]:
    return [
        *small_jvm(S3PROXY_HEAP),
        "-DLOG_LEVEL=warn",
        "-jar",
        str(jar),
        "--properties",
        str(properties),
    ]


def start(kind: str, workdir: Path, *, detach: bool = False) -> S3Server:
    """Start a ``kind`` server with its files in ``workdir``; return once it serves S3.

    ``detach`` puts it in a session of its own, so it outlives the caller (the CLI).
    """
    if kind not in KINDS:
        raise S3ServerError(f"unknown S3 server kind {kind!r}; choose one of {', '.join(KINDS)}")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if kind == "moto":
        command = _moto_command(port)
    else:
        jar = s3proxy_jar()
        (workdir / _DATA).mkdir(exist_ok=True)
        properties = workdir / _PROPERTIES
        properties.write_text(_s3proxy_properties(workdir, port))
        command = _s3proxy_command(jar, properties)
    log = (workdir / _LOG).open("wb")
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=detach,
    )
    log.close()
    server = S3Server(
        kind=kind,
        endpoint=f"http://127.0.0.1:{port}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        pid=process.pid,
        workdir=workdir,
        process=process,
    )
    try:
        _wait_ready(server, process, port)
    except BaseException:
        server.stop()
        raise
    return server


def _log_tail(workdir: Path, size: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return (workdir / _LOG).read_text(errors="replace")[-size:]
    return "(no log)"


def _wait_ready(server: S3Server, process: subprocess.Popen[bytes], port: int) -> None:
    """Until ``ListBuckets`` succeeds: a listening port alone is not a serving S3 endpoint."""
    assert server.workdir is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    client = None
    last_error = "the port never accepted a connection"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise S3ServerError(
                f"the {server.kind} server exited with {process.returncode} while starting:\n"
                f"{_log_tail(server.workdir)}"
            )
        try:  # the port first: cheaper than a boto3 call and no retry noise
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.1)
            continue
        if client is None:
            client = server.client(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1})
        try:
            client.list_buckets()
        except Exception as error:
            last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.2)
            continue
        return
    raise S3ServerError(
        f"the {server.kind} server did not answer ListBuckets within {START_TIMEOUT_S:.0f} s "
        f"({last_error}):\n{_log_tail(server.workdir)}"
    )


def _remove_files(workdir: Path) -> None:
    """Only what ``start`` wrote: the workdir is the caller's and may hold other things."""
    shutil.rmtree(workdir / _DATA, ignore_errors=True)
    for name in (_LOG, _PROPERTIES):
        with contextlib.suppress(FileNotFoundError):
            (workdir / name).unlink()
    with contextlib.suppress(OSError):
        workdir.rmdir()  # only if now empty


# -- the ``make s3`` / ``make s3-stop`` command line ---------------------------------------------


def state_dir(kind: str) -> Path:
    """Where the CLI keeps a background server's files and its state file."""
    root = Path(os.environ.get("PINPIPE_S3_STATE", CACHE_ROOT))
    return root / f"s3-{kind}"


def _state(server: S3Server) -> dict[str, object]:
    """The fields a later ``stop`` needs, as JSON (not the ``Popen``: it dies with us)."""
    return {
        f.name: str(getattr(server, f.name)) if f.name == "workdir" else getattr(server, f.name)
        for f in fields(server)
        if f.name != "process"
    }


def _read_state(kind: str) -> S3Server | None:
    try:
        state = json.loads((state_dir(kind) / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return S3Server(**{**state, "workdir": Path(state["workdir"])})


def _alive(server: S3Server) -> bool:
    try:
        os.kill(server.pid, 0)
    except ProcessLookupError:
        return False
    port = int(server.endpoint.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _print_env(server: S3Server) -> None:
    for key, value in server.env().items():
        print(f"export {key}={shlex.quote(value)}")
    print(server.endpoint)


def _cli_start(kind: str) -> int:
    running = _read_state(kind)
    if running is not None and _alive(running):
        print(f"{kind} already running (pid {running.pid})", file=sys.stderr)
        _print_env(running)
        return 0
    directory = state_dir(kind)
    shutil.rmtree(directory, ignore_errors=True)
    began = time.monotonic()
    server = start(kind, directory, detach=True)
    try:
        (directory / "server.json").write_text(json.dumps(_state(server)))
    except BaseException:
        server.stop()
        raise
    print(
        f"{kind} running (pid {server.pid}, ready in {time.monotonic() - began:.1f} s, "
        f"files {directory})",
        file=sys.stderr,
    )
    _print_env(server)
    return 0


def _cli_stop(kind: str) -> int:
    server = _read_state(kind)
    if server is None:
        print(f"no pinpipe {kind} S3 server is running")
        return 0
    terminate(server.pid, 30.0)
    shutil.rmtree(state_dir(kind), ignore_errors=True)
    print(f"stopped the {kind} S3 server (pid {server.pid})")
    return 0


def main(argv: list[str]) -> int:
    """``start|stop [moto|s3proxy]`` (moto when no kind is given)."""
    if len(argv) in (1, 2) and argv[0] in ("start", "stop"):
        kind = argv[1] if len(argv) == 2 else "moto"
        if kind in KINDS:
            try:
                return _cli_start(kind) if argv[0] == "start" else _cli_stop(kind)
            except S3ServerError as error:
                print(error, file=sys.stderr)
                return 1
    print("usage: python -m tests.infra.s3_server start|stop [moto|s3proxy]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
