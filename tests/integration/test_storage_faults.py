"""Storage faults: what an idempotent producer is told when kgw's disk
fails or stalls, and that nothing acknowledged is lost.

kgw runs with KGW_FAULT_INJECTION=DIR (storage/fault_injection.h): while
DIR/fail exists every write to RocksDB's WAL fails with an I/O error; while
DIR/stall exists it waits. A real librdkafka producer (confluent_kafka,
enable.idempotence=true, retries) sends numbered messages; each test ends by
restarting kgw without faults on the same port (the producer retries there)
and reading the partition back with kcat: every message the producer was
told is stored must be in the log, once, in order.

- test_failed_write_is_not_acknowledged_on_retry: the write of a message
  fails (DIR/fail). kgw must not answer the producer's retry of it as a
  duplicate of the batch that was never stored (it did before: the
  producer state remembered the batch before the write), and it stops with
  exit code 1 and one line naming the data dir and what to do, as Kafka
  stops a broker whose only log dir failed.
- test_retry_waits_for_the_original_write: the writer stalls (DIR/stall)
  with a message queued; the producer's request times out, it reconnects
  and retries. kgw must not acknowledge the retry before the original is
  written (it did: the retry was answered at once from memory); kgw is then
  killed with SIGKILL before the write ever happens, so an early answer
  would be an acknowledged message lost.
"""

import os
import subprocess
import tempfile
import threading
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")
kgw_harness.require_programs("kcat")

from confluent_kafka import Producer  # noqa: E402

TOPIC = "faults"
TIMEOUT = 60.0


def read_log(bootstrap):
    """[(offset, value)] of partition 0, via kcat (no consumer group)."""
    proc = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-o", "beginning", "-e", "-q",
         "-f", "%o %s\n"],
        capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError(f"kcat failed ({proc.returncode}): {proc.stderr.strip()}")
    return [(int(o), v) for o, v in (line.split(" ", 1) for line in proc.stdout.splitlines())]


class Sender:
    """An idempotent producer that records which messages were acknowledged."""

    def __init__(self, bootstrap, **extra):
        self.acked = []
        self.errors = []
        self.lock = threading.Lock()
        config = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "message.timeout.ms": 120000,
            "retry.backoff.ms": 100,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 500,
        }
        config.update(extra)
        self.producer = Producer(config)

    def _report(self, err, msg):
        with self.lock:
            if err is None:
                self.acked.append(msg.value().decode())
            else:
                self.errors.append(str(err))

    def send(self, value):
        self.producer.produce(TOPIC, value=value.encode(), partition=0, on_delivery=self._report)
        self.producer.poll(0)

    def poll_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.producer.poll(0.1)

    def flush(self):
        left = self.producer.flush(TIMEOUT)
        if left:
            raise AssertionError(f"{left} messages still unacknowledged after {TIMEOUT}s")

    def acked_values(self):
        with self.lock:
            return list(self.acked)


class StorageFaultTest(unittest.TestCase):
    def setUp(self):
        self.faults = tempfile.mkdtemp(prefix="kgw-faults-")
        os.environ["KGW_FAULT_INJECTION"] = self.faults
        self.kgw = kgw_harness.Kgw("--set", "num.partitions=1", name="kgw")
        self.kgw.start()

    def tearDown(self):
        self.kgw.close()
        for name in ("fail", "stall"):
            path = os.path.join(self.faults, name)
            if os.path.exists(path):
                os.remove(path)
        os.rmdir(self.faults)
        os.environ.pop("KGW_FAULT_INJECTION", None)

    def fault(self, name, on):
        path = os.path.join(self.faults, name)
        if on:
            open(path, "w").close()
        elif os.path.exists(path):
            os.remove(path)

    def sender_with_20_stored(self, **extra):
        """A Sender that has m-0 .. m-19 acknowledged."""
        s = Sender(self.kgw.bootstrap, **extra)
        for i in range(20):
            s.send(f"m-{i}")
        s.flush()
        self.assertEqual(len(s.acked_values()), 20)
        return s

    def restart_and_check(self, s):
        """kgw back on the same port: the producer's retry of m-20 is stored
        and acknowledged, and the log is m-0 .. m-20, once each, in order."""
        self.kgw.start(self.kgw.port)
        s.flush()
        acked = s.acked_values()
        self.assertIn("m-20", acked)
        self.assertEqual(self.check_log(acked), [f"m-{i}" for i in range(21)])

    def check_log(self, acked):
        log = read_log(self.kgw.bootstrap)
        values = [v for _, v in log]
        offsets = [o for o, _ in log]
        self.assertEqual(offsets, list(range(len(offsets))), "holes in the log")
        lost = [v for v in acked if v not in values]
        self.assertEqual(lost, [], f"acknowledged but not stored: {lost}")
        self.assertEqual(len(values), len(set(values)), f"stored twice: {values}")
        numbers = [int(v.split("-")[1]) for v in values]
        self.assertEqual(numbers, sorted(numbers), "stored out of order")
        return values

    def test_failed_write_is_not_acknowledged_on_retry(self):
        s = self.sender_with_20_stored()

        # The next write fails. Before the fix the producer's retry was
        # answered from memory as a duplicate of the failed batch.
        self.kgw.proc.kgw_exit_expected = True
        self.fault("fail", True)
        s.send("m-20")
        stopped = False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            s.producer.poll(0.1)
            if not self.kgw.alive():
                stopped = True
                break
        acked_during_fault = [v for v in s.acked_values() if v == "m-20"]
        self.assertEqual(acked_during_fault, [],
                         "m-20 was acknowledged although its write failed")
        self.assertTrue(stopped, "kgw kept running after its log dir failed")
        self.assertEqual(self.kgw.proc.returncode, 1)
        stderr = self.kgw.stderr_tail(200)
        failed_lines = [l for l in stderr.splitlines() if "log dir" in l and "failed" in l]
        self.assertEqual(len(failed_lines), 1, stderr)
        self.assertIn(self.kgw.data_dir, failed_lines[0])
        self.assertIn("start kgw again", failed_lines[0])

        # Back on a good disk: the producer's retry is stored and acknowledged.
        self.fault("fail", False)
        self.restart_and_check(s)

    def test_retry_waits_for_the_original_write(self):
        # A short request timeout: librdkafka gives up on the stalled
        # request, reconnects and sends the same batch again.
        s = self.sender_with_20_stored(**{"request.timeout.ms": 1500, "socket.timeout.ms": 1500})

        self.fault("stall", True)
        s.send("m-20")
        # Long enough for the timeout and at least one retry on a new
        # connection; before the fix the retry was acknowledged here.
        s.poll_for(6)
        early = [v for v in s.acked_values() if v == "m-20"]
        self.assertEqual(early, [], "m-20 acknowledged while its write had not happened")

        # Power stays on but the process dies: the stalled write never
        # happens. Restart without the fault on the same port.
        self.kgw.kill()
        self.fault("stall", False)
        self.restart_and_check(s)


if __name__ == "__main__":
    kgw_harness.main()
