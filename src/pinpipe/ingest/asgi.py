"""An ASGI factory, for servers that import the app themselves (granian, hypercorn, ...).

``granian --interface asgi --factory --loop uvloop pinpipe.ingest.asgi:app_from_settings``
serves the same app as ``pinpipe serve``, configured from ``pinpipe.toml`` and the
environment. Binding checks (API keys on public addresses) are then the server's command
line's business, so keep such servers on loopback or configure keys.
"""

from __future__ import annotations

from pinpipe.ingest.app import IngestApp, create_app
from pinpipe.ingest.server import resolved
from pinpipe.log import open_log
from pinpipe.settings import load_settings


def app_from_settings() -> IngestApp:
    settings = load_settings()
    return create_app(open_log(settings), resolved(settings), settings.topics)
