"""The ``Idempotency-Key`` header: one fresh key per send, so a resend appends nothing.

A client that lost an answer (the connection dropped after the append) resends with the same
key and gets the first send's offsets. A key is never derived from the content: two equal
events are two events. Keys are namespaced by the caller's key name, so two clients cannot
collide, and checked against a digest of the topic and records, so a key reused for another
request is refused (422) instead of silently answering the wrong offsets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pinpipe.errors import IngestError
from pinpipe.ingest.auth import Principal
from pinpipe.log.base import Idempotency, ProduceRecord, fingerprint

HEADER = "idempotency-key"
"""The request header (and v3 record header, any case) that carries the key."""
MAX_KEY_CHARS = 255
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CONFLICT_CODE = 42209


def check_key(raw: str) -> str:
    """The key as given, or 400 when it is empty, too long or not visible ASCII."""
    if not _KEY.match(raw):
        raise IngestError(
            400,
            400,
            f"the Idempotency-Key must be 1-{MAX_KEY_CHARS} visible ASCII characters "
            "(a UUID is a good key)",
        )
    return raw


def once(
    principal: Principal | None, key: str, topic: str, records: Sequence[ProduceRecord]
) -> Idempotency:
    """What the log remembers for ``key``: the caller's namespace, the key, a digest."""
    namespace = principal.name if principal is not None else "anonymous"
    return Idempotency(f"{namespace}\x00{check_key(key)}", fingerprint(topic, records))


def conflict(key: str) -> IngestError:
    return IngestError(
        422,
        CONFLICT_CODE,
        f"Idempotency-Key {key[:MAX_KEY_CHARS]!r} was already used for a different request "
        "(another topic or other records) within ingest.idempotency_window_s; send each new "
        "request with a fresh key and reuse a key only to resend the same request",
    )
