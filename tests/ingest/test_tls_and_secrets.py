"""HTTPS from a certificate file; API keys from a file re-read on SIGHUP; keys never printed."""

from __future__ import annotations

import datetime as dt
import ipaddress
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pydantic
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pinpipe.errors import ConfigError
from pinpipe.ingest.auth import hash_key, new_key
from pinpipe.ingest.key_file import read_key_file
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import IngestSettings, load_settings
from tests.fixtures import Spawn
from tests.helpers import Running, app_client, run_pinpipe, wait_healthy
from tests.infra.process import free_port

ServerFactory = Callable[..., AbstractContextManager[Running]]
KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
ONE = b'{"records": [{"value": {"n": 1}}]}'


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinpipe test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_server_speaks_https_from_a_certificate_file(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    with server_factory(tls_cert_file=str(cert), tls_key_file=str(key)) as (url, log):
        https = url.replace("http://", "https://")
        assert requests.get(f"{https}/healthz", verify=str(cert)).status_code == 200
        answer = requests.post(
            f"{https}/topics/tls.pin", data=ONE, headers=KAFKA_JSON, verify=str(cert)
        )
        assert answer.status_code == 200
        assert log.end_offset("tls.pin", 0) == 1
        with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust it
            requests.get(f"{https}/healthz")
        with pytest.raises(requests.ConnectionError):  # plain HTTP is not served on the port
            requests.get(f"{url}/healthz")


def test_https_needs_both_files() -> None:
    with pytest.raises(pydantic.ValidationError, match="tls_key_file"):
        IngestSettings(tls_cert_file="cert.pem")


def _write_keys(path: Path, **keys: str) -> None:
    entries = ", ".join(
        f'{{sha256 = "{hash_key(key).removeprefix("sha256:")}", name = "{name}"}}'
        for name, key in keys.items()
    )
    path.write_text(f"api_keys = [{entries}]\n")


def test_a_key_file_holds_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    _write_keys(path, alice="k1")
    (key,) = read_key_file(path)
    assert key.name == "alice" and key.sha256 == hash_key("k1").removeprefix("sha256:")
    path.write_text('api_keys = ["pp_plain_key"]\n')
    with pytest.raises(ConfigError, match="stored hashed") as refused:
        read_key_file(path)
    assert "pp_plain_key" not in str(refused.value)
    path.write_text("api_keys = [\n")
    with pytest.raises(ConfigError, match=r"cannot read ingest\.api_keys_file"):
        read_key_file(path)


def _produce(url: str, **headers: str) -> int:
    answer = requests.post(
        f"{url}/topics/secret.pin", data=ONE, headers={**KAFKA_JSON, **headers}, timeout=10
    )
    return answer.status_code


def _swapped(url: str, old: str, new: str, tries: int) -> bool:
    """``new`` is accepted and ``old`` refused, ``tries`` times in a row (by every worker)."""
    return all(
        _produce(url, **{"x-api-key": new}) == 200 and _produce(url, **{"x-api-key": old}) == 401
        for _ in range(tries)
    )


def _reloads(output: Path) -> int:
    return output.read_text().count("API keys reloaded from ingest.api_keys_file: 1 keys")


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [("up",), ("serve",), ("serve", "--workers", "2")],
    ids=["up", "serve", "serve-workers"],
)
def test_sighup_swaps_the_keys_without_a_restart_and_no_output_shows_a_key(
    tmp_path: Path, spawn_pinpipe: Spawn, command: tuple[str, ...]
) -> None:
    alice, bob = new_key(), new_key()
    keys = tmp_path / "keys.toml"
    _write_keys(keys, alice=alice)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    processes = 2 if "--workers" in command else 1
    output = tmp_path / "out.log"
    with output.open("wb") as out:
        child = spawn_pinpipe(
            "-v",
            *command,
            "--port",
            str(port),
            env={"PINPIPE_INGEST__API_KEYS_FILE": "keys.toml", "PINPIPE_BATCH__EVERY_MINUTES": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(url, child)
        scope = "20260101/us-east-1/kinesis/aws4_request"
        sigv4 = f"AWS4-HMAC-SHA256 Credential={alice}/{scope}, Signature=00"
        assert _produce(url, **{"x-api-key": alice}) == 200
        assert _produce(url, Authorization=f"Bearer {alice}") == 200
        assert _produce(url, Authorization=sigv4) == 200
        assert _produce(url, **{"x-api-key": alice + "x"}) == 401
        assert _produce(url, **{"x-api-key": bob}) == 401
        assert _produce(url) == 401

        _write_keys(keys, bob=bob)  # bob in, alice out, without a restart
        child.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not _swapped(url, alice, bob, 8 * processes) and time.monotonic() < deadline:
            time.sleep(0.05)  # until every server process has re-read the file
        assert _swapped(url, alice, bob, 8 * processes)
        assert _reloads(output) >= 1
        keys.write_text("api_keys = [\n")  # a broken file keeps the keys in use
        child.send_signal(signal.SIGHUP)
        while "API keys not reloaded" not in output.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _produce(url, **{"x-api-key": bob}) == 200
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        assert child.poll() is None
        child.send_signal(signal.SIGTERM)
        assert child.wait(120) == 0
    printed = output.read_text()
    if processes == 1:  # the access log names the key (workers log warnings only)
        assert '"key":"alice"' in printed and '"key":"bob"' in printed
    for secret in (alice, bob):
        assert secret not in printed
        assert secret not in metrics


def test_a_plain_key_put_in_the_settings_is_refused_without_printing_it(tmp_path: Path) -> None:
    secret = new_key()
    result = run_pinpipe(tmp_path, "up", "--port", "0", PINPIPE_INGEST__API_KEYS=f'["{secret}"]')
    assert result.returncode != 0
    assert "stored hashed" in result.stderr + result.stdout
    assert secret not in result.stderr + result.stdout


def test_refusals_do_not_echo_the_presented_key(log: EmbeddedLog) -> None:
    good, wrong = new_key(), new_key()
    with app_client(log, api_keys=[hash_key(good)]) as client:
        for headers in ({"x-api-key": wrong}, {"Authorization": f"Bearer {wrong}"}):
            refused = client.post("/topics/a.pin", content=ONE, headers={**KAFKA_JSON, **headers})
            assert refused.status_code == 401 and wrong not in refused.text
        assert good not in client.get("/metrics").text


def test_settings_never_show_the_brokers_password(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, **{"log.kafka": {"sasl.password": "s3cr3t-pw"}})
    assert "s3cr3t-pw" not in repr(settings) and "s3cr3t-pw" not in str(settings)
