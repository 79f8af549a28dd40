"""The clients of a Jepsen-style run, each recording into a
jepsen.history.History what it was told and what it read:

- Writer: an idempotent acks=all producer (librdkafka's idempotence:
  enable.idempotence, its sequence numbers and retries) producing unique
  values (key = value = "<writer>-<n>") round-robin over the partitions at
  a steady rate, a bounded number in flight; a fatal error (librdkafka
  gives up on the idempotent session) is recorded and the writer goes on
  with a new producer;
- GroupMember: one member of a consumer group (subscribe, manual
  synchronous commits every COMMIT_EVERY_S), restarted by the scenario
  (close, then a new consumer under a new reader name) so that reads span
  restarts and rebalances;
- TxnWriter: a transactional producer writing TXN_SIZE values over the
  partitions per transaction, every third one aborted;
- Transformer: consume-transform-produce in transactions, exactly once;
- observe_commits(): OffsetFetch of the group's committed offsets;
- wait_stable(): until no transaction is open on a topic;
- final_read(): every partition from its start to its end, once the
  cluster converged and no transaction is open.

librdkafka (python3-confluent-kafka) rather than raw wire helpers: the
idempotence and the transactions judged are the ones real clients use.
"""

import itertools
import os
import threading
import time
import uuid

from cluster_checks import OFFSET_BEGINNING, read_to_end
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

RATE_PER_S = 100  # per writer
MAX_IN_FLIGHT = 500  # queued in librdkafka, per writer
MESSAGE_TIMEOUT_MS = 30000
COMMIT_EVERY_S = 0.5
# librdkafka's debug contexts for the writers (e.g. "eos,msg": epoch bumps,
# sequence errors, retries), to stderr; for a diagnostic run only.
CLIENT_DEBUG = os.environ.get("KGW_JEPSEN_CLIENT_DEBUG", "")
TXN_SIZE = 3
TXN_TIMEOUT_MS = 20000  # a transaction left open is aborted after this

# Errors a client may be shown while brokers restart or leadership moves;
# anything else a delivery report, a commit or error_cb shows counts as
# non-retriable (the rolling restart allows none).
RETRIABLE = {
    KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN, KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND, KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._NO_OFFSET, KafkaError._WAIT_COORD,
}


def retriable(err):
    return err.code() in RETRIABLE or err.retriable()


class Writer(threading.Thread):
    def __init__(self, name, bootstrap, topic, partitions, history):
        super().__init__(daemon=True, name=name)
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.history = history
        self.sent = 0
        self._fatal = threading.Event()
        self._stop_event = threading.Event()

    def _producer(self):
        conf = {"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                "acks": "all", "linger.ms": 5, "retry.backoff.ms": 100,
                "message.timeout.ms": MESSAGE_TIMEOUT_MS, "error_cb": self._error,
                "log.connection.close": False}
        if CLIENT_DEBUG:
            conf["debug"] = CLIENT_DEBUG
        return Producer(conf)

    def _error(self, err):
        # error_cb also reports connections going down, which librdkafka
        # retries on its own: only what ends the producer is recorded.
        if err.fatal():
            self.history.client_error(self.name, err.name(), False)
            self._fatal.set()

    def _delivered(self, err, msg):
        if err is None:
            self.history.acked(msg.value(), msg.topic(), msg.partition(), msg.offset())
        else:
            self.history.unacknowledged(msg.value(), err.str())
            self.history.client_error(self.name, err.name(), retriable(err))

    def run(self):
        producer = self._producer()
        generation = 0
        for n in itertools.count():
            if self._stop_event.is_set():
                break
            if self._fatal.is_set():
                # The idempotent session is over: what is queued fails
                # (delivery reports), a new producer carries on.
                producer.purge()
                producer.flush(5)
                generation += 1
                self.history.event(f"{self.name}: new producer after a fatal error")
                self._fatal.clear()
                producer = self._producer()
            while len(producer) >= MAX_IN_FLIGHT and not self._stop_event.is_set():
                producer.poll(0.05)
            value = f"{self.name}-{n}".encode()
            producer.produce(self.topic, key=value, value=value,
                             partition=n % self.partitions, on_delivery=self._delivered)
            self.sent += 1
            producer.poll(1.0 / RATE_PER_S)
        left = producer.flush(MESSAGE_TIMEOUT_MS / 1000 + 10)
        if left:
            self.history.event(f"{self.name}: {left} records without a delivery report")

    def stop(self):
        self._stop_event.set()


