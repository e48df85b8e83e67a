"""Apache Airflow in a virtualenv of its own, for the DAG tests and ``make airflow``.

Airflow's pins must never meet pinpipe's, so Airflow is installed into
``~/.cache/pinpipe/airflow-<key>/`` (or ``$PINPIPE_CACHE/airflow-<key>/``) from the committed
``airflow/constraints.txt`` and ``airflow/requirements.txt``; ``<key>`` hashes both files and
the Python version, so a change of either builds a new venv and an unchanged one is reused at
once. The first build streams pip's output (it takes minutes) and keeps it in
``install.log``; pip's download cache makes a rebuild quick. A SQLite metadata DB migrated
once per venv is copied into each Airflow home, so a test does not pay ``airflow db migrate``.

``python -m tests.infra.airflow_env ensure`` builds (or finds) the venv and prints its path
last; ``exports DIR [PINPIPE_HOME]`` prints the ``export`` lines of an Airflow home in ``DIR``
that serves pinpipe's DAG bundle on that pinpipe home (default ``$PINPIPE_HOME`` or
``./.pinpipe``), for a shell to ``eval``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pinpipe.scheduling import bundle_config

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "airflow" / "constraints.txt"
REQUIREMENTS = REPO / "airflow" / "requirements.txt"
CACHE_ROOT = Path(os.environ.get("PINPIPE_CACHE", Path.home() / ".cache" / "pinpipe"))
PYTHON_VERSION = (3, 11)
"""The Python the constraints were resolved for."""

_DONE = ".complete"
_DB = "airflow.db"
_TEMPLATE_DB = "metadata-template.db"

Echo = Callable[[str], None]


class AirflowEnvError(RuntimeError):
    """The venv could not be built or an Airflow command failed; the message says how."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def venv_key() -> str:
    """What the venv is made from: both pin files and the Python version, hashed."""
    digest = hashlib.sha256()
    for path in (CONSTRAINTS, REQUIREMENTS):
        digest.update(path.read_bytes())
    digest.update(repr(PYTHON_VERSION).encode())
    return digest.hexdigest()[:12]


def venv_dir() -> Path:
    return CACHE_ROOT / f"airflow-{venv_key()}"


def airflow_bin() -> Path:
    return venv_dir() / "bin" / "airflow"


def _python() -> str:
    """A Python of ``PYTHON_VERSION`` to base the venv on (this one when it fits)."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return sys.executable
    found = shutil.which("python{}.{}".format(*PYTHON_VERSION))
    if found is None:
        raise AirflowEnvError("python{}.{} is needed for Airflow's venv".format(*PYTHON_VERSION))
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two test runs never build one venv at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _stream(argv: list[str], log: Path, echo: Echo, env: Mapping[str, str] | None = None) -> None:
    """Run ``argv``, echoing each output line with the elapsed time and appending it to ``log``."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            echo(f"[airflow venv {time.monotonic() - started:5.0f}s] {line.rstrip()}")
        if proc.wait() != 0:
            raise AirflowEnvError(f"{shlex.join(argv)} exited {proc.returncode}; see {log}")


def ensure_venv(echo: Echo = _stderr) -> Path:
    """Airflow's venv, built from the committed pins the first time and reused afterwards."""
    target = venv_dir()
    if (target / _DONE).exists():
        return target
    with _locked(target.with_suffix(".lock")):
        if (target / _DONE).exists():  # another process built it while we waited
            return target
        shutil.rmtree(target, ignore_errors=True)  # a build that died half-way
        started = time.monotonic()
        echo(f"[airflow venv] building {target} (first time only: a few minutes)")
        subprocess.run([_python(), "-m", "venv", str(target)], check=True)
        log, pip = target / "install.log", str(target / "bin" / "pip")
        _stream(
            [pip, "install", "--progress-bar", "off", "--disable-pip-version-check",
             "-c", str(CONSTRAINTS), "-r", str(REQUIREMENTS)],
            log, echo,
        )  # fmt: skip
        _stream([pip, "check"], log, echo)
        _migrate_template(target, log, echo)
        (target / _DONE).write_text(f"{time.monotonic() - started:.0f}s\n")
        echo(f"[airflow venv] ready in {time.monotonic() - started:.0f}s")
    return target


def _migrate_template(target: Path, log: Path, echo: Echo) -> None:
    """Migrate one SQLite metadata DB that every Airflow home starts from as a copy."""
    home = target / "template-home"
    home.mkdir(exist_ok=True)
    env = airflow_env(home)
    _stream([str(target / "bin" / "airflow"), "db", "migrate"], log, echo, env=env)
    shutil.move(home / _DB, target / _TEMPLATE_DB)
    shutil.rmtree(home)


def pinpipe_command() -> str:
    """The ``pinpipe`` of this process's environment, as the DAG's ``pinpipe_command``."""
    exe = Path(sys.executable).parent / "pinpipe"
    if exe.exists():
        return str(exe)
    return shlex.join([sys.executable, "-m", "pinpipe"])


def variables(**values: str) -> dict[str, str]:
    """Airflow Variables as the environment variables Airflow reads them from."""
    return {f"AIRFLOW_VAR_{key.upper()}": value for key, value in values.items()}


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow whose home (and SQLite DB) is ``home``, serving pinpipe.

    This process's environment without its Airflow, pinpipe and venv variables (they would
    leak settings or pinpipe's packages into Airflow), then ``extra`` on top: e.g.
    ``**variables(pinpipe_home=...)`` or a ``PINPIPE_*`` setting that the tasks inherit.
    """
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PINPIPE_")) and k not in dropped
    }
    return {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / _DB}",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundle_config()),
        **variables(pinpipe_command=pinpipe_command()),
        **extra,
    }


def init_home(home: Path, **extra: str) -> dict[str, str]:
    """Make ``home`` an Airflow home with a migrated DB; returns its ``airflow_env``."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / _DB).exists():
        shutil.copyfile(ensure_venv() / _TEMPLATE_DB, home / _DB)
    return airflow_env(home, **extra)


def run(
    args: list[str], env: Mapping[str, str], timeout: float = 600.0
) -> subprocess.CompletedProcess[str]:
    """``airflow ARGS`` of the venv in ``env``; output captured, the exit code not checked."""
    return subprocess.run(
        [str(airflow_bin()), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def main(argv: list[str]) -> int:
    """``ensure`` | ``exports DIR [PINPIPE_HOME]``: see the module docstring."""
    if argv == ["ensure"]:
        print(ensure_venv())
        return 0
    if len(argv) in (2, 3) and argv[0] == "exports":
        # Tasks run in a temporary directory: the pinpipe home they get must be absolute.
        home = argv[2] if len(argv) == 3 else os.environ.get("PINPIPE_HOME", ".pinpipe")
        env = init_home(
            Path(argv[1]).resolve(), **variables(pinpipe_home=str(Path(home).resolve()))
        )
        path = f"{venv_dir() / 'bin'}:{os.environ.get('PATH', '')}"
        for key, value in sorted({**env, "PATH": path}.items()):
            if key.startswith("AIRFLOW") or key == "PATH":
                print(f"export {key}={shlex.quote(value)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
