"""The Kafka backend: the ``Log`` contract on Apache Kafka through confluent-kafka (librdkafka).

Three clients per instance, created lazily: an idempotent ``acks=all`` producer whose
``produce`` returns only after every delivery report arrived (so ingest acknowledges only what
the brokers hold); one reader consumer, assigned (never subscribed) to the partitions asked
for, which ``fetch`` reuses and seeks only when asked for another offset than where it
stands; and one consumer per group that only reads and commits offsets, so a group's
positions move only when the sink or the stream job commit, never automatically.
Timestamps are the producer's CreateTime in epoch ms, set at ingest.

With the brokers gone, every call fails within a bound instead of hanging: an append within
``log.produce_timeout_ms`` (librdkafka fails the undelivered records then), metadata, offset
and commit requests within ``REQUEST_TIMEOUT_S``; failures of reaching the brokers raise
``LogUnavailableError``. librdkafka reconnects by itself, so the same instance works again
once a broker answers. Every call here blocks, so none may run on an event loop's thread
(the ingest app runs them on its log-call threads); one that does is logged as a bug.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import tenacity

from pinpipe.errors import (
    DependencyError,
    LogError,
    LogUnavailableError,
    OffsetOutOfRangeError,
    TopicLimitError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pinpipe.log import kafka_config
from pinpipe.log.base import (
    Batch,
    Clock,
    Log,
    LogRecord,
    Position,
    ProduceRecord,
    TopicInfo,
    validate_topic,
    wall_clock_ms,
)
from pinpipe.log.partitioner import choose_partitions
from pinpipe.settings import LogSettings

try:
    from confluent_kafka import (
        OFFSET_INVALID,
        Consumer,
        KafkaError,
        KafkaException,
        Message,
        Producer,
        TopicPartition,
    )
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise DependencyError("confluent-kafka", "kafka") from exc

TP = tuple[str, int]
_T = TypeVar("_T")

logger = logging.getLogger(__name__)

_OUT_OF_RANGE = (KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET)

_COORDINATOR = (
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
)
"""Group-coordinator errors librdkafka does not always flag retriable; all are transient."""

_UNREACHABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TIMED_OUT_QUEUE,
        KafkaError._RESOLVE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        # The client lost the partition's leader from its metadata (the broker went away):
        # pinpipe checks a partition exists before it asks for one, so it is not a bad number.
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._DESTROY_BROKER,  # a broker connection torn down as the broker went away
    }
)
"""Errors that mean "no broker (or not enough replicas) answers now": ``LogUnavailableError``,
as is any other error librdkafka marks retriable (see ``_unreachable``)."""

_INFORMATIONAL = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
"""Consumer events about connections; librdkafka reconnects by itself, so reads go on."""

REQUEST_TIMEOUT_S = 15.0
"""Metadata, admin and offset requests: long enough for a busy broker, short enough to fail."""
FLUSH_MARGIN_S = 2.0
"""``produce`` waits this much past ``log.produce_timeout_ms`` for librdkafka's own verdict."""
POLL_S = 0.05
"""One consumer poll while ``fetch`` waits for records it knows are there."""
CATCH_UP_S = 10.0
"""``fetch`` waits at most this long for records below the high watermark to arrive."""
MAX_BUFFERED = 20_000
"""Records held for a partition nobody is fetching right now before it is paused."""


class _Delivery:
    """Collects the delivery reports of one ``produce_many`` call."""

    __slots__ = ("errors", "positions")

    def __init__(self, sizes: list[int]) -> None:
        self.positions: list[list[Position | None]] = [[None] * n for n in sizes]
        self.errors: list[KafkaError | None] = [None] * len(sizes)

    def callback(self, batch: int, index: int) -> Any:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.errors[batch] = err
                return
            _, timestamp = msg.timestamp()
            self.positions[batch][index] = Position(
                msg.partition() or 0, msg.offset() or 0, timestamp
            )

        return on_delivery


