"""Console sign-in: which keys may read, the signed cookie, the secret kept in the home."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinpipe.console.session import Sessions
from pinpipe.errors import PinpipeError
from pinpipe.ingest.auth import hash_key
from pinpipe.settings import load_settings

KEYS = [
    {"sha256": hash_key("reader")[7:], "scope": "read"},
    {"sha256": hash_key("both")[7:]},
    {"sha256": hash_key("producer")[7:], "scope": "produce"},
    {"sha256": hash_key("pins-only")[7:], "topics": ["*.pin"]},
]


def sessions(home: Path) -> Sessions:
    return Sessions(load_settings(home=home, **{"ingest.api_keys": KEYS}))


def test_reading_keys_sign_in_and_their_cookie_lets_them_back(tmp_path: Path) -> None:
    s = sessions(tmp_path)
    for key in ("reader", "both"):
        cookie = s.sign_in(key)
        assert key not in cookie
        found = s.reader(cookie, {})
        assert found is not None and found.sha256 == hash_key(key)[7:]
    assert (tmp_path / "console.secret").stat().st_mode & 0o777 == 0o600
    assert sessions(tmp_path).reader(cookie, {}) is not None  # the secret outlives a restart


@pytest.mark.parametrize(
    ("key", "why"),
    [("producer", "only produce"), ("pins-only", "only some topics"), ("nope", "not valid")],
)
def test_other_keys_are_refused_with_the_reason(tmp_path: Path, key: str, why: str) -> None:
    with pytest.raises(PinpipeError, match=why):
        sessions(tmp_path).sign_in(key)


def test_forged_or_foreign_cookies_are_refused(tmp_path: Path) -> None:
    s = sessions(tmp_path)
    cookie = s.sign_in("reader")
    assert s.reader(cookie[:-2] + "xx", {}) is None
    other = sessions(tmp_path / "elsewhere")
    assert other.reader(cookie, {}) is None
    assert s.reader(None, {"x-api-key": "reader"}) is not None
    assert s.reader(None, {"x-api-key": "producer"}) is None


def test_no_keys_no_sign_in_and_no_secret(tmp_path: Path) -> None:
    s = Sessions(load_settings(home=tmp_path))
    assert not s.required and not (tmp_path / "console.secret").exists()
