"""confluent_kafka (librdkafka 2.0.2) against a real kgw: keyed messages with
headers under every compression codec, acks 0/1/all, fetch by offset and by
timestamp, long-poll wake-up, topic admin, concurrent producers, and data
surviving restarts and kill -9.

kgw serves no consumer groups and no idempotent producers yet, so consumers
use assign() (group.id is set only because the client insists on one; it
makes the client look up its coordinator, nothing more) and producers set
enable.idempotence=false."""

import threading
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_LOG_APPEND_TIME,  # noqa: E402
                             Consumer, KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, ConfigResource, ConfigSource,  # noqa: E402
                                   NewPartitions, NewTopic)

# Generous bounds that only keep a broken kgw from hanging the suite; no
# assertion depends on how fast anything is.
TIMEOUT = 60.0


# -- client helpers ---------------------------------------------------------

def make_producer(bootstrap, **conf):
    base = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": False,
        "acks": "all",
        "linger.ms": 5,
        "queue.buffering.max.messages": 200_000,
        "message.timeout.ms": int(TIMEOUT * 1000),
        # Tests restart kgw on purpose; keep the log to real trouble.
        "log.connection.close": False,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(base)


def make_consumer(bootstrap, **conf):
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": "kgw-it-unused",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
        # Tests restart kgw on purpose; keep the log to real trouble.
        "log.connection.close": False,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Consumer(base)


class Delivery:
    """Collects delivery reports: id -> (partition, offset), and errors."""

    def __init__(self):
        self.done = {}
        self.errors = []
        self.lock = threading.Lock()

    def callback(self, ident):
        def cb(err, msg):
            with self.lock:
                if err is not None:
                    self.errors.append((ident, err))
                else:
                    self.done[ident] = (msg.partition(), msg.offset())
        return cb


def produce(producer, topic, delivery, ident, **kw):
    """produce() that waits for room when the local queue is full."""
    while True:
        try:
            producer.produce(topic, on_delivery=delivery.callback(ident), **kw)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.05)


def flush(producer):
    left = producer.flush(TIMEOUT)
    if left:
        raise AssertionError(f"{left} messages still undelivered after {TIMEOUT}s")


def consume(bootstrap, assignment, count, **conf):
    """Assign and read until `count` messages came; returns them."""
    consumer = make_consumer(bootstrap, **conf)
    try:
        consumer.assign(assignment)
        out = []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(out)} of {count} messages after {TIMEOUT}s")
            for m in consumer.consume(num_messages=10_000, timeout=0.5):
                if m.error() is not None:
                    raise AssertionError(f"consumer error: {m.error()}")
                out.append(m)
        return out
    finally:
        consumer.close()


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap, name, partitions, config=None):
    a = admin(bootstrap)  # must outlive its futures
    fs = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=30)
    fs[name].result(TIMEOUT)


def topic_partitions(bootstrap, name):
    # All topics: asking for this one by name would auto-create it, as
    # Kafka does for a client (such as this producer-type handle) that
    # allows auto-creation.
    md = admin(bootstrap).list_topics(timeout=TIMEOUT)
    t = md.topics.get(name)
    if t is None or t.error is not None:
        return None
    return sorted(t.partitions)


def watermarks(bootstrap, topic, partition):
    consumer = make_consumer(bootstrap)
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
    finally:
        consumer.close()


def all_partitions(topic, n, offset=OFFSET_BEGINNING):
    return [TopicPartition(topic, p, offset) for p in range(n)]


# -- the messages -----------------------------------------------------------

def message_for(i, tag):
    """Message i: a key, a value of varying size and some headers, among
    them repeated names and an empty value. No null header value: reading
    one back crashes confluent-kafka-python before 1.8.2 (a refcount bug,
    confluentinc/confluent-kafka-python#1191); test_kcat covers them."""
    key = b"key-%d-%d" % (i % 997, i)
    value = b"value-%d:" % i + bytes((i * 7 + j) % 251 for j in range(i % 300))
    headers = [("idx", b"%d" % i), ("tag", tag.encode()), ("empty", b"")]
    if i % 11 == 0:
        headers.append(("idx", b"again-%d" % i))
    return key, value, headers