class KafkaLog(Log):
    """``Log`` over Apache Kafka; one instance may be shared by several threads.

    librdkafka's producer and admin client are thread-safe; the reader and the group
    consumers (and the reader's buffers) are only touched under ``_lock``, so concurrent
    reads queue up behind each other rather than interleave. The ingest app relies on this:
    its writer thread appends while its log-call threads read through the same instance.
    Separate jobs still do better with an instance each, as then their reads do not queue.
    """

    def __init__(
        self,
        settings: LogSettings,
        *,
        auto_create: bool = True,
        topic_filter: str = "",
        max_topics: int = 0,
        clock: Clock = wall_clock_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.auto_create = auto_create
        """Create a missing topic on first produce (``partitions``, ``replication_factor``)."""
        self._wanted = re.compile(topic_filter or ".*")
        """Only matching topics are listed (and counted against ``max_topics``)."""
        self.max_topics = max_topics
        self.clock = clock
        """The CreateTime stamped on produced records."""
        self.monotonic = monotonic
        """What ``fetch`` measures its wait for records below the high watermark with."""
        self._admin = AdminClient(kafka_config.admin_config(settings))
        self._producer: Producer | None = None
        self._reader: Consumer | None = None
        self._groups: dict[str, Consumer] = {}
        self._partitions: dict[str, int] = {}
        self._round_robin = itertools.count()
        # Reader state: where the consumer stands per assigned partition, and records it
        # fetched for partitions other than the one asked for (consume() interleaves them).
        self._next: dict[TP, int] = {}
        self._buffers: dict[TP, deque[LogRecord]] = {}
        self._paused: set[TP] = set()
        self._lock = threading.RLock()
        self._closed = False

    # -- topics -----------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int | None = None) -> TopicInfo:
        validate_topic(topic)
        count = partitions or self.settings.partitions
        if count < 1:
            raise LogError(f"a topic needs at least 1 partition, got {count}")
        return self._create_topic(topic, count, REQUEST_TIMEOUT_S)

    def _create_topic(self, topic: str, count: int, timeout: float) -> TopicInfo:
        """``create_topic`` with every broker request bounded by ``timeout``."""
        held = self._metadata(timeout)
        known = held.get(topic)
        if known is not None:
            return TopicInfo(topic, known)
        if self.max_topics and len(self._listed(held)) >= self.max_topics:
            raise TopicLimitError(topic, self.max_topics)
        new = NewTopic(topic, count, self.settings.replication_factor)
        future = self._admin.create_topics([new], request_timeout=timeout)[topic]
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise _failure(f"could not create topic {topic!r}", exc) from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # until the brokers' metadata shows it
            found = self._metadata(timeout).get(topic)
            if found is not None:
                return TopicInfo(topic, found)
            time.sleep(0.05)
        raise LogError(f"topic {topic!r} was created but did not appear in the metadata")

    def delete_topic(self, topic: str) -> None:
        """Delete the topic on the brokers (Kafka drops its committed offsets with it)."""
        self._partition_count(topic)  # UnknownTopicError before asking the brokers
        future = self._admin.delete_topics([topic], request_timeout=REQUEST_TIMEOUT_S)[topic]
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise UnknownTopicError(topic) from exc
            raise _failure(f"could not delete topic {topic!r}", exc) from exc
        self._partitions.pop(topic, None)
        with self._lock:
            for tp in [tp for tp in self._next if tp[0] == topic]:
                self._forget(tp)
        deadline = time.monotonic() + REQUEST_TIMEOUT_S
        while topic in self._metadata() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._partitions.pop(topic, None)

    def topics(self) -> list[TopicInfo]:
        return self._listed(self._metadata())

    def _listed(self, held: dict[str, int]) -> list[TopicInfo]:
        return [
            TopicInfo(name, n)
            for name, n in sorted(held.items())
            # never __consumer_offsets and other internal topics
            if not name.startswith("__") and self._wanted.search(name)
        ]

    def describe(self, topic: str) -> TopicInfo:
        return TopicInfo(topic, self._partition_count(topic))

    def known_topic(self, topic: str) -> TopicInfo | None:
        count = self._partitions.get(topic)
        return None if count is None else TopicInfo(topic, count)

    def _metadata(self, timeout: float | None = None) -> dict[str, int]:
        """Every topic's partition count, fresh from the brokers (and cached for lookups)."""
        _off_loop("list_topics")
        try:
            metadata = self._admin.list_topics(timeout=timeout or REQUEST_TIMEOUT_S)
        except KafkaException as exc:
            raise _failure("could not read topic metadata from Kafka", exc) from exc
        counts = {
            name: len(meta.partitions)
            for name, meta in metadata.topics.items()
            if meta.error is None and meta.partitions
        }
        self._partitions.update(counts)
        return counts

    def _partition_count(self, topic: str, timeout: float | None = None) -> int:
        count = self._partitions.get(topic)
        if count is None:
            validate_topic(topic)
            count = self._metadata(timeout).get(topic)
            if count is None:
                raise UnknownTopicError(topic)
        return count

    def _check_partition(self, topic: str, partition: int, timeout: float | None = None) -> None:
        count = self._partition_count(topic, timeout)
        if not 0 <= partition < count:
            count = self._metadata(timeout).get(topic, count)  # partitions may have been added
            if not 0 <= partition < count:
                raise UnknownPartitionError(topic, partition, count)

    # -- produce ----------------------------------------------------------------------------

    def produce(self, topic: str, records: Sequence[ProduceRecord]) -> list[Position]:
        (result,) = self.produce_many([(topic, records)])
        if isinstance(result, LogError):
            raise result
        return result

    @property
    def produce_timeout_s(self) -> float:
        """``log.produce_timeout_ms`` in seconds: the bound of one append."""
        return self.settings.produce_timeout_ms / 1000

    def produce_many(self, batches: Sequence[Batch]) -> list[list[Position] | LogError]:
        """Send every batch, then wait for all delivery reports (one flush for the lot).

        Bounded by ``log.produce_timeout_ms`` (plus a margin): librdkafka fails what is not
        delivered by then, so a record is either confirmed or reported failed, never left
        queued to arrive after the caller was told it failed."""
        _off_loop("produce")
        producer = self._get_producer()
        timeout = self.produce_timeout_s
        results: list[list[Position] | LogError | None] = [None] * len(batches)
        delivery = _Delivery([len(records) for _, records in batches])
        for b, (topic, records) in enumerate(batches):
            try:
                chosen = self._choose_partitions(topic, records, timeout)
                timestamp = self.clock()
                for i, (record, partition) in enumerate(zip(records, chosen, strict=True)):
                    callback = delivery.callback(b, i)
                    self._send(producer, topic, record, partition, timestamp, callback)
            except LogError as exc:
                results[b] = exc
        remaining = producer.flush(timeout + FLUSH_MARGIN_S)
        final: list[list[Position] | LogError] = []
        for b, (topic, _) in enumerate(batches):
            result = results[b]
            if result is None:
                error = delivery.errors[b]
                result = _delivered(topic, delivery.positions[b], error, remaining, timeout)
                if error is not None and error.fatal():
                    self._renew_producer(producer, error)
            final.append(result)
        return final

    def _renew_producer(self, producer: Producer, error: KafkaError) -> None:
        """After a fatal producer error (librdkafka gives up on the idempotent session), the
        next append makes a new producer instead of failing forever."""
        with self._lock:
            if self._producer is producer:
                logger.warning("the Kafka producer failed fatally (%s); making a new one", error)
                self._producer = None

    @staticmethod
    def _send(
        producer: Producer,
        topic: str,
        record: ProduceRecord,
        partition: int,
        timestamp: int,
        callback: Any,
    ) -> None:
        while True:
            try:
                producer.produce(
                    topic,
                    value=record.value,
                    key=record.key,
                    partition=partition,
                    timestamp=timestamp,
                    on_delivery=callback,
                )
                return
            except BufferError:  # the local queue is full: let deliveries (or timeouts) drain it
                producer.poll(0.05)
            except KafkaException as exc:
                raise _failure(f"could not send to {topic!r}", exc) from exc

    def _choose_partitions(
        self, topic: str, records: Sequence[ProduceRecord], timeout: float
    ) -> list[int]:
        """Explicit partition, else Kafka's murmur2 of the key, else round robin (like embedded)."""
        validate_topic(topic)
        try:
            count = self._partition_count(topic, timeout)
        except UnknownTopicError:
            if not self.auto_create:
                raise
            count = self._create_topic(topic, self.settings.partitions, timeout).partitions
        return choose_partitions(
            records, count, self._round_robin, lambda p: self._check_partition(topic, p, timeout)
        )

    def _get_producer(self) -> Producer:
        if self._closed:
            raise LogError("the log is closed")
        if self._producer is None:
            with self._lock:  # two threads' first appends must not make two producers
                if self._producer is None:
                    self._producer = Producer(kafka_config.producer_config(self.settings))
        return self._producer

    # -- consume ----------------------------------------------------------------------------

    def fetch(
        self, topic: str, partition: int, offset: int, max_records: int = 1000
    ) -> list[LogRecord]:
        _off_loop("fetch")
        self._check_partition(topic, partition)
        tp = (topic, partition)
        with self._lock:
            if offset < 0:
                raise OffsetOutOfRangeError(topic, partition, offset)
            self._position_at(tp, offset)
            out = self._take(tp, max_records)
            if out:
                return out
            # Nothing buffered: poll once briefly; if still nothing, ask the broker whether
            # there is anything to wait for at all, so an idle partition returns at once.
            self._poll(POLL_S)
            out = self._take(tp, max_records)
            if out:
                return out
            low, high = self._watermarks(tp)
            if not low <= offset <= high:
                self._forget(tp)
                raise OffsetOutOfRangeError(topic, partition, offset)
            if offset == high:
                return out  # an idle partition: nothing to wait for
            deadline = self.monotonic() + CATCH_UP_S
            while offset < high and not out and self.monotonic() < deadline:
                self._poll(POLL_S)
                out = self._take(tp, max_records)
            return out

    def _position_at(self, tp: TP, offset: int) -> None:
        """Make the reader deliver ``tp`` from ``offset``: assign, seek, or leave it be."""
        reader = self._get_reader()
        current = self._next.get(tp)
        if current == offset:
            return
        part = TopicPartition(tp[0], tp[1], offset)
        try:
            if current is None:
                reader.incremental_assign([part])
            else:
                self._buffers[tp].clear()
                self._resume(tp)
                reader.seek(part)
        except KafkaException as exc:
            if current is None:
                raise _failure(f"could not read {tp[0]}[{tp[1]}]", exc) from exc
            # A seek before the first fetch of a fresh assignment fails: assign anew.
            reader.incremental_unassign([TopicPartition(tp[0], tp[1])])
            reader.incremental_assign([part])
        self._next[tp] = offset
        self._buffers.setdefault(tp, deque())

    def _forget(self, tp: TP) -> None:
        """Drop ``tp`` from the reader (after an error), so the next fetch assigns afresh."""
        if tp in self._next:
            del self._next[tp]
            self._buffers.pop(tp, None)
            self._paused.discard(tp)
            self._get_reader().incremental_unassign([TopicPartition(tp[0], tp[1])])

    def _take(self, tp: TP, max_records: int) -> list[LogRecord]:
        buffer = self._buffers[tp]
        n = min(max_records, len(buffer))
        out = [buffer.popleft() for _ in range(n)]
        if out:
            self._next[tp] = out[-1].offset + 1
        if tp in self._paused and len(buffer) < MAX_BUFFERED // 2:
            self._resume(tp)
        return out

    def _poll(self, timeout: float) -> None:
        """Move what the reader has fetched into per-partition buffers."""
        reader = self._get_reader()
        # poll() returns on the first record; consume() would wait out its whole timeout.
        first = reader.poll(timeout)
        if first is None:
            return
        for msg in [first, *reader.consume(num_messages=10_000, timeout=0)]:
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF or error.code() in _INFORMATIONAL:
                    continue
                tp = (msg.topic() or "", msg.partition() or 0)
                if error.code() in _OUT_OF_RANGE and tp in self._next:
                    offset = self._next[tp]
                    self._forget(tp)
                    raise OffsetOutOfRangeError(tp[0], tp[1], offset)
                raise _failure("Kafka consumer error", error)
            tp = (msg.topic() or "", msg.partition() or 0)
            buffer = self._buffers.get(tp)
            if buffer is None:
                continue  # unassigned meanwhile
            expected = buffer[-1].offset + 1 if buffer else self._next[tp]
            offset = msg.offset() or 0
            if offset < expected:
                continue  # delivered before a seek moved the position
            _, timestamp = msg.timestamp()
            buffer.append(LogRecord(tp[0], tp[1], offset, timestamp, msg.key(), msg.value()))
            if len(buffer) >= MAX_BUFFERED and tp not in self._paused:
                reader.pause([TopicPartition(tp[0], tp[1])])
                self._paused.add(tp)

    def _resume(self, tp: TP) -> None:
        if tp in self._paused:
            self._paused.discard(tp)
            self._get_reader().resume([TopicPartition(tp[0], tp[1])])

    def _watermarks(self, tp: TP) -> tuple[int, int]:
        _off_loop("get_watermark_offsets")
        try:
            low, high = self._get_reader().get_watermark_offsets(
                TopicPartition(tp[0], tp[1]), timeout=REQUEST_TIMEOUT_S, cached=False
            )
        except KafkaException as exc:
            raise _failure(f"could not read the offsets of {tp[0]}[{tp[1]}]", exc) from exc
        return int(low), int(high)

    def end_offset(self, topic: str, partition: int) -> int:
        self._check_partition(topic, partition)
        with self._lock:
            return self._watermarks((topic, partition))[1]

    def start_offset(self, topic: str, partition: int) -> int:
        self._check_partition(topic, partition)
        with self._lock:
            return self._watermarks((topic, partition))[0]

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int | None:
        _off_loop("offsets_for_times")
        self._check_partition(topic, partition)
        with self._lock:
            query = [TopicPartition(topic, partition, timestamp_ms)]
            try:
                (found,) = self._get_reader().offsets_for_times(query, timeout=REQUEST_TIMEOUT_S)
            except KafkaException as exc:
                raise _failure(f"could not search {topic}[{partition}] by time", exc) from exc
        return None if found.offset < 0 else int(found.offset)

    def _get_reader(self) -> Consumer:
        if self._closed:
            raise LogError("the log is closed")
        if self._reader is None:
            # The reader never commits; its group id only satisfies the client.
            config = kafka_config.consumer_config(self.settings, "pinpipe-reader")
            self._reader = Consumer(config)
        return self._reader

    # -- consumer groups --------------------------------------------------------------------

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        _off_loop("committed")
        with self._lock:
            try:
                (tp,) = _while_retriable(
                    lambda: self._group(group).committed(
                        [TopicPartition(topic, partition)], timeout=REQUEST_TIMEOUT_S
                    )
                )
            except KafkaException as exc:
                raise _failure(f"could not read offsets of group {group!r}", exc) from exc
        if tp.error is not None:
            raise _failure(f"could not read offsets of group {group!r}", tp.error)
        return None if tp.offset in (OFFSET_INVALID, -1) else int(tp.offset)

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if not group:
            raise LogError("a consumer group needs a non-empty name")
        parts = []
        for (topic, partition), offset in offsets.items():
            validate_topic(topic)
            if partition < 0 or offset < 0:
                raise LogError(f"cannot commit {topic}[{partition}] at offset {offset}")
            parts.append(TopicPartition(topic, partition, offset))
        if not parts:
            return
        _off_loop("commit")
        with self._lock:
            try:
                result = _while_retriable(
                    lambda: self._group(group).commit(offsets=parts, asynchronous=False)
                )
            except KafkaException as exc:
                raise _failure(f"could not commit offsets of group {group!r}", exc) from exc
        for tp in result or []:
            if tp.error is not None:
                raise _failure(f"could not commit offsets of group {group!r}", tp.error)

    def _group(self, group: str) -> Consumer:
        """A consumer that only commits and reads offsets for ``group`` (it never joins)."""
        if self._closed:
            raise LogError("the log is closed")
        consumer = self._groups.get(group)
        if consumer is None:
            consumer = Consumer(kafka_config.consumer_config(self.settings, group))
            self._groups[group] = consumer
        return consumer

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._producer is not None:
            self._producer.flush(self.produce_timeout_s + FLUSH_MARGIN_S)
            self._producer = None  # librdkafka's handle is destroyed with the last reference
        with self._lock:
            for consumer in [self._reader, *self._groups.values()]:
                if consumer is not None:
                    consumer.close()
            self._reader = None
            self._groups.clear()

    def __repr__(self) -> str:
        return f"KafkaLog({self.settings.bootstrap_servers!r})"


def _delivered(
    topic: str,
    positions: list[Position | None],
    error: KafkaError | None,
    undelivered: int,
    timeout: float,
) -> list[Position] | LogError:
    """One batch's outcome: every position, or the error that kept a record from the brokers."""
    missing = sum(p is None for p in positions)
    if error is not None:
        if error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            return UnknownTopicError(topic)
        if _unreachable(error):
            return LogUnavailableError(
                f"the Kafka broker is unavailable: {missing} records for {topic!r} were not "
                f"confirmed within {timeout:g} s ({error.str()})"
            )
        return LogError(f"Kafka did not accept records for {topic!r}: {error.str()}")
    if missing:
        return LogUnavailableError(
            f"the Kafka broker is unavailable: {missing} records for {topic!r} were not "
            f"confirmed within {timeout + FLUSH_MARGIN_S:g} s ({undelivered} still queued); "
            "they may or may not be in Kafka"
        )
    return [p for p in positions if p is not None]


def _failure(what: str, error: KafkaError | KafkaException) -> LogError:
    """``what`` failed because of ``error``: ``LogUnavailableError`` if no broker answered."""
    cause = error.args[0] if isinstance(error, KafkaException) and error.args else error
    if isinstance(cause, KafkaError):
        if _unreachable(cause):
            return LogUnavailableError(f"{what}: the Kafka broker is unavailable ({cause.str()})")
        return LogError(f"{what}: {cause.str()}")
    return LogError(f"{what}: {error}")


def _unreachable(error: KafkaError) -> bool:
    """The brokers cannot be reached or serve the request now; the same call may work later."""
    return error.code() in _UNREACHABLE or (error.retriable() and not error.fatal())


_warned_on_loop: set[str] = set()


def _off_loop(call: str) -> None:
    """Log (once per call) a blocking broker call made on an event loop's thread: a bug that
    would stall every request of that loop for as long as the broker takes to answer."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    if call not in _warned_on_loop:
        _warned_on_loop.add(call)
        logger.error(
            "blocking Kafka call %s on an event loop thread: run it on a worker thread "
            "(the ingest app: IngestContext.call)",
            call,
            stack_info=True,
        )


def _retriable(exc: BaseException) -> bool:
    """A broker error Kafka says to retry: a group coordinator moving or still loading
    (the first use of a group on a new cluster answers NOT_COORDINATOR), a leader election."""
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in _COORDINATOR)


def _while_retriable(call: Callable[[], _T]) -> _T:
    """``call()``, retried with backoff for up to ``REQUEST_TIMEOUT_S`` on retriable errors."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_retriable),
        wait=tenacity.wait_exponential(multiplier=0.05, max=2.0),
        stop=tenacity.stop_after_delay(REQUEST_TIMEOUT_S),
        reraise=True,
    )
    return retrying(call)