class GroupMember(threading.Thread):
    """One member of `group`; restart() swaps its consumer for a new one."""

    def __init__(self, name, bootstrap, group, topic, history):
        super().__init__(daemon=True, name=name)
        self.bootstrap, self.group, self.topic, self.history = bootstrap, group, topic, history
        self.incarnation = 0
        self._restart = threading.Event()
        self._stop_event = threading.Event()

    def _consumer(self):
        self.incarnation += 1
        self.reader = f"{self.name}.{self.incarnation}"
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
                      "isolation.level": "read_committed", "log.connection.close": False})
        c.subscribe([self.topic])
        return c

    def _commit(self, c):
        try:
            done = c.commit(asynchronous=False)
        except KafkaException as e:
            err = e.args[0]
            if err.code() != KafkaError._NO_OFFSET:
                self.history.client_error(self.reader, err.name(), retriable(err))
            return
        for tp in done or []:
            if tp.error is None:
                self.history.committed(self.group, tp.topic, tp.partition, tp.offset)

    def run(self):
        c = self._consumer()
        last_commit = time.monotonic()
        while not self._stop_event.is_set():
            if self._restart.is_set():
                self._restart.clear()
                self._close(c)
                c = self._consumer()
            m = c.poll(0.2)
            if m is not None:
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        self.history.client_error(self.reader, m.error().name(),
                                                  retriable(m.error()))
                else:
                    self.history.read(self.reader, m.topic(), m.partition(), m.offset(), m.key(),
                                      m.value())
            if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                self._commit(c)
                last_commit = time.monotonic()
        self._close(c)

    def _close(self, c):
        self._commit(c)
        c.close()

    def restart(self):
        self._restart.set()

    def stop(self):
        self._stop_event.set()


class TxnClient(threading.Thread):
    """A thread with a transactional id of its own: _producer() makes and
    initialises a producer for it (again after a fatal error: that fences
    the previous one), stop() ends the thread."""

    def __init__(self, name, bootstrap, history):
        super().__init__(daemon=True, name=name)
        self.bootstrap, self.history = bootstrap, history
        self.txn_id = f"{name}-{uuid.uuid4().hex[:6]}"
        self._stop_event = threading.Event()

    def _producer(self):
        """An initialised transactional producer; None once stopped."""
        p = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": self.txn_id,
                      "linger.ms": 5, "transaction.timeout.ms": TXN_TIMEOUT_MS,
                      "message.timeout.ms": 20000, "log.connection.close": False})
        while not self._stop_event.is_set():
            try:
                p.init_transactions(10)
                return p
            except KafkaException as e:
                self.history.client_error(self.name, e.args[0].name(), retriable(e.args[0]))
                time.sleep(0.5)
        return None

    def _transaction(self, p, name, topic, records, end):
        """Begins a transaction, produces records [(value, partition)]
        (key = value) to topic and ends it with end(p), which returns
        "committed" or "aborted". On an error it is aborted when librdkafka
        says it must be ("aborted"), else its outcome is "unknown" (the
        caller replaces the producer). Recorded in the history; returns
        the status."""
        status = "unknown"
        try:
            p.begin_transaction()
            for v, partition in records:
                p.produce(topic, key=v, value=v, partition=partition)
            status = end(p)
        except KafkaException as e:
            err = e.args[0]
            self.history.client_error(self.name, err.name(), retriable(err))
            if err.txn_requires_abort():
                try:
                    p.abort_transaction(30)
                    status = "aborted"
                except KafkaException:
                    pass
        finally:
            self.history.txn(name, topic, [v for v, _ in records], status)
        return status

    def stop(self):
        self._stop_event.set()


class TxnWriter(TxnClient):
    """Transactions of TXN_SIZE values over the partitions, every third
    aborted; each recorded with what the producer was told."""

    def __init__(self, name, bootstrap, topic, partitions, history):
        super().__init__(name, bootstrap, history)
        self.topic, self.partitions = topic, partitions

    def _one(self, p, n):
        """Runs transaction n; returns its status."""
        name = f"{self.name}-txn{n}"
        records = [(f"{name}-{i}".encode(), (n + i) % self.partitions) for i in range(TXN_SIZE)]

        def end(p):
            if n % 3 == 2:
                p.abort_transaction(30)
                return "aborted"
            p.commit_transaction(30)
            return "committed"

        return self._transaction(p, name, self.topic, records, end)

    def run(self):
        p = self._producer()
        for n in itertools.count():
            if p is None or self._stop_event.is_set():
                break
            if self._one(p, n) == "unknown":
                self.history.event(f"{self.name}: new transactional producer")
                p = self._producer()
            time.sleep(0.05)


