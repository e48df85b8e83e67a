"""API keys: stored as SHA-256 digests, compared in constant time, with per-key topic lists.

A key is presented as ``x-api-key`` (API Gateway's header), ``Authorization: Bearer <key>``,
or, for AWS SDKs and the AWS CLI, as the *access key id* of a SigV4 ``Authorization`` header
(the signature is not verified: pinpipe keeps only hashes, so it has no secret to check it
with). API keys are long random tokens, so one unsalted SHA-256 is enough; a slow password
hash would only slow every request down.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from pinpipe.errors import IngestError
from pinpipe.settings import ApiKey

_SIGV4 = re.compile(r"Credential=([^/,\s]+)/")


def hash_key(key: str) -> str:
    """The configuration form of ``key``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe)."""
    return "pp_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the configured key (None when the server has no keys)."""

    name: str
    key: ApiKey | None
    bucket_id: str
    """What rate limits count against: the key's digest, or the client address."""

    def may(self, action: Literal["produce", "read"]) -> bool:
        """Whether the key's scope allows ``action`` (no keys configured: everything)."""
        return self.key is None or self.key.may(action)

    def may_use(self, topic: str) -> bool:
        if self.key is None or not self.key.topics:
            return True
        return any(fnmatchcase(topic, pattern) for pattern in self.key.topics)


class Authenticator:
    """Finds the configured key a request presents, or refuses it."""

    def __init__(self, keys: tuple[ApiKey, ...], *, required: bool = False) -> None:
        self.keys = keys
        self.required = required or bool(keys)
        """Keys are checked (with none configured, every request is refused)."""
        self._digests = [bytes.fromhex(k.sha256) for k in keys]

    @property
    def enabled(self) -> bool:
        return self.required

    def authenticate(self, headers: dict[str, str], client: str) -> Principal:
        if not self.required:
            return Principal("anonymous", None, client)
        given = presented_key(headers)
        if not given:
            raise IngestError(
                401,
                40101,
                "an API key is required: send 'x-api-key: <key>', 'Authorization: Bearer <key>' "
                "or, from an AWS SDK, the key as the access key id",
            )
        digest = hashlib.sha256(given.encode()).digest()
        found: ApiKey | None = None
        for key, stored in zip(self.keys, self._digests, strict=True):
            # Compare with every key (no early exit) so timing says nothing about the keys.
            if hmac.compare_digest(digest, stored):
                found = key
        if found is None:
            raise IngestError(401, 40101, "the API key is not valid")
        return Principal(found.name or found.sha256[:8], found, found.sha256)


def presented_key(headers: dict[str, str]) -> str | None:
    given = headers.get("x-api-key")
    if given:
        return given
    scheme, _, rest = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    if scheme == "AWS4-HMAC-SHA256":
        found = _SIGV4.search(rest)
        return found.group(1) if found else None
    return None


def require(principal: Principal | None, action: Literal["produce", "read"]) -> None:
    """403 unless the caller's key scope allows ``action``: a producer's key reads nothing."""
    if principal is not None and principal.key is not None and not principal.may(action):
        only = "produce" if action == "read" else "read"
        raise IngestError(
            403, 40302, f"this API key may only {only} records (scope {principal.key.scope!r})"
        )


def forbid(principal: Principal, topic: str) -> None:
    """403 unless ``principal`` may use ``topic``."""
    if not principal.may_use(topic):
        raise IngestError(403, 40301, f"this API key may not use topic {topic!r}")
