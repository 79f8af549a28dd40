"""Partition counts are capped before anything is allocated: one CreateTopics
or CreatePartitions asking for 2,000,000,000 partitions, or one Metadata
request naming 100,000 unknown topics with auto-creation on, is answered
INVALID_PARTITIONS (naming kgw.max.partitions.per.request or
kgw.max.partitions and how to raise it) while kgw's peak RSS stays small and
kgw keeps answering. Raw frames (kafka_wire), since client libraries check
counts themselves."""

import os
import resource
import unittest

import kgw_harness
from kafka_wire import Conn, Enc

METADATA, CREATE_TOPICS, CREATE_PARTITIONS = 3, 19, 37
NONE, INVALID_PARTITIONS = 0, 37
HUGE = 2_000_000_000
# Peak RSS (VmHWM) bound: an idle kgw is ~30 MiB; per-partition state for
# even 10 million partitions would be far beyond this.
PEAK_RSS_LIMIT_KB = 300 * 1024
SANITIZED = bool(os.environ.get("KGW_SANITIZED"))


def peak_rss_kb(kgw):
    with open(f"/proc/{kgw.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise kgw_harness.KgwError("no VmHWM in /proc status")


def cap_address_space(kgw):
    # Keeps an unfixed kgw from taking the shared test machine's memory:
    # a huge allocation fails (and kgw dies) instead. ASan reserves
    # terabytes of shadow address space, so not under the sanitizers.
    if not SANITIZED:
        resource.prlimit(kgw.pid, resource.RLIMIT_AS, (4 << 30, 4 << 30))


def create_topics(conn, topics, validate_only=False):
    """CreateTopics v4: [(name, partitions)] -> {name: (error, message)}."""
    body = Enc().array(topics, lambda e, t: e.string(t[0]).i32(t[1]).i16(-1)
                       .array([], None).array([], None))
    body.i32(30000).boolean(validate_only)
    d = conn.call(CREATE_TOPICS, 4, body)
    d.i32()  # throttle
    return dict(d.array(lambda d: (d.string(), (d.i16(), d.string()))))


def create_partitions(conn, topic, count):
    """CreatePartitions v1 -> (error, message)."""
    body = Enc().array([topic], lambda e, t: e.string(t).i32(count).i32(-1))
    body.i32(30000).boolean(False)
    d = conn.call(CREATE_PARTITIONS, 1, body)
    d.i32()
    (_name, err, msg), = d.array(lambda d: (d.string(), d.i16(), d.string()))
    return err, msg


def metadata(conn, topics, allow_auto_create=True):
    """Metadata v4 -> {name: (error, partition count)}."""
    body = Enc().array(topics, lambda e, t: e.string(t)).boolean(allow_auto_create)
    d = conn.call(METADATA, 4, body)
    d.i32()
    d.array(lambda d: (d.i32(), d.string(), d.i32(), d.string()))
    d.string()
    d.i32()

    def partition(d):
        d.i16(), d.i32(), d.i32()
        d.array(lambda d: d.i32())
        d.array(lambda d: d.i32())

    def topic(d):
        err, name, _internal = d.i16(), d.string(), d.boolean()
        return name, (err, len(d.array(partition)))

    return dict(d.array(topic))


class DefaultLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()
        cap_address_space(cls.kgw)

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def setUp(self):
        self.c = Conn(self.kgw.bootstrap)
        self.addCleanup(self.c.close)

    def still_serving(self):
        self.assertTrue(self.kgw.alive(), "kgw died\n" + self.kgw.stderr_tail())
        fresh = Conn(self.kgw.bootstrap, timeout=10.0)
        try:
            self.assertEqual(metadata(fresh, ["serving-probe"])["serving-probe"], (NONE, 1))
        finally:
            fresh.close()
        if not SANITIZED:
            rss = peak_rss_kb(self.kgw)
            print(f"kgw peak RSS {rss // 1024} MiB")
            self.assertLess(rss, PEAK_RSS_LIMIT_KB, f"kgw peak RSS {rss} KiB")

    def test_create_topics_two_billion_partitions(self):
        got = create_topics(self.c, [("huge", HUGE)])
        err, msg = got["huge"]
        self.assertEqual(err, INVALID_PARTITIONS, msg)
        self.assertIn("kgw.max.partitions.per.request", msg)
        # validate_only is checked the same way.
        err, msg = create_topics(self.c, [("huge-v", HUGE)], validate_only=True)["huge-v"]
        self.assertEqual(err, INVALID_PARTITIONS, msg)
        # Several topics in one request count together: two of 6,000 are
        # over the 10,000 default, the first fits.
        got = create_topics(self.c, [("half-a", 6000), ("half-b", 6000)])
        self.assertEqual(got["half-a"][0], NONE, got)
        self.assertEqual(got["half-b"][0], INVALID_PARTITIONS, got)
        self.assertIn("kgw.max.partitions.per.request", got["half-b"][1])
        self.still_serving()

    def test_create_partitions_two_billion(self):
        self.assertEqual(create_topics(self.c, [("grow", 1)])["grow"][0], NONE)
        err, msg = create_partitions(self.c, "grow", HUGE)
        self.assertEqual(err, INVALID_PARTITIONS, msg)
        self.assertIn("kgw.max.partitions.per.request", msg)
        # Nothing changed: still one partition.
        self.assertEqual(metadata(self.c, ["grow"], False)["grow"], (NONE, 1))
        self.assertEqual(create_partitions(self.c, "grow", 3), (NONE, None))
        self.assertEqual(metadata(self.c, ["grow"], False)["grow"], (NONE, 3))
        self.still_serving()

    def test_metadata_auto_creating_100000_topics(self):
        names = [f"auto-{i}" for i in range(100_000)]
        got = metadata(self.c, names)
        self.assertEqual(len(got), len(names))
        created = [n for n, (err, _) in got.items() if err == NONE]
        refused = [n for n, (err, _) in got.items() if err == INVALID_PARTITIONS]
        # num.partitions is 1: the first 10,000 names fit the per-request cap.
        self.assertEqual(len(created), 10_000)
        self.assertEqual(len(refused), 90_000)
        self.assertEqual(created, names[:10_000])
        self.still_serving()


class BrokerLimitTest(unittest.TestCase):
    """A small kgw.max.partitions: the whole broker's count is capped."""

    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", "kgw.max.partitions=50")
        cls.kgw.start()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def test_broker_cap(self):
        c = Conn(self.kgw.bootstrap)
        self.addCleanup(c.close)
        self.assertEqual(create_topics(c, [("b1", 30)])["b1"][0], NONE)
        err, msg = create_topics(c, [("b2", 30)])["b2"]
        self.assertEqual(err, INVALID_PARTITIONS, msg)
        self.assertIn("kgw.max.partitions", msg)
        self.assertIn("30", msg)
        err, msg = create_partitions(c, "b1", 51)
        self.assertEqual(err, INVALID_PARTITIONS, msg)
        self.assertEqual(create_partitions(c, "b1", 50), (NONE, None))
        self.assertEqual(metadata(c, ["b1"], False)["b1"], (NONE, 50))
        # Auto-creation too: the broker is full.
        self.assertEqual(metadata(c, ["b3"])["b3"], (INVALID_PARTITIONS, 0))


if __name__ == "__main__":
    kgw_harness.main()