class Transformer(TxnClient):
    """Consume-transform-produce, exactly once: reads `source` in its own
    group (read_committed) and, per batch, writes "ctp:<value>" to the
    same partition of `output` and the batch's offsets in one transaction
    (send_offsets_to_transaction). A transaction that fails is aborted (or
    its producer replaced) and the consumer goes back to the group's
    committed offsets, so every source record is transformed again until
    one transaction with it commits."""

    PREFIX = "ctp:"

    def __init__(self, name, bootstrap, source, output, group, history):
        super().__init__(name, bootstrap, history)
        self.source, self.output, self.group = source, output, group
        history.transform(group, source, output, self.PREFIX)

    def _rewind(self, c):
        """Back to the committed offsets (what the aborted batch read is read again)."""
        while not self._stop_event.is_set():
            try:
                for tp in c.committed(c.assignment(), timeout=10):
                    c.seek(TopicPartition(tp.topic, tp.partition,
                                          tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
                return
            except KafkaException as e:
                self.history.client_error(self.name, e.args[0].name(), retriable(e.args[0]))
                time.sleep(0.5)

    def _batch(self, p, c, n, msgs):
        """One transaction; returns its status."""
        records = [(self.PREFIX.encode() + m.value(), m.partition()) for m in msgs]

        def end(p):
            p.send_offsets_to_transaction(c.position(c.assignment()),
                                          c.consumer_group_metadata(), 30)
            p.commit_transaction(30)
            return "committed"

        return self._transaction(p, f"{self.name}-txn{n}", self.output, records, end)

    def run(self):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "isolation.level": "read_committed", "log.connection.close": False})
        c.subscribe([self.source])
        p = self._producer()
        for n in itertools.count():
            if p is None or self._stop_event.is_set():
                break
            msgs = [m for m in c.consume(num_messages=50, timeout=0.5) if not m.error()]
            status = self._batch(p, c, n, msgs) if msgs else "committed"
            if status == "unknown":
                # A new producer with the same id ends the old one's
                # transaction (commits or aborts it) before the rewind
                # reads the offsets it left.
                self.history.event(f"{self.name}: new transactional producer")
                p = self._producer()
            if status != "committed":
                self._rewind(c)
        c.close()


def observe_commits(bootstrap, group, topic, partitions, history, timeout=10):
    """Records the group's committed offsets (OffsetFetch, no join);
    returns False when the coordinator did not answer."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "log.connection.close": False})
    asked = history.now()
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=timeout)
    except KafkaException:
        return False
    finally:
        c.close()
    for tp in got:
        if tp.error is None:
            history.committed(group, tp.topic, tp.partition, tp.offset, asked=asked)
    return True


def wait_stable(bootstrap, topic, partitions, timeout=60):
    """Waits until no transaction is open on the topic's partitions (each
    one's last stable offset, the end a read_committed reader stops at, is
    its high watermark): a transaction whose producer stopped is aborted
    by its timeout, one being completed gets its last markers. Until then
    a read_committed read ends short of the transaction's records and a
    group's offsets may already show it committed. Returns the partitions
    still unstable at the timeout."""
    readers = {iso: Consumer({"bootstrap.servers": bootstrap, "group.id": "stable-" + uuid.uuid4().hex,
                              "isolation.level": iso, "log.connection.close": False})
               for iso in ("read_committed", "read_uncommitted")}
    try:
        deadline = time.monotonic() + timeout
        while True:
            unstable = []
            for p in range(partitions):
                tp = TopicPartition(topic, p)
                try:
                    ends = {iso: c.get_watermark_offsets(tp, timeout=5)[1]
                            for iso, c in readers.items()}
                except KafkaException:
                    ends = {}
                if not ends or ends["read_committed"] != ends["read_uncommitted"]:
                    unstable.append(p)
            if not unstable or time.monotonic() > deadline:
                return unstable
            time.sleep(0.5)
    finally:
        for c in readers.values():
            c.close()


def final_read(bootstrap, topic, partitions, history, timeout=60):
    """Reads every partition from its start to its end (read_committed)
    into the history as the final read; returns the partitions whose end
    was not reached within the timeout (their acknowledged writes then
    count as lost)."""
    messages, unfinished = read_to_end(bootstrap, topic, partitions, "read_committed", timeout,
                                       raise_errors=False)
    for m in messages:
        history.read("final", m.topic(), m.partition(), m.offset(), m.key(), m.value(), final=True)
    for p in unfinished:
        history.final_unfinished(topic, p)
    return unfinished
