"""Settings: file < environment < flags, frozen sections, the engine and lake-root choices."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from pinpipe.settings import load_settings


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PINPIPE_CONFIG", str(tmp_path / "absent.toml"))
    for name in ("PINPIPE_ENGINE", "PINPIPE_LAKE__ROOT", "PINPIPE_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_settings_precedence_file_env_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pinpipe.toml"
    config.write_text("[sink]\nflush_size = 7\nrotate_interval_ms = 9\n[ingest]\nport = 1000\n")
    monkeypatch.setenv("PINPIPE_CONFIG", str(config))
    monkeypatch.setenv("PINPIPE_SINK__ROTATE_INTERVAL_MS", "11")
    monkeypatch.setenv("PINPIPE_INGEST__PORT", "2000")
    s = load_settings(**{"ingest.port": 3000})
    assert (s.sink.flush_size, s.sink.rotate_interval_ms, s.ingest.port) == (7, 11, 3000)


def test_the_engine_is_one_setting_from_file_environment_or_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().engine == "duckdb"
    config = tmp_path / "pinpipe.toml"
    config.write_text('engine = "spark"\n')
    monkeypatch.setenv("PINPIPE_CONFIG", str(config))
    assert load_settings().engine == "spark"
    monkeypatch.setenv("PINPIPE_ENGINE", "duckdb")
    assert load_settings().engine == "duckdb"
    assert load_settings(engine="spark").engine == "spark"
    with pytest.raises(pydantic.ValidationError, match="duckdb"):
        load_settings(engine="flink")


def test_the_lake_root_is_a_path_under_home_or_a_uri_kept_as_given(tmp_path: Path) -> None:
    assert load_settings(home=tmp_path).lake_root == str((tmp_path / "lake").resolve())
    elsewhere = tmp_path / "elsewhere"
    assert load_settings(home=tmp_path, **{"lake.root": str(elsewhere)}).lake_root == str(elsewhere)
    assert load_settings(home=tmp_path, **{"lake.root": "file:///data/lake"}).lake_root == (
        "/data/lake"
    )
    s3 = load_settings(home=tmp_path, **{"lake.root": "s3://bucket/prefix/"})
    assert s3.lake_root == "s3://bucket/prefix"


def test_sections_are_frozen_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path)
    with pytest.raises(pydantic.ValidationError):
        s.sink.flush_size = 3  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="flush_sise"):
        load_settings(**{"sink.flush_sise": 3})


def test_plain_api_keys_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="pinpipe keys hash"):
        load_settings(**{"ingest.api_keys": ["my-secret-key"]})
    digest = "a" * 64
    s = load_settings(**{"ingest.api_keys": [f"sha256:{digest}"]})
    assert s.ingest.api_keys[0].sha256 == digest
