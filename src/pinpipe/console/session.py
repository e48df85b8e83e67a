"""Sign-in for the console: an API key once, then a signed session cookie.

The cookie holds the key's digest prefix, signed and timestamped with itsdangerous under a
secret generated once in the home (owner-only file). It is checked against the configured keys
on every request, so removing a key from the settings ends its sessions at the next restart,
and only keys whose scope allows reading may sign in.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from pinpipe.errors import ConfigError
from pinpipe.ingest.auth import Authenticator
from pinpipe.ingest.key_file import read_key_file
from pinpipe.ingest.server import resolved
from pinpipe.settings import ApiKey, Settings

COOKIE = "pinpipe_session"
_SALT = "pinpipe-console"
_DIGEST_CHARS = 24


def load_secret(path: Path) -> str:
    """The signing secret at ``path``, created (mode 0600) on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret


class Sessions:
    """Who may read: nobody signs in when the server checks no API keys (loopback only).

    ``authenticator`` gives the keys in force: beside ingest, the ingest app's own (so a
    SIGHUP that reloads ``ingest.api_keys_file`` reaches the console too); alone, the keys
    of the settings and their file.
    """

    def __init__(
        self, settings: Settings, authenticator: Callable[[], Authenticator] | None = None
    ) -> None:
        self._auth = authenticator or _from_settings(settings)
        self.max_age = int(settings.console.session_hours * 3600)
        checked = bool(settings.ingest.api_keys or settings.ingest.api_keys_file)
        secret = load_secret(settings.resolve(settings.console.secret_file)) if checked else ""
        self._signer = URLSafeTimedSerializer(secret or secrets.token_hex(32), salt=_SALT)

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        return self._auth().keys

    @property
    def required(self) -> bool:
        return self._auth().required

    def sign_in(self, key: str) -> str:
        """The cookie value for a valid read key; ConfigError with the reason otherwise."""
        found = self._key({"x-api-key": key})
        return self._signer.dumps(found.sha256[:_DIGEST_CHARS])

    def _key(self, headers: dict[str, str]) -> ApiKey:
        principal = self._auth().authenticate(headers, "")
        if principal.key is None:
            raise ConfigError("the server checks no API keys: nothing to sign in with")
        if not principal.key.may("read"):
            raise ConfigError(
                "this API key may only produce records; the console needs a key with scope "
                "'read' or 'all'"
            )
        if principal.key.topics:
            raise ConfigError(
                "this API key may use only some topics, and the console shows every table: "
                "sign in with a key that has no topic list"
            )
        return principal.key

    def reader(self, cookie: str | None, headers: dict[str, str]) -> ApiKey | None:
        """The key behind a valid cookie (or an ``x-api-key``/Bearer header), else None."""
        if cookie:
            try:
                digest = self._signer.loads(cookie, max_age=self.max_age)
            except BadSignature:
                digest = None
            for key in self.keys:
                if (
                    isinstance(digest, str)
                    and key.sha256.startswith(digest)
                    and key.may("read")
                    and not key.topics
                ):
                    return key
        if "x-api-key" in headers or "authorization" in headers:
            try:
                return self._key(headers)
            except Exception:
                return None
        return None


def _from_settings(settings: Settings) -> Callable[[], Authenticator]:
    """The keys of ``ingest.api_keys`` and ``ingest.api_keys_file``, read once."""
    ingest = resolved(settings)
    path = ingest.api_keys_file
    auth = Authenticator(
        ingest.api_keys + (read_key_file(path) if path else ()), required=bool(path)
    )
    return lambda: auth
