"""kcat (librdkafka 2.0.2) against a real kgw: metadata, 100,000 lines
produced and consumed in order, surviving kill -9 and a clean restart, and
offsets by time (-Q)."""

import json
import subprocess
import time
import unittest

import kgw_harness

kgw_harness.require_programs("kcat", "seq")

LINES = 100_000
# Generous: only keeps a broken kgw from hanging the suite.
KCAT_TIMEOUT = 120

# kgw has no InitProducerId yet; kcat does not enable idempotence by
# default, but say so in case a librdkafka default changes.
PRODUCER_OPTS = ["-X", "enable.idempotence=false"]


def kcat(bootstrap, *args, input=None):
    proc = subprocess.run(["kcat", "-b", bootstrap, *args], input=input, capture_output=True,
                          timeout=KCAT_TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.stdout


def produce_lines(bootstrap, topic, data):
    kcat(bootstrap, "-P", "-t", topic, *PRODUCER_OPTS, input=data)


def consume_all(bootstrap, topic):
    return kcat(bootstrap, "-C", "-t", topic, "-e", "-q")


def seq_output(first, last):
    return subprocess.run(["seq", str(first), str(last)], capture_output=True,
                          check=True).stdout


class KcatTest(unittest.TestCase):
    def setUp(self):
        self.kgw = kgw_harness.Kgw()
        self.kgw.start()

    def tearDown(self):
        self.kgw.close()

    def assertSameLines(self, got, want):
        # Compare cheaply first; on mismatch, report where it diverges.
        if got == want:
            return
        g, w = got.split(b"\n"), want.split(b"\n")
        for i, (a, b) in enumerate(zip(g, w)):
            if a != b:
                self.fail(f"line {i}: got {a[:80]!r}, want {b[:80]!r} "
                          f"({len(g) - 1} lines got, {len(w) - 1} wanted)")
        self.fail(f"got {len(g) - 1} lines, want {len(w) - 1}")

    def test_metadata_lists_our_broker(self):
        out = kcat(self.kgw.bootstrap, "-L").decode()
        self.assertIn(f"broker 1 at {self.kgw.bootstrap}", out)
        self.assertIn("1 brokers:", out)

    def test_metadata_json_after_auto_create(self):
        produce_lines(self.kgw.bootstrap, "auto1", b"x\n")
        md = json.loads(kcat(self.kgw.bootstrap, "-L", "-J", "-t", "auto1"))
        self.assertEqual([b["id"] for b in md["brokers"]], [1])
        self.assertEqual(md["brokers"][0]["name"], self.kgw.bootstrap)
        [topic] = md["topics"]
        self.assertEqual(topic["topic"], "auto1")
        self.assertNotIn("error", topic)
        self.assertEqual([p["leader"] for p in topic["partitions"]], [1])

    def test_keys_headers_and_nulls(self):
        # Null header values and null message values (-Z), which the
        # librdkafka Python binding of Debian cannot read back safely.
        for codec in ("none", "snappy"):
            topic = f"kh-{codec}"
            kcat(self.kgw.bootstrap, "-P", "-t", topic, "-z", codec, "-K", ":", "-Z",
                 "-H", "a=1", "-H", "nullhdr", "-H", "empty=", *PRODUCER_OPTS,
                 input=b"k1:v1\nk2:v2\nk3:\n")
            out = kcat(self.kgw.bootstrap, "-C", "-t", topic, "-e", "-q", "-J")
            msgs = [json.loads(line) for line in out.splitlines()]
            self.assertEqual([(m["offset"], m["key"], m["payload"]) for m in msgs],
                             [(0, "k1", "v1"), (1, "k2", "v2"), (2, "k3", None)])
            for m in msgs:
                self.assertEqual(m["headers"], ["a", "1", "nullhdr", None, "empty", ""])

    def test_lines_survive_kill_and_restart(self):
        want = seq_output(1, LINES)
        produce_lines(self.kgw.bootstrap, "t1", want)
        self.assertSameLines(consume_all(self.kgw.bootstrap, "t1"), want)

        # kcat -P returned, so every line was acknowledged (acks=all).
        self.kgw.restart(kill=True)
        self.assertSameLines(consume_all(self.kgw.bootstrap, "t1"), want)

        self.kgw.restart()
        self.assertSameLines(consume_all(self.kgw.bootstrap, "t1"), want)

        # The log continues where it was: appends after restarts get the
        # next offsets.
        more = seq_output(LINES + 1, LINES + 10)
        produce_lines(self.kgw.bootstrap, "t1", more)
        self.assertSameLines(consume_all(self.kgw.bootstrap, "t1"), want + more)
        offsets = kcat(self.kgw.bootstrap, "-C", "-t", "t1", "-o", str(LINES), "-e", "-q",
                       "-f", "%o %s\n")
        self.assertEqual(offsets.decode().splitlines(),
                         [f"{LINES + i} {LINES + 1 + i}" for i in range(10)])

    def test_offsets_by_time(self):
        b = self.kgw.bootstrap
        first = seq_output(1, 1000)
        produce_lines(b, "tq", first)
        # A timestamp strictly after every message of the first batch and
        # at or before every message of the second (timestamps are ms;
        # kcat stamps each message when it reads it).
        time.sleep(0.01)
        between = int(time.time() * 1000)
        time.sleep(0.01)
        produce_lines(b, "tq", seq_output(1001, 1500))

        def query(ts):
            out = kcat(b, "-Q", "-t", f"tq:0:{ts}").decode().strip()
            self.assertRegex(out, r"^tq \[0\] offset -?\d+$")
            return int(out.rsplit(" ", 1)[1])

        self.assertEqual(query(between - 3_600_000), 0)  # before everything
        self.assertEqual(query(between), 1000)
        self.assertEqual(query(between + 3_600_000), -1)  # after everything: none
        self.assertEqual(query(-1), 1500)  # latest
        self.assertEqual(query(-2), 0)  # earliest

        # Consuming from the offset found gives the second batch.
        out = kcat(b, "-C", "-t", "tq", "-o", str(query(between)), "-e", "-q")
        self.assertSameLines(out, seq_output(1001, 1500))


if __name__ == "__main__":
    kgw_harness.main()
