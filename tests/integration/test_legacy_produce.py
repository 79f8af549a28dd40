"""Produce v0-v2 with legacy message sets (magic 0 and 1) against a real kgw:
up-converted to record batch v2 as Kafka does, then read back by a modern
client (confluent_kafka, Fetch v11) with keys, values and timestamps
intact; a bad CRC is CORRUPT_MESSAGE and the connection stays usable."""

import gzip
import struct
import time
import unittest
import zlib

import kgw_harness
from kafka_wire import Conn, Enc

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PRODUCE = 0
NONE, CORRUPT_MESSAGE = 0, 2
TIMEOUT = 30.0


def _nbytes(b):
    return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b


def message(magic, key, value, timestamp=None, attributes=0):
    """One legacy message (crc .. value) with its offset/size entry header."""
    body = struct.pack(">bb", magic, attributes)
    if magic == 1:
        body += struct.pack(">q", timestamp)
    body += _nbytes(key) + _nbytes(value)
    msg = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", 0, len(msg)) + msg


def produce(conn, version, topic, message_set):
    e = Enc()
    if version >= 3:
        e.string(None)
    body = e.i16(1).i32(10000).array([topic], lambda e, t: e.string(t).array(
        [0], lambda e, p: e.i32(p).bytes_(message_set)))
    d = conn.call(PRODUCE, version, body)
    (_name, parts), = d.array(lambda d: (d.string(), d.array(
        lambda d: (d.i32(), d.i16(), d.i64()) + ((d.i64(),) if version >= 2 else ()))))
    return parts[0][1], parts[0][2]


def consume(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "legacy-reader",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
        return out
    finally:
        c.close()


class LegacyProduceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()
        admin = AdminClient({"bootstrap.servers": cls.kgw.bootstrap})
        for t in ("legacy", "legacy-gzip", "legacy-bad"):
            admin.create_topics([NewTopic(t, 1, 1)])[t].result(TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def setUp(self):
        self.c = Conn(self.kgw.bootstrap)
        self.addCleanup(self.c.close)

    def test_magic0_and_magic1_uncompressed(self):
        # Produce v0/v1: magic 0 (no timestamps); v2: magic 1 with timestamps.
        self.assertEqual(produce(self.c, 0, "legacy",
                                 message(0, b"k0", b"v0") + message(0, None, b"v1")), (NONE, 0))
        self.assertEqual(produce(self.c, 1, "legacy", message(0, b"k2", None)), (NONE, 2))
        ts = 1_700_000_000_123
        self.assertEqual(produce(self.c, 2, "legacy",
                                 message(1, b"k3", b"v3", ts) + message(1, b"k4", b"v4", ts + 1)),
                         (NONE, 3))
        got = consume(self.kgw.bootstrap, "legacy", 5)
        self.assertEqual(got, [(0, b"k0", b"v0", -1), (1, None, b"v1", -1), (2, b"k2", None, -1),
                               (3, b"k3", b"v3", ts), (4, b"k4", b"v4", ts + 1)])

    def test_gzip_wrapper(self):
        ts = 1_700_000_000_500
        inner = b"".join(message(1, f"k{i}".encode(), f"v{i}".encode(), ts + i) for i in range(10))
        wrapper = message(1, None, gzip.compress(inner), ts + 9, attributes=1)
        self.assertEqual(produce(self.c, 2, "legacy-gzip", wrapper), (NONE, 0))
        got = consume(self.kgw.bootstrap, "legacy-gzip", 10)
        self.assertEqual(got, [(i, f"k{i}".encode(), f"v{i}".encode(), ts + i) for i in range(10)])

    def test_bad_crc_is_corrupt_message(self):
        bad = bytearray(message(1, b"k", b"v", 1))
        bad[-1] ^= 0xFF
        err, _ = produce(self.c, 2, "legacy-bad", bytes(bad))
        self.assertEqual(err, CORRUPT_MESSAGE)
        truncated = message(0, b"k", b"v")[:-3]
        err, _ = produce(self.c, 0, "legacy-bad", truncated)
        self.assertEqual(err, CORRUPT_MESSAGE)
        # The connection still serves a good request.
        err, _ = produce(self.c, 2, "legacy-bad", message(1, b"ok", b"ok", 1))
        self.assertEqual(err, NONE)


if __name__ == "__main__":
    kgw_harness.main()
