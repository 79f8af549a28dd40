"""Produce v0-v2 with legacy message sets (magic 0 and 1) against a real kgw:
up-converted to record batch v2 as Kafka does, then read back by a modern
client (confluent_kafka, Fetch v11) with keys, values and timestamps
intact; a bad CRC is CORRUPT_MESSAGE and the connection stays usable. A
request of many small gzip wrappers that together inflate far beyond the
request's decompression budget is CORRUPT_MESSAGE too, with kgw's memory
bounded."""

import gzip
import os
import resource
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


class DecompressionBudgetTest(unittest.TestCase):
    """One 20 MB Produce v2 request of ~300 gzip wrappers, each inflating to
    60 MB of zeros (18 GB in all): answered with an error, kgw's peak RSS
    stays far below that and it keeps serving."""

    PEAK_RSS_LIMIT_KB = 400 * 1024

    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()
        cls.sanitized = bool(os.environ.get("KGW_SANITIZED"))
        if not cls.sanitized:
            # An unbounded kgw fails its allocations here instead of taking
            # the test machine's memory (ASan needs its huge address space).
            resource.prlimit(cls.kgw.pid, resource.RLIMIT_AS, (4 << 30, 4 << 30))
        admin = AdminClient({"bootstrap.servers": cls.kgw.bootstrap})
        admin.create_topics([NewTopic("legacy-bomb", 1, 1)])["legacy-bomb"].result(TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def test_many_small_gzip_wrappers(self):
        inner = message(1, None, bytes(60 << 20), 1)
        wrapper = message(1, None, gzip.compress(inner, compresslevel=9), 1, attributes=1)
        count = (20 << 20) // len(wrapper)
        self.assertGreater(count, 200)
        c = Conn(self.kgw.bootstrap, timeout=120.0)
        self.addCleanup(c.close)
        err, _ = produce(c, 2, "legacy-bomb", wrapper * count)
        self.assertEqual(err, CORRUPT_MESSAGE)
        self.assertTrue(self.kgw.alive(), "kgw died\n" + self.kgw.stderr_tail())
        # Still serving, on this connection and on a new one.
        self.assertEqual(produce(c, 2, "legacy-bomb", message(1, b"k", b"v", 1)), (NONE, 0))
        c2 = Conn(self.kgw.bootstrap)
        self.addCleanup(c2.close)
        self.assertEqual(produce(c2, 2, "legacy-bomb", message(1, b"k", b"v", 2)), (NONE, 1))
        if not self.sanitized:
            with open(f"/proc/{self.kgw.pid}/status") as f:
                peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            print(f"{count} wrappers: kgw peak RSS {peak // 1024} MiB")
            self.assertLess(peak, self.PEAK_RSS_LIMIT_KB)


if __name__ == "__main__":
    kgw_harness.main()
