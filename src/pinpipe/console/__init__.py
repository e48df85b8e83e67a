"""The pinpipe console: a web UI over the running pipeline and its lake, served by pinpipe.

``pinpipe up`` serves it at ``/ui`` on the ingest port (``runtime/supervisor.py`` composes it
with the ingest app); ``pinpipe console`` serves it read-only over an existing lake. Pages are
rendered on the server (Jinja2); the only JavaScript is the console's own small script and
uPlot, shipped inside the package (``static/vendor``, refreshed by ``make assets``).
"""