def index_of(msg):
    return int(msg.value().split(b":", 1)[0][len(b"value-"):])


class ClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()
        cls.bootstrap = cls.kgw.bootstrap

    @classmethod
    def tearDownClass(cls):
        cls.kgw.stop()
        cls.kgw.close()

    # -- keyed round trip under each codec ------------------------------

    def roundtrip(self, codec, count):
        b = self.bootstrap
        topic = f"codec-{codec}"
        create_topic(b, topic, 4)
        producer = make_producer(b, compression_type=codec)
        delivery = Delivery()
        for i in range(count):
            key, value, headers = message_for(i, codec)
            produce(producer, topic, delivery, i, key=key, value=value, headers=headers)
        flush(producer)
        self.assertEqual(delivery.errors, [])
        self.assertEqual(len(delivery.done), count)

        # Offsets handed out per partition are 0..n-1, each once.
        per_partition = {}
        for i, (p, off) in delivery.done.items():
            per_partition.setdefault(p, []).append(off)
        self.assertEqual(set(per_partition), {0, 1, 2, 3}, "keys should spread over partitions")
        for p, offs in per_partition.items():
            self.assertEqual(sorted(offs), list(range(len(offs))), f"partition {p}")
            self.assertEqual(watermarks(b, topic, p), (0, len(offs)))

        got = consume(b, all_partitions(topic, 4), count)
        self.assertEqual(len(got), count)
        last_index = {}
        seen = set()
        for m in got:
            i = index_of(m)
            self.assertNotIn(i, seen, "message delivered twice")
            seen.add(i)
            key, value, headers = message_for(i, codec)
            self.assertEqual((m.partition(), m.offset()), delivery.done[i], f"message {i}")
            self.assertEqual(m.key(), key)
            self.assertEqual(m.value(), value)
            self.assertEqual(m.headers(), headers)
            # Within a partition, produce order is kept.
            self.assertGreater(i, last_index.get(m.partition(), -1), f"order in {m.partition()}")
            last_index[m.partition()] = i
        self.assertEqual(seen, set(range(count)))

    def test_roundtrip_none(self):
        self.roundtrip("none", 100_000)

    def test_roundtrip_gzip(self):
        self.roundtrip("gzip", 20_000)

    def test_roundtrip_snappy(self):
        self.roundtrip("snappy", 20_000)

    def test_roundtrip_lz4(self):
        self.roundtrip("lz4", 20_000)

    def test_roundtrip_zstd(self):
        self.roundtrip("zstd", 20_000)

    # -- acks ---------------------------------------------------------------

    def test_acks(self):
        b = self.bootstrap
        count = 5000
        for acks in ("0", "1", "all"):
            with self.subTest(acks=acks):
                topic = f"acks-{acks}"
                create_topic(b, topic, 2)
                producer = make_producer(b, acks=acks)
                delivery = Delivery()
                for i in range(count):
                    produce(producer, topic, delivery, i, key=b"%d" % i, value=b"v%d" % i)
                flush(producer)
                self.assertEqual(delivery.errors, [])
                if acks != "0":
                    offsets = sorted(delivery.done.values())
                    self.assertEqual(len(set(offsets)), count)
                # acks=0 gets no answer: verify that everything arrived.
                got = consume(b, all_partitions(topic, 2), count)
                self.assertEqual(sorted(m.value() for m in got),
                                 sorted(b"v%d" % i for i in range(count)))
                total = sum(watermarks(b, topic, p)[1] for p in range(2))
                self.assertEqual(total, count)

    # -- fetch from the middle ------------------------------------------

    def test_fetch_from_offset(self):
        b = self.bootstrap
        create_topic(b, "middle", 1)
        producer = make_producer(b)
        delivery = Delivery()
        for i in range(1000):
            produce(producer, "middle", delivery, i, value=b"m%d" % i, partition=0)
        flush(producer)
        for start in (0, 1, 567, 999):
            got = consume(b, [TopicPartition("middle", 0, start)], 1000 - start)
            self.assertEqual([m.offset() for m in got], list(range(start, 1000)))
            self.assertEqual([m.value() for m in got], [b"m%d" % i for i in range(start, 1000)])

    def test_fetch_by_timestamp(self):
        b = self.bootstrap
        create_topic(b, "bytime", 1)
        base = (int(time.time()) - 3600) * 1000
        producer = make_producer(b)
        delivery = Delivery()
        for i in range(1000):
            produce(producer, "bytime", delivery, i, value=b"t%d" % i, partition=0,
                    timestamp=base + i * 1000)
        flush(producer)
        consumer = make_consumer(b)
        try:
            def lookup(ts):
                [tp] = consumer.offsets_for_times([TopicPartition("bytime", 0, ts)],
                                                  timeout=TIMEOUT)
                self.assertIsNone(tp.error)
                return tp.offset

            self.assertEqual(lookup(base - 1), 0)
            self.assertEqual(lookup(base), 0)
            self.assertEqual(lookup(base + 400 * 1000), 400)
            self.assertEqual(lookup(base + 400 * 1000 + 1), 401)
            self.assertEqual(lookup(base + 999 * 1000), 999)
            self.assertEqual(lookup(base + 1000 * 1000), -1)  # none that late: end
            start = lookup(base + 400 * 1000)
        finally:
            consumer.close()
        got = consume(b, [TopicPartition("bytime", 0, start)], 600)
        self.assertEqual(got[0].timestamp()[1], base + 400 * 1000)
        self.assertEqual([m.value() for m in got], [b"t%d" % i for i in range(400, 1000)])

    def test_fetch_by_timestamp_inside_compressed_batches(self):
        b = self.bootstrap
        create_topic(b, "bytime-lz4", 1)
        base = (int(time.time()) - 3600) * 1000
        # linger.ms so that many messages share one compressed batch.
        producer = make_producer(b, compression_type="lz4", linger_ms=200)
        delivery = Delivery()
        for i in range(1000):
            produce(producer, "bytime-lz4", delivery, i, value=b"t%d" % i, partition=0,
                    timestamp=base + i * 10)
        flush(producer)
        consumer = make_consumer(b)
        try:
            for i in (0, 1, 333, 998, 999):
                [tp] = consumer.offsets_for_times(
                    [TopicPartition("bytime-lz4", 0, base + i * 10 - 5)], timeout=TIMEOUT)
                self.assertEqual(tp.offset, i)
        finally:
            consumer.close()

    def test_log_append_time(self):
        b = self.bootstrap
        create_topic(b, "appendtime", 1, {"message.timestamp.type": "LogAppendTime"})
        before = int(time.time() * 1000)
        producer = make_producer(b)
        delivery = Delivery()
        for i in range(10):
            produce(producer, "appendtime", delivery, i, value=b"a%d" % i, partition=0,
                    timestamp=1_000_000)  # ignored: the broker stamps its own time
        flush(producer)
        got = consume(b, [TopicPartition("appendtime", 0, OFFSET_BEGINNING)], 10)
        after = int(time.time() * 1000)
        for m in got:
            kind, ts = m.timestamp()
            self.assertEqual(kind, TIMESTAMP_LOG_APPEND_TIME)
            self.assertTrue(before - 1000 <= ts <= after + 1000, ts)

    def test_large_messages_and_small_fetch_sizes(self):
        b = self.bootstrap
        create_topic(b, "large", 1)
        create_topic(b, "limited", 1, {"max.message.bytes": "200000"})
        producer = make_producer(b, linger_ms=0)
        delivery = Delivery()
        big = [bytes([i]) * (900_000 if i == 0 else 50_000) for i in range(10)]
        for i, value in enumerate(big):
            produce(producer, "large", delivery, i, value=value, partition=0)
        produce(producer, "limited", delivery, "fits", value=b"f" * 150_000, partition=0)
        flush(producer)  # else both may share one batch, refused as a whole
        produce(producer, "limited", delivery, "too big", value=b"x" * 300_000, partition=0)
        flush(producer)
        self.assertEqual([(i, e.code()) for i, e in delivery.errors],
                         [("too big", KafkaError.MSG_SIZE_TOO_LARGE)])
        self.assertEqual(delivery.done["fits"], (0, 0))
        # Fetch limits far below one message: the broker still returns the
        # first batch whole (KIP-74), so the consumer makes progress.
        got = consume(b, [TopicPartition("large", 0, OFFSET_BEGINNING)], 10,
                      max_partition_fetch_bytes=1024, fetch_max_bytes=1024,
                      message_max_bytes=1000)
        self.assertEqual([m.value() for m in got], big)

    # -- long-poll wake-up ----------------------------------------------

    def test_long_poll_wakes_up_on_produce(self):
        b = self.bootstrap
        create_topic(b, "longpoll", 1)
        consumer = make_consumer(b, fetch_wait_max_ms=30_000, socket_timeout_ms=60_000)
        try:
            consumer.assign([TopicPartition("longpoll", 0, 0)])
            # Nothing to read: the consumer's fetch is now parked in kgw,
            # allowed to wait 30 s.
            self.assertIsNone(consumer.poll(3.0))
            producer = make_producer(b)
            delivery = Delivery()
            produce(producer, "longpoll", delivery, 0, value=b"wake up", partition=0)
            flush(producer)
            # Without wake-up the parked fetch would answer only after its
            # 30 s; 20 s of polling is enough only if the append wakes it.
            deadline = time.monotonic() + 20.0
            msg = None
            while msg is None and time.monotonic() < deadline:
                msg = consumer.poll(max(0.1, deadline - time.monotonic()))
            self.assertIsNotNone(msg, "parked fetch not woken by the produce")
            self.assertIsNone(msg.error())
            self.assertEqual(msg.value(), b"wake up")
        finally:
            consumer.close()

    # -- admin --------------------------------------------------------------

    def test_topic_create_describe_delete_recreate(self):
        b = self.bootstrap
        a = admin(b)
        configs = {"retention.ms": "3600000", "cleanup.policy": "delete",
                   "max.message.bytes": "200000"}
        create_topic(b, "lifecycle", 3, configs)
        self.assertEqual(topic_partitions(b, "lifecycle"), [0, 1, 2])

        res = ConfigResource("topic", "lifecycle")
        entries = a.describe_configs([res])[res].result(TIMEOUT)
        for name, value in configs.items():
            self.assertIn(name, entries)
            self.assertEqual(entries[name].value, value, name)
            self.assertEqual(entries[name].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, name)
        self.assertIn("segment.bytes", entries)
        self.assertNotEqual(entries["segment.bytes"].source,
                            ConfigSource.DYNAMIC_TOPIC_CONFIG.value)

        with self.assertRaises(KafkaException) as ctx:
            create_topic(b, "lifecycle", 3)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)

        producer = make_producer(b)
        delivery = Delivery()
        for i in range(30):
            produce(producer, "lifecycle", delivery, i, value=b"old", partition=i % 3)
        flush(producer)
        del producer
        self.assertEqual(sum(watermarks(b, "lifecycle", p)[1] for p in range(3)), 30)

        a.delete_topics(["lifecycle"], operation_timeout=30)["lifecycle"].result(TIMEOUT)
        self.assertIsNone(topic_partitions(b, "lifecycle"))

        create_topic(b, "lifecycle", 5)
        self.assertEqual(topic_partitions(b, "lifecycle"), [0, 1, 2, 3, 4])
        for p in range(5):
            self.assertEqual(watermarks(b, "lifecycle", p), (0, 0), f"partition {p}")
        entries = a.describe_configs([res])[res].result(TIMEOUT)
        self.assertNotEqual(entries["retention.ms"].source,
                            ConfigSource.DYNAMIC_TOPIC_CONFIG.value)

        # Deleting what does not exist is an error, not a crash.
        with self.assertRaises(KafkaException) as ctx:
            a.delete_topics(["never-was"], operation_timeout=30)["never-was"].result(TIMEOUT)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART)

    def test_create_partitions(self):
        b = self.bootstrap
        a = admin(b)
        create_topic(b, "grow", 2)
        a.create_partitions([NewPartitions("grow", 5)])["grow"].result(TIMEOUT)
        self.assertEqual(topic_partitions(b, "grow"), [0, 1, 2, 3, 4])

        with self.assertRaises(KafkaException) as ctx:
            a.create_partitions([NewPartitions("grow", 3)])["grow"].result(TIMEOUT)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.INVALID_PARTITIONS)

        producer = make_producer(b)
        delivery = Delivery()
        produce(producer, "grow", delivery, 0, value=b"in a new partition", partition=4)
        flush(producer)
        self.assertEqual(delivery.done, {0: (4, 0)})
        [m] = consume(b, [TopicPartition("grow", 4, OFFSET_BEGINNING)], 1)
        self.assertEqual(m.value(), b"in a new partition")

    # -- concurrent producers -------------------------------------------

    def test_concurrent_producers_same_partition(self):
        b = self.bootstrap
        create_topic(b, "shared", 1)
        per_producer = 20_000
        delivery = Delivery()

        def run(tag):
            producer = make_producer(b)
            for i in range(per_producer):
                produce(producer, "shared", delivery, (tag, i), value=b"%s-%d" % (tag, i),
                        partition=0)
            flush(producer)

        threads = [threading.Thread(target=run, args=(tag,)) for tag in (b"A", b"B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 2)
        self.assertEqual(delivery.errors, [])
        offsets = sorted(off for _, off in delivery.done.values())
        self.assertEqual(offsets, list(range(2 * per_producer)), "offsets contiguous and unique")

        got = consume(b, [TopicPartition("shared", 0, OFFSET_BEGINNING)], 2 * per_producer)
        self.assertEqual([m.offset() for m in got], list(range(2 * per_producer)))
        by_tag = {b"A": [], b"B": []}
        for m in got:
            tag, i = m.value().split(b"-")
            by_tag[tag].append(int(i))
            self.assertEqual(delivery.done[(tag, int(i))], (0, m.offset()))
        for tag, seq in by_tag.items():
            self.assertEqual(seq, list(range(per_producer)), f"producer {tag}")


class RestartTest(unittest.TestCase):
    """Each test has its own kgw, since it restarts it."""

    def setUp(self):
        self.kgw = kgw_harness.Kgw()
        self.kgw.start()

    def tearDown(self):
        self.kgw.close()

    def check_acknowledged(self, topic, partitions, delivery, values):
        """Every acknowledged message is at its offset with its value."""
        b = self.kgw.bootstrap
        ends = [watermarks(b, topic, p)[1] for p in range(partitions)]
        got = consume(b, all_partitions(topic, partitions), sum(ends))
        at = {(m.partition(), m.offset()): m.value() for m in got}
        for ident, where in delivery.done.items():
            self.assertIn(where, at, f"acknowledged message {ident} lost")
            self.assertEqual(at[where], values(ident), f"message {ident}")
        return got

    def test_restart_and_kill_keep_acknowledged_data(self):
        b = self.kgw.bootstrap
        create_topic(b, "durable", 4)
        count = 20_000
        producer = make_producer(b, acks="all")
        delivery = Delivery()
        for i in range(count):
            produce(producer, "durable", delivery, i, key=b"k%d" % i, value=b"d%d" % i)
        flush(producer)
        del producer
        self.assertEqual(delivery.errors, [])
        self.assertEqual(len(delivery.done), count)

        def values(i):
            return b"d%d" % i

        self.kgw.restart(kill=True)
        self.assertEqual(len(self.check_acknowledged("durable", 4, delivery, values)), count)
        self.kgw.restart()
        self.assertEqual(len(self.check_acknowledged("durable", 4, delivery, values)), count)
        self.assertEqual(topic_partitions(self.kgw.bootstrap, "durable"), [0, 1, 2, 3])

        # The logs go on at the next offsets after the restarts.
        producer = make_producer(self.kgw.bootstrap)
        more = Delivery()
        for p in range(4):
            produce(producer, "durable", more, p, value=b"after", partition=p)
        flush(producer)
        ends = {p: off for p, off in more.done.values()}
        self.assertEqual(sum(ends.values()), count)

    def test_deleted_topic_stays_deleted_after_restart(self):
        b = self.kgw.bootstrap
        a = admin(b)
        for name in ("gone", "kept"):
            create_topic(b, name, 2)
        producer = make_producer(b)
        delivery = Delivery()
        for i in range(100):
            produce(producer, "gone" if i % 2 else "kept", delivery, i, value=b"%d" % i,
                    partition=i % 2)
        flush(producer)
        del producer
        a.delete_topics(["gone"], operation_timeout=30)["gone"].result(TIMEOUT)
        del a
        for kill in (False, True):
            self.kgw.restart(kill=kill)
            b = self.kgw.bootstrap
            self.assertIsNone(topic_partitions(b, "gone"), f"deleted topic back (kill={kill})")
            self.assertEqual(topic_partitions(b, "kept"), [0, 1])
            self.assertEqual([watermarks(b, "kept", p) for p in (0, 1)], [(0, 50), (0, 0)])
        # A new topic of the same name starts empty.
        create_topic(b, "gone", 2)
        self.assertEqual([watermarks(b, "gone", p) for p in (0, 1)], [(0, 0), (0, 0)])

    def test_clean_stop_while_busy(self):
        # SIGTERM with a fetch parked for 30 s and a producer streaming:
        # kgw answers the fetch, stops, exits 0, and what was acknowledged
        # is there after the restart.
        b = self.kgw.bootstrap
        create_topic(b, "busy", 2)
        consumer = make_consumer(b, fetch_wait_max_ms=30_000, socket_timeout_ms=60_000)
        consumer.assign([TopicPartition("busy", 1, 0)])
        self.assertIsNone(consumer.poll(2.0))  # partition 1 stays empty: parked
        producer = make_producer(b, message_timeout_ms=5000, retries=0)
        delivery = Delivery()
        stop = threading.Event()

        def stream():
            i = 0
            while not stop.is_set():
                produce(producer, "busy", delivery, i, value=b"b%d" % i, partition=0)
                i += 1
                if i % 1000 == 0:
                    time.sleep(0.01)

        t = threading.Thread(target=stream)
        t.start()
        try:
            kgw_harness.wait_until(lambda: len(delivery.done) >= 5000, TIMEOUT,
                                   what="5000 acknowledged messages")
            self.kgw.stop()  # asserts exit code 0
        finally:
            stop.set()
            t.join(TIMEOUT)
            consumer.close()
        # What was not acknowledged is dropped here (some of it may have
        # been written, which is fine).
        producer.purge()
        producer.flush(TIMEOUT)
        with delivery.lock:
            delivery.done = dict(delivery.done)
        self.kgw.start()
        self.check_acknowledged("busy", 2, delivery, lambda n: b"b%d" % n)

    def test_kill_while_producing(self):
        b = self.kgw.bootstrap
        create_topic(b, "midflight", 2)
        producer = make_producer(b, acks="all", message_timeout_ms=5000, retries=0)
        delivery = Delivery()
        i = 0
        # Produce until a good part is acknowledged, then kill -9 with more
        # in flight.
        deadline = time.monotonic() + TIMEOUT
        while len(delivery.done) < 10_000:
            if time.monotonic() > deadline:
                self.fail(f"only {len(delivery.done)} acknowledged after {TIMEOUT}s")
            produce(producer, "midflight", delivery, i, value=b"f%d" % i)
            i += 1
        for _ in range(5000):
            produce(producer, "midflight", delivery, i, value=b"f%d" % i)
            i += 1
        self.kgw.kill()
        # What was not acknowledged is dropped here (some of it may have
        # been written, which is fine).
        producer.purge()
        producer.flush(TIMEOUT)
        del producer
        with delivery.lock:
            acknowledged = dict(delivery.done)
        delivery.done = acknowledged
        self.kgw.start()
        self.check_acknowledged("midflight", 2, delivery, lambda n: b"f%d" % n)


if __name__ == "__main__":
    kgw_harness.main()
