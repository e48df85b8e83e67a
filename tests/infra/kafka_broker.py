"""A real single-node Apache Kafka (KRaft) broker for tests and ``make kafka``, without Docker.

The broker's jars come from Maven Central through Maven (``dependency:copy-dependencies`` on a
generated pom), cached in ``~/.cache/pinpipe/kafka-<version>/libs`` and reused afterwards, so
nothing is downloaded outside the package registries. The broker runs as
``java -cp 'libs/*' kafka.Kafka server.properties`` on free loopback ports, combined
broker+controller, with a small heap so it shares two cores with everything else.

``python -m tests.infra.kafka_broker start`` leaves a broker running in the background and
prints its bootstrap address as its last line; ``stop`` stops it (state in
``~/.cache/pinpipe/broker``, or ``$PINPIPE_KAFKA_STATE``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.infra.process import free_port, small_jvm, terminate

KAFKA_VERSION = os.environ.get("PINPIPE_KAFKA_VERSION", "4.4.0")
CACHE_ROOT = Path(os.environ.get("PINPIPE_CACHE", Path.home() / ".cache" / "pinpipe"))
START_TIMEOUT_S = 90.0
HEAP = os.environ.get("PINPIPE_KAFKA_HEAP", "-Xms128m -Xmx512m")

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pinpipe.test</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


class BrokerError(RuntimeError):
    """The broker could not be obtained or started; the message says what failed."""


def kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """The directory holding the broker's classpath, resolved with Maven on first use."""
    home = CACHE_ROOT / f"kafka-{version}"
    libs = home / "libs"
    marker = home / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise BrokerError("the Kafka test broker needs 'java' (17+) and 'mvn' on PATH")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(version=version))
    shutil.rmtree(libs, ignore_errors=True)
    command = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(home / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(
            f"Maven could not resolve Apache Kafka {version}:\n{done.stdout[-3000:]}"
            f"{done.stderr[-3000:]}"
        )
    marker.write_text(version)
    return libs


def _cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={path}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

_LOG4J2 = """Configuration:
  Appenders:
    File:
      name: file
      fileName: "{path}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: file
"""


def _properties(data_dir: Path, port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir / "data"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.flush.interval.messages": "9223372036854775807",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class Broker:
    """A running broker process and where it keeps its files (``workdir``, its data in
    ``workdir/data``), on ports fixed in ``workdir/server.properties``."""

    process: subprocess.Popen[bytes]
    bootstrap: str
    workdir: Path
    libs: Path

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and delete its files."""
        self.halt(timeout=timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def halt(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop the broker process with ``sig`` (SIGTERM then SIGKILL after ``timeout``; or
        SIGKILL at once: a crash), keeping its files so that ``restart`` brings it back."""
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        terminate(self.process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def restart(self) -> None:
        """Start the halted broker again on the same ports and data: every record and
        committed offset it held is there again (after a kill -9, once it recovered its log)."""
        if self.process.poll() is None:
            raise BrokerError("the broker is still running; halt() it first")
        self.process = _launch(self.libs, self.workdir, detach=False)
        _wait_ready(self)


def _java(libs: Path, main: str, *args: str, log_config: Path) -> list[str]:
    return [
        *small_jvm(HEAP),
        f"-Dlog4j.configuration=file:{log_config}",
        f"-Dlog4j2.configurationFile={log_config.with_suffix('.yaml')}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def start(workdir: Path, version: str = KAFKA_VERSION, *, detach: bool = False) -> Broker:
    """Resolve the jars, format fresh storage in ``workdir`` and start the broker."""
    libs = kafka_libs(version)
    workdir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    props = workdir / "server.properties"
    props.write_text(_properties(workdir, port, controller_port))
    log_file = workdir / "broker.log"
    log_config = workdir / "log4j.properties"
    log_config.write_text(_LOG4J.format(path=log_file))
    log_config.with_suffix(".yaml").write_text(_LOG4J2.format(path=log_file))
    fmt = _java(
        libs,
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={_cluster_id()}",  # '=': an id may start with '-'
        "-c",
        str(props),
        "--ignore-formatted",
        log_config=log_config,
    )
    done = subprocess.run(fmt, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(f"formatting Kafka storage failed:\n{done.stdout}{done.stderr}")
    broker = Broker(_launch(libs, workdir, detach=detach), f"127.0.0.1:{port}", workdir, libs)
    try:
        _wait_ready(broker)
    except BaseException:
        broker.stop()
        raise
    return broker


def _launch(libs: Path, workdir: Path, *, detach: bool) -> subprocess.Popen[bytes]:
    """The broker process on ``workdir``'s formatted storage and ``server.properties``."""
    log_config = workdir / "log4j.properties"
    props = workdir / "server.properties"
    with (workdir / "console.log").open("ab") as console:
        return subprocess.Popen(
            _java(libs, "kafka.Kafka", str(props), log_config=log_config),
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )


def _wait_ready(broker: Broker) -> None:
    """Until the broker answers metadata requests (it then accepts produces too)."""
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + START_TIMEOUT_S
    host, port = broker.bootstrap.rsplit(":", 1)
    admin: AdminClient | None = None
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            tail = (broker.workdir / "console.log").read_text(errors="replace")[-3000:]
            raise BrokerError(f"the Kafka broker exited with {broker.process.returncode}:\n{tail}")
        if admin is None:  # the port first, so librdkafka does not log refused connections
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
            except OSError:
                time.sleep(0.1)
                continue
            admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 3})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            time.sleep(0.2)
            continue
        if metadata.brokers:
            return
    raise BrokerError(f"the Kafka broker did not answer within {START_TIMEOUT_S:.0f} s")


# -- the ``make kafka`` / ``make kafka-stop`` command line ---------------------------------------

STATE_DIR = Path(os.environ.get("PINPIPE_KAFKA_STATE", CACHE_ROOT / "broker"))


def _cli_start() -> int:
    pid_file = STATE_DIR / "broker.pid"
    if pid_file.exists():
        pid, bootstrap = pid_file.read_text().split()
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 0)
            print(bootstrap)
            return 0
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    broker = start(STATE_DIR, detach=True)
    pid_file.write_text(f"{broker.process.pid} {broker.bootstrap}\n")
    print(f"Apache Kafka {KAFKA_VERSION} running (pid {broker.process.pid}, files {STATE_DIR})")
    print(broker.bootstrap)
    return 0


def _cli_stop() -> int:
    pid_file = STATE_DIR / "broker.pid"
    if not pid_file.exists():
        print("no pinpipe Kafka broker is running")
        return 0
    pid = int(pid_file.read_text().split()[0])
    terminate(pid, 30.0)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    print(f"stopped the Kafka broker (pid {pid})")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["start"]:
        return _cli_start()
    if argv == ["stop"]:
        return _cli_stop()
    print("usage: python -m tests.infra.kafka_broker start|stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
