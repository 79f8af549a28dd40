"""kafka-python 2.0.2, a pure-Python client with its own encoder, against a
real kgw: produce and consume a few thousand messages (assign, no group),
list topics, offsets, and create/delete topics through KafkaAdminClient."""

import time
import unittest

import kgw_harness

kgw_harness.require_modules("kafka")

import kafka.codec  # noqa: E402
import kafka.errors  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewPartitions, NewTopic  # noqa: E402

# Generous bounds that only keep a broken kgw from hanging the suite.
TIMEOUT = 60.0
COUNT = 5000

CODECS = {
    None: True,
    "gzip": kafka.codec.has_gzip(),
    "snappy": kafka.codec.has_snappy(),
    "lz4": kafka.codec.has_lz4(),
    "zstd": kafka.codec.has_zstd(),
}


class KafkaPythonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()
        cls.bootstrap = cls.kgw.bootstrap
        cls.admin = KafkaAdminClient(bootstrap_servers=cls.bootstrap,
                                     request_timeout_ms=int(TIMEOUT * 1000))

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        cls.kgw.stop()
        cls.kgw.close()

    def consumer(self):
        return KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                             enable_auto_commit=False, request_timeout_ms=int(TIMEOUT * 1000) + 1)

    def consume(self, partitions, count, seek=None):
        consumer = self.consumer()
        try:
            consumer.assign(partitions)
            if seek is None:
                consumer.seek_to_beginning()
            else:
                for tp, offset in seek.items():
                    consumer.seek(tp, offset)
            out = []
            deadline = time.monotonic() + TIMEOUT
            while len(out) < count:
                if time.monotonic() > deadline:
                    self.fail(f"only {len(out)} of {count} messages after {TIMEOUT}s")
                for records in consumer.poll(timeout_ms=500).values():
                    out.extend(records)
            return out
        finally:
            consumer.close()

    def produce_and_consume(self, topic, compression):
        self.admin.create_topics([NewTopic(topic, 3, 1)])
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                 compression_type=compression, linger_ms=5)
        try:
            futures = []
            for i in range(COUNT):
                futures.append(producer.send(
                    topic, key=b"k%d" % (i % 101), value=b"value %d " % i + b"x" * (i % 200),
                    headers=[("idx", b"%d" % i), ("empty", b"")]))
            producer.flush(TIMEOUT)
            acked = [f.get(TIMEOUT) for f in futures]
        finally:
            producer.close(TIMEOUT)
        where = {(md.partition, md.offset): i for i, md in enumerate(acked)}
        self.assertEqual(len(where), COUNT, "each message at its own offset")
        for p in range(3):
            offs = sorted(o for (pp, o) in where if pp == p)
            self.assertEqual(offs, list(range(len(offs))), f"partition {p}")

        got = self.consume([TopicPartition(topic, p) for p in range(3)], COUNT)
        self.assertEqual(len(got), COUNT)
        last = {}
        for m in got:
            i = where[(m.partition, m.offset)]
            self.assertEqual(m.key, b"k%d" % (i % 101))
            self.assertEqual(m.value, b"value %d " % i + b"x" * (i % 200))
            self.assertEqual(m.headers, [("idx", b"%d" % i), ("empty", b"")])
            self.assertGreater(m.offset, last.get(m.partition, -1))
            last[m.partition] = m.offset

    def test_produce_consume(self):
        self.produce_and_consume("kp-none", None)

    def test_produce_consume_compressed(self):
        for codec, available in CODECS.items():
            if codec is None:
                continue
            with self.subTest(codec=codec):
                if not available:
                    self.skipTest(f"kafka-python has no {codec} module")
                self.produce_and_consume(f"kp-{codec}", codec)

    def test_list_topics_and_offsets(self):
        self.admin.create_topics([NewTopic("listed", 2, 1)])
        producer = KafkaProducer(bootstrap_servers=self.bootstrap)
        base = (int(time.time()) - 600) * 1000
        for i in range(100):
            producer.send("listed", value=b"%d" % i, partition=i % 2, timestamp_ms=base + i)
        producer.flush(TIMEOUT)
        producer.close(TIMEOUT)

        self.assertIn("listed", self.admin.list_topics())
        consumer = self.consumer()
        try:
            self.assertIn("listed", consumer.topics())
            self.assertEqual(consumer.partitions_for_topic("listed"), {0, 1})
            tps = [TopicPartition("listed", p) for p in range(2)]
            self.assertEqual(consumer.beginning_offsets(tps), {tp: 0 for tp in tps})
            self.assertEqual(consumer.end_offsets(tps), {tp: 50 for tp in tps})
            # Partition 0 holds timestamps base+0, +2, ...; partition 1 base+1, +3, ...
            found = consumer.offsets_for_times({tps[0]: base + 10, tps[1]: base + 10})
            self.assertEqual(found[tps[0]].offset, 5)
            self.assertEqual(found[tps[0]].timestamp, base + 10)
            self.assertEqual(found[tps[1]].offset, 5)
            self.assertEqual(found[tps[1]].timestamp, base + 11)
        finally:
            consumer.close()
        got = self.consume([tps[1]], 45, seek={tps[1]: 5})
        self.assertEqual([m.value for m in got], [b"%d" % i for i in range(11, 100, 2)])

    def test_admin_create_delete(self):
        resp = self.admin.create_topics([NewTopic("adm", 4, 1,
                                                  topic_configs={"retention.ms": "60000"})])
        self.assertEqual([(t[0], t[1]) for t in resp.topic_errors], [("adm", 0)])
        consumer = self.consumer()
        try:
            self.assertEqual(consumer.partitions_for_topic("adm"), {0, 1, 2, 3})
        finally:
            consumer.close()
        with self.assertRaises(kafka.errors.TopicAlreadyExistsError):
            self.admin.create_topics([NewTopic("adm", 4, 1)])

        self.admin.create_partitions({"adm": NewPartitions(6)})
        self.admin.delete_topics(["adm"])
        self.assertNotIn("adm", self.admin.list_topics())
        with self.assertRaises(kafka.errors.UnknownTopicOrPartitionError):
            self.admin.delete_topics(["adm"])


if __name__ == "__main__":
    kgw_harness.main()
