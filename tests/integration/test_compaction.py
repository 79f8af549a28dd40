"""Log compaction against a real kgw with real clients (confluent-kafka,
librdkafka 2.0.2): 100,000 updates over 1,000 keys end, after compaction,
as exactly the latest value per key at its original offset, read back
through a consumer; tombstones survive one cleaning and are gone after
delete.retention.ms.

The cleaner leaves the active segment alone (as Kafka does), so the tests
roll it the way Kafka's segment.ms would: a small segment.ms and a filler
record now and then until kgw's log says the cleaner has passed the
offsets they care about. Those log lines also carry the figures printed at
the end (time, offset map memory, bytes before and after). Waiting is for
a state, never for a time; the bound only keeps a broken kgw from hanging
the suite."""

import re
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TIMEOUT = 120.0
KEYS = 1000
UPDATES = 100_000

CLEANED = re.compile(r"cleaner: (\S+)-0: cleaned \[(\d+), (\d+)\) in ([\d.]+) s: (\d+) -> (\d+) bytes "
                     r".*?, (\d+) -> (\d+) records; .* map (\d+) keys in ([\d.]+ \w+)")


class Compaction(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", "log.cleaner.backoff.ms=100")
        cls.kgw.start()
        cls.admin = AdminClient({"bootstrap.servers": cls.kgw.bootstrap})

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def create(self, name, config):
        config = dict({"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01",
                       "segment.ms": "300"}, **config)
        self.admin.create_topics([NewTopic(name, 1, 1, config=config)],
                                 request_timeout=TIMEOUT)[name].result(TIMEOUT)

    def producer(self, **conf):
        base = {"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": False,
                "linger.ms": 5, "acks": "all", "queue.buffering.max.messages": 200_000}
        base.update(conf)
        return Producer(base)

    def cleanings(self, topic):
        """Every "cleaned" log line of the topic, as tuples of numbers."""
        with open(self.kgw.stderr_path, errors="replace") as f:
            return [m for m in CLEANED.finditer(f.read()) if m.group(1) == topic]

    def wait_cleaned_past(self, topic, offset, producer):
        """Adds a filler record now and then (each one that comes after
        segment.ms rolls the active segment) until a cleaning covered
        `offset`; returns that cleaning's log match."""
        def covered():
            for m in self.cleanings(topic):
                if int(m.group(3)) > offset:
                    return m
            producer.produce(topic, key=b"filler", value=b"x")
            producer.flush(TIMEOUT)
            return None
        return kgw_harness.wait_until(covered, TIMEOUT, interval=0.2,
                                      what=f"the cleaner to pass offset {offset} of {topic}")

    def consume_all(self, topic):
        """[(offset, key, value)] from the beginning to the end."""
        c = Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": "kgw-it-unused",
                      "enable.auto.commit": False, "enable.partition.eof": True,
                      "log.connection.close": False})
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out = []
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        return out
                    self.fail(f"consume error: {m.error()}")
                out.append((m.offset(), m.key(), m.value()))
        finally:
            c.close()
        self.fail("the consumer did not reach the end of the partition")

    def test_100k_updates_over_1k_keys_end_as_the_latest_value_per_key(self):
        topic = "compact-100k"
        self.create(topic, {"segment.bytes": str(1 << 20)})
        p = self.producer(**{"compression.type": "zstd"})
        latest = {}  # key -> (offset, value) of its last update
        errors = []

        def cb(err, msg):
            if err is not None:
                errors.append(err)
            else:
                latest[msg.key()] = (msg.offset(), msg.value())

        for i in range(UPDATES):
            key = b"key-%04d" % (i % KEYS)
            while True:
                try:
                    p.produce(topic, key=key, value=b"update-%06d" % i, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.1)
            if i % 10_000 == 0:
                p.poll(0)
        p.flush(TIMEOUT)
        self.assertEqual(errors, [])
        self.assertEqual(len(latest), KEYS)
        last_update = max(o for o, _ in latest.values())
        self.assertEqual(last_update, UPDATES - 1)
        rss_before = self.kgw.rss_kb()

        self.wait_cleaned_past(topic, last_update, p)
        rss_after = self.kgw.rss_kb()
        records = self.consume_all(topic)
        updates = [(o, k, v) for o, k, v in records if k != b"filler"]
        # Exactly one record per key: its last update, at the offset it was
        # written at.
        self.assertEqual(len(updates), KEYS)
        for o, k, v in updates:
            self.assertEqual((o, v), latest[k])
        self.assertEqual(sorted(o for o, _, _ in updates), sorted(o for o, _ in latest.values()))

        runs = self.cleanings(topic)
        total_s = sum(float(m.group(4)) for m in runs)
        first = runs[0]
        print(f"\ncompaction of {UPDATES} updates over {KEYS} keys (zstd batches): "
              f"{len(runs)} pass(es), {total_s:.2f} s in all; first pass: "
              f"{first.group(5)} -> {first.group(6)} bytes, {first.group(7)} -> {first.group(8)} "
              f"records in {first.group(4)} s, offset map {first.group(9)} keys in {first.group(10)}; "
              f"kgw RSS {rss_before} KiB before, {rss_after} KiB after", flush=True)

    def test_tombstones_survive_one_cleaning_and_go_after_delete_retention_ms(self):
        topic = "compact-tombstones"
        # Long enough that the first check below reads the tombstones before
        # a later cleaning may drop them, even on a loaded machine (at 1 s a
        # slow consumer in CI once found them gone already).
        self.create(topic, {"delete.retention.ms": "5000"})
        p = self.producer()
        for i in range(10):
            p.produce(topic, key=b"k%d" % i, value=b"a")
        p.flush(TIMEOUT)
        for i in range(5):
            p.produce(topic, key=b"k%d" % i, value=None)
        p.flush(TIMEOUT)
        last_tombstone = 14
        self.wait_cleaned_past(topic, last_tombstone, p)
        by_key = {}
        for o, k, v in self.consume_all(topic):
            if k != b"filler":
                self.assertNotIn(k, by_key, "a key appears twice after compaction")
                by_key[k] = (o, v)
        # The deletes are visible (consumers have delete.retention.ms to see
        # them); the values they deleted are gone.
        for i in range(5):
            self.assertEqual(by_key[b"k%d" % i], (10 + i, None))
        for i in range(5, 10):
            self.assertEqual(by_key[b"k%d" % i], (i, b"a"))

        def tombstones_gone():
            keys = {k for _, k, _ in self.consume_all(topic)}
            if all(b"k%d" % i not in keys for i in range(5)):
                return True
            p.produce(topic, key=b"filler", value=b"x")
            p.flush(TIMEOUT)
            return False
        kgw_harness.wait_until(tombstones_gone, TIMEOUT, interval=0.3,
                               what="the tombstones to go after delete.retention.ms")
        left = {k: (o, v) for o, k, v in self.consume_all(topic) if k != b"filler"}
        self.assertEqual(left, {b"k%d" % i: (i, b"a") for i in range(5, 10)})

    def test_kept_records_keep_their_offsets(self):
        # Offsets of kept records never change: a consumer that stored an
        # offset before compaction finds the same record there after.
        topic = "compact-offsets"
        self.create(topic, {})
        p = self.producer()
        for i in range(200):
            p.produce(topic, key=b"k%d" % (i % 20), value=b"%d" % i)
        p.flush(TIMEOUT)
        before = {o: (k, v) for o, k, v in self.consume_all(topic)}
        self.wait_cleaned_past(topic, 199, p)
        after = [(o, k, v) for o, k, v in self.consume_all(topic) if k != b"filler"]
        self.assertEqual(len(after), 20)
        for o, k, v in after:
            self.assertEqual(before[o], (k, v))


if __name__ == "__main__":
    kgw_harness.main()
