"""Prometheus metrics of the ingest API, in a registry of its own per app.

Topic labels are capped (``MAX_TOPIC_LABELS``): past the cap, new topics count as ``_other``,
so a client inventing topic names cannot blow up the metric series.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MAX_TOPIC_LABELS = 200
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class IngestMetrics:
    """Requests, records, bytes, latency per route and topic; rejections by reason."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "pinpipe_ingest_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.records = Counter(
            "pinpipe_ingest_records", "Records appended to the log", ["route", "topic"], registry=r
        )
        self.bytes = Counter(
            "pinpipe_ingest_request_bytes", "Request body bytes", ["route", "topic"], registry=r
        )
        self.latency = Histogram(
            "pinpipe_ingest_request_seconds",
            "Time from request start to response, acknowledgement included",
            ["route", "topic"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "pinpipe_ingest_rejections", "Refused requests by reason", ["reason"], registry=r
        )
        self.inflight = Gauge("pinpipe_ingest_inflight", "Requests being served", registry=r)
        self.inflight_bytes = Gauge(
            "pinpipe_ingest_inflight_bytes",
            "Request body bytes held in memory (capped by ingest.max_inflight_bytes)",
            registry=r,
        )
        self.draining = Gauge("pinpipe_ingest_draining", "1 while the server stops", registry=r)
        self.replays = Counter(
            "pinpipe_ingest_idempotent_replays",
            "Produce requests answered from an earlier send with the same Idempotency-Key",
            registry=r,
        )
        self.commits = Counter(
            "pinpipe_ingest_commits", "Durable log transactions (group commits)", registry=r
        )
        self._topics: set[str] = set()
        self._children: dict[tuple[str, str, int, str | None], tuple[Any, ...]] = {}

    def topic_label(self, topic: str | None) -> str:
        if topic is None:
            return ""
        if topic in self._topics:
            return topic
        if len(self._topics) < MAX_TOPIC_LABELS:
            self._topics.add(topic)
            return topic
        return "_other"

    def observe(
        self,
        route: str,
        method: str,
        status: int,
        topic: str | None,
        records: int,
        size: int,
        seconds: float,
    ) -> None:
        """Count one request; label children are cached (``labels()`` costs a lock + dict)."""
        key = (route, method, status, topic)
        children = self._children.get(key)
        if children is None:
            label = self.topic_label(topic)
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, label),
                self.bytes.labels(route, label),
                self.records.labels(route, label),
            )
            if len(self._children) < 10_000:
                self._children[key] = children
        requests, latency, size_counter, records_counter = children
        requests.inc()
        latency.observe(seconds)
        if size:
            size_counter.inc(size)
        if records:
            records_counter.inc(records)

    def reject(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
