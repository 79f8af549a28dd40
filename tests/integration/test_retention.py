"""Retention against a real kgw with real clients (confluent-kafka,
librdkafka 2.0.2): by time and by size the oldest segments go, the log
start offset moves, ListOffsets earliest follows, a fetch below it is
OFFSET_OUT_OF_RANGE, and DescribeLogDirs shows what is left.

Segments are made one batch each (segment.bytes just above one batch, one
message per batch), so what retention deletes is exact. kgw checks
retention every 100 ms here; the tests wait for the state they expect (a
generous bound only keeps a broken kgw from hanging them)."""

import time
import unittest

import admin_wire as wire
import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

TIMEOUT = 60.0
VALUE = b"v" * 100  # one message: a batch of about 170 bytes
SEGMENT_BYTES = 250  # so each batch rolls the segment: one batch per segment


class Retention(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", "log.retention.check.interval.ms=100")
        cls.kgw.start()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    @property
    def admin(self):
        # One client per kgw start (the port changes on restart).
        cls = type(self)
        if getattr(cls, "_admin_for", None) != self.kgw.bootstrap:
            cls._admin = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
            cls._admin_for = self.kgw.bootstrap
        return cls._admin

    def create(self, name, config):
        config = dict(config, **{"segment.bytes": str(SEGMENT_BYTES)})
        fs = self.admin.create_topics([NewTopic(name, 1, 1, config=config)], request_timeout=TIMEOUT)
        fs[name].result(TIMEOUT)

    def produce(self, topic, count, timestamp_ms=None):
        """One message per batch; returns their offsets."""
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": False,
                      "linger.ms": 0, "acks": "all"})
        offsets = []
        for i in range(count):
            def cb(err, msg):
                self.assertIsNone(err)
                offsets.append(msg.offset())
            kw = {"timestamp": timestamp_ms} if timestamp_ms is not None else {}
            p.produce(topic, key=b"k%03d" % i, value=VALUE, on_delivery=cb, **kw)
            p.flush(TIMEOUT)
        self.assertEqual(len(offsets), count)
        return offsets

    def consumer(self, **conf):
        base = {"bootstrap.servers": self.kgw.bootstrap, "group.id": "kgw-it-unused",
                "enable.auto.commit": False, "enable.partition.eof": True,
                "log.connection.close": False}
        base.update(conf)
        return Consumer(base)

    def watermarks(self, topic):
        c = self.consumer()
        try:
            return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
        finally:
            c.close()

    def wait_for_earliest(self, topic, predicate, what):
        return kgw_harness.wait_until(lambda: predicate(self.watermarks(topic)[0]) and self.watermarks(topic),
                                      TIMEOUT, interval=0.1, what=what)

    def consume_all(self, topic, start=OFFSET_BEGINNING, **conf):
        """(offsets read, error) from `start` to the end of the partition."""
        c = self.consumer(**conf)
        c.assign([TopicPartition(topic, 0, start)])
        offsets, error = [], None
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        break
                    error = m.error()
                    break
                offsets.append(m.offset())
        finally:
            c.close()
        return offsets, error

    def log_size(self, topic):
        (err, _dir, topics), = wire.describe_log_dirs(self.kgw.bootstrap, [(topic, [0])])
        self.assertEqual(err, 0)
        return topics[topic][0]

    def test_retention_by_time_deletes_old_segments_and_moves_the_earliest_offset(self):
        self.create("ret-time", {"retention.ms": "3600000"})
        old = self.produce("ret-time", 10, timestamp_ms=int(time.time() * 1000) - 2 * 86400000)
        new = self.produce("ret-time", 10)
        self.assertEqual(old, list(range(10)))
        self.wait_for_earliest("ret-time", lambda low: low == 10, "the log start to reach offset 10")
        self.assertEqual(self.watermarks("ret-time"), (10, 20))
        offsets, error = self.consume_all("ret-time")
        self.assertIsNone(error)
        self.assertEqual(offsets, new)
        # A fetch below the log start is out of range.
        _, error = self.consume_all("ret-time", start=3, **{"auto.offset.reset": "error"})
        self.assertIsNotNone(error)
        self.assertIn("out of range", error.str().lower())

    def test_retention_by_size_keeps_at_least_retention_bytes(self):
        self.create("ret-size-probe", {})
        self.produce("ret-size-probe", 1)
        batch = self.log_size("ret-size-probe")
        retention = 5 * batch + batch // 2
        self.create("ret-size", {"retention.bytes": str(retention)})
        self.produce("ret-size", 20)
        # Kafka's rule: delete whole segments while what stays is still at
        # least retention.bytes: here 6 batches stay.
        self.wait_for_earliest("ret-size", lambda low: low == 14, "the log start to reach offset 14")
        size = self.log_size("ret-size")
        self.assertEqual(size, 6 * batch)
        self.assertGreaterEqual(size, retention)
        offsets, error = self.consume_all("ret-size")
        self.assertIsNone(error)
        self.assertEqual(offsets, list(range(14, 20)))

    def test_everything_expired_keeps_the_log_end_offset(self):
        self.create("ret-all", {"retention.ms": "3600000"})
        self.produce("ret-all", 5, timestamp_ms=int(time.time() * 1000) - 2 * 86400000)
        self.wait_for_earliest("ret-all", lambda low: low == 5, "every record to expire")
        self.assertEqual(self.watermarks("ret-all"), (5, 5))
        self.assertEqual(self.log_size("ret-all"), 0)
        self.kgw.restart()
        self.assertEqual(self.watermarks("ret-all"), (5, 5))
        self.assertEqual(self.produce("ret-all", 1), [5])

    def test_retention_follows_a_config_change(self):
        self.create("ret-change", {})
        self.produce("ret-change", 4, timestamp_ms=int(time.time() * 1000) - 2 * 86400000)
        self.produce("ret-change", 1)
        # Default retention.ms is 7 days: nothing goes.
        self.assertEqual(self.watermarks("ret-change"), (0, 5))
        res = ConfigResource("topic", "ret-change",
                             set_config={"retention.ms": "86400000",
                                         "segment.bytes": str(SEGMENT_BYTES)})
        self.admin.alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
        self.wait_for_earliest("ret-change", lambda low: low == 4, "the two-day-old records to go")


if __name__ == "__main__":
    kgw_harness.main()
