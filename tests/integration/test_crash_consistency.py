"""Crash consistency: a producer with acks=all sends numbered messages to a
kgw running --fsync=batch while kgw is killed with SIGKILL at a random
moment; after each restart every acknowledged message is in the log, in
order, with no gaps and no duplicates.

    KGW_CRASH_KILLS=20 python3 tests/integration/test_crash_consistency.py

The default run (meson test) does KGW_CRASH_KILLS=3; the full 20 is the
README's own command. KGW_CRASH_SEED picks the kill moments.

Each round: restart kgw on the same data dir (a new port) -> a new
confluent_kafka producer (acks=all, retries=0 and max.in.flight=1, so
nothing is reordered or duplicated by the client itself; a message that
fails is simply not acknowledged) sends "n" for n = next, next+1, ... as
fast as it can -> a random 0-1 s after its first ack, SIGKILL -> every
message not yet acknowledged is purged (fails) -> restart -> read the whole
partition with kcat (no consumer group) and check:
  - offsets are 0, 1, 2, ... (no hole in the log);
  - the numbers in the log are 0, 1, 2, ... too: each message once, in the
    order sent, none missing below the last one stored (a message that was
    written but whose ack the kill swallowed is allowed: it is the tail);
  - every number acknowledged in any round is in the log.
The next round continues from the last number stored. Figures (acked,
stored, written-but-unacked, restart time) are printed per round.
"""

import os
import random
import subprocess
import threading
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")
kgw_harness.require_programs("kcat")

from confluent_kafka import Producer  # noqa: E402

KILLS = int(os.environ.get("KGW_CRASH_KILLS", "3"))
SEED = int(os.environ.get("KGW_CRASH_SEED", "7"))
TOPIC = "crash"
TIMEOUT = 60.0


def read_log(bootstrap):
    """[(offset, number)] of the whole partition 0, via kcat (no group)."""
    proc = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-o", "beginning", "-e", "-q",
         "-f", "%o %s\n", "-X", "log.connection.close=false"],
        capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError(f"kcat failed ({proc.returncode}): {proc.stderr.strip()}")
    out = []
    for line in proc.stdout.splitlines():
        offset, value = line.split(" ", 1)
        out.append((int(offset), int(value)))
    return out


class Round:
    """One producer session: numbers from `first` until stopped."""

    def __init__(self, bootstrap, first):
        self.first = first
        self.acked = []
        self.failed = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.producer = Producer({
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": False,
            "retries": 0,
            "max.in.flight": 1,
            "linger.ms": 1,
            # A short local queue: the kill then catches messages in flight
            # rather than a long backlog that could only fail.
            "queue.buffering.max.messages": 5000,
            "message.timeout.ms": 3000,
            "socket.timeout.ms": 3000,
            "log.connection.close": False,
        })
        self.thread = threading.Thread(target=self.run)
        self.sent = first

    def on_delivery(self, err, msg):
        with self.lock:
            if err is None:
                self.acked.append(int(msg.value()))
            else:
                self.failed += 1

    def run(self):
        while not self.stop.is_set():
            try:
                self.producer.produce(TOPIC, value=str(self.sent).encode(),
                                      partition=0, on_delivery=self.on_delivery)
                self.sent += 1
                self.producer.poll(0)
            except BufferError:
                self.producer.poll(0.01)

    def finish(self):
        """After the kill: stop sending and fail everything not yet acked
        at once (kgw is dead, so no ack can still arrive)."""
        self.stop.set()
        self.thread.join()
        self.producer.purge(in_queue=True, in_flight=True)
        left = self.producer.flush(TIMEOUT)
        if left:
            raise AssertionError(f"{left} messages neither acknowledged nor failed")


class CrashConsistencyTest(unittest.TestCase):
    def test_acknowledged_messages_survive_sigkill(self):
        rng = random.Random(SEED)
        kgw = kgw_harness.Kgw("--fsync", "batch", "--set", "num.partitions=1")
        kgw.start()
        all_acked = set()
        next_number = 0
        totals = {"acked": 0, "unacked_stored": 0, "failed": 0}
        restart_s = []
        try:
            for i in range(KILLS):
                r = Round(kgw.bootstrap, next_number)
                r.thread.start()
                # Kill while acknowledged writes are flowing: after the first
                # ack, at a random moment within the next second.
                kgw_harness.wait_until(lambda: r.acked, TIMEOUT, what="a first ack")
                delay = rng.uniform(0.0, 1.0)
                time.sleep(delay)
                kgw.kill()
                r.finish()
                t0 = time.monotonic()
                kgw.start()
                restart_s.append(time.monotonic() - t0)
                log = read_log(kgw.bootstrap)

                offsets = [o for o, _ in log]
                numbers = [n for _, n in log]
                self.assertEqual(offsets, list(range(len(log))), "hole in the offsets")
                self.assertEqual(numbers, list(range(len(log))),
                                 "numbers out of order, duplicated or missing")
                stored = set(numbers)
                all_acked.update(r.acked)
                missing = sorted(all_acked - stored)
                self.assertEqual(missing[:10], [], f"{len(missing)} acknowledged messages lost")
                acked_now = set(r.acked)
                unacked_stored = len([n for n in numbers[r.first:] if n not in acked_now])
                totals["acked"] += len(r.acked)
                totals["unacked_stored"] += unacked_stored
                totals["failed"] += r.failed
                print(f"round {i + 1}/{KILLS}: killed {delay:.2f} s after the first ack; acked {len(r.acked)}, "
                      f"failed {r.failed}, log now {len(log)} messages "
                      f"({unacked_stored} written but unacknowledged), "
                      f"restart {restart_s[-1]:.2f} s", flush=True)
                next_number = len(log)
        finally:
            kgw.close()
        print(f"crash consistency: {KILLS} SIGKILLs, {totals['acked']} acknowledged, "
              f"0 lost, {totals['unacked_stored']} written but unacknowledged, "
              f"{totals['failed']} failed at the kills; restart max {max(restart_s):.2f} s",
              flush=True)
        self.assertGreater(totals["acked"], 0)


if __name__ == "__main__":
    kgw_harness.main()
