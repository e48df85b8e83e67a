"""Alerts: rules over the real-time aggregates and the data-quality results, delivered to a
webhook at least once, with firing state, deliveries and dead letters in ``tables/alerts/``.

``AlertEngine.tick()`` evaluates every rule once; ``AlertEngine.run(stop)`` does it on a clock
and whenever a source table has new data (the supervisor runs it in a thread).
"""

from pinpipe.alerts.engine import AlertEngine
from pinpipe.alerts.rules import Condition, evaluate_rule

__all__ = ["AlertEngine", "Condition", "evaluate_rule"]
