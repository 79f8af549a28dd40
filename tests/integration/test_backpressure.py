"""Produce backpressure: an acks=0 flood from several connections against a
store whose writes are stalled keeps kgw's memory bounded, while another
client's fetches keep being answered.

kgw runs with queued.max.request.bytes=16 MiB and KGW_FAULT_INJECTION
(storage/fault_injection.h); DIR/stall makes every WAL write wait, as a
very slow disk would. Four raw connections then send acks=0 Produce
requests of 1 MiB each, as fast as kgw reads them, up to 1 GiB in all.
Before the fix kgw read all of it (acks=0 freed each request's place at
once, and nothing looked at the writer's queue), so its RSS grew with what
the clients sent; now a producing connection is not read while Produce
requests of more than queued.max.request.bytes are in progress (read and
not yet answered: being checked, waiting in line or for the writer), and
an acks=0 request keeps its place in its connection's line until written.
"""

import os
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import kgw_harness
from kafka_wire import Enc, record_batch

kgw_harness.require_programs("kcat")

TIMEOUT = 60.0
QUEUE_BOUND = 16 << 20
FLOOD_BYTES = 1 << 30
REQUEST_BYTES = 1 << 20
CONNECTIONS = 4
# kgw's own memory (RocksDB caches, buffers) plus the queue bound, with
# room to spare: well below what the flood would pin without backpressure.
RSS_BOUND_MB = 300


def produce_frame(topic, batch, correlation, acks=0):
    body = Enc().i16(-1).i16(acks).i32(30_000)  # transactional id, acks, timeout
    body.array([topic], lambda e, t: e.string(t).array(
        [0], lambda e2, p: e2.i32(p).bytes_(batch)))
    h = Enc().i16(0).i16(3).i32(correlation).string("flood")
    payload = bytes(h.b) + bytes(body.b)
    return struct.pack(">i", len(payload)) + payload


class BackpressureTest(unittest.TestCase):
    def setUp(self):
        self.faults = tempfile.mkdtemp(prefix="kgw-faults-")
        os.environ["KGW_FAULT_INJECTION"] = self.faults
        self.kgw = kgw_harness.Kgw("--set", f"queued.max.request.bytes={QUEUE_BOUND}",
                                   "--set", "num.partitions=1", name="kgw")
        self.kgw.start()

    def tearDown(self):
        self.kgw.close()
        stall = os.path.join(self.faults, "stall")
        if os.path.exists(stall):
            os.remove(stall)
        os.rmdir(self.faults)
        os.environ.pop("KGW_FAULT_INJECTION", None)

    def kcat(self, *args, stdin=None):
        proc = subprocess.run(["kcat", "-b", self.kgw.bootstrap, *args], input=stdin,
                              capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    @unittest.skipIf(os.environ.get("KGW_SANITIZED") == "1",
                     "ASan keeps freed memory in its quarantine: RSS says nothing there")
    def test_acks0_flood_against_a_stalled_store(self):
        self.kcat("-P", "-t", "other", stdin="".join(f"o-{i}\n" for i in range(1000)))
        self.kcat("-P", "-t", "flood", stdin="first\n")
        baseline_mb = self.kgw.rss_kb() / 1024

        batch = record_batch([b"x" * (REQUEST_BYTES - 200)])
        frame = produce_frame("flood", batch, 1)
        open(os.path.join(self.faults, "stall"), "w").close()

        socks = []
        host, port = self.kgw.bootstrap.rsplit(":", 1)
        for _ in range(CONNECTIONS):
            s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
            s.setblocking(False)
            socks.append([s, memoryview(frame), 0])
        sent = 0
        peak_mb = baseline_mb
        deadline = time.monotonic() + 10
        while sent < FLOOD_BYTES and time.monotonic() < deadline:
            progress = False
            for entry in socks:
                s, view, offset = entry
                try:
                    n = s.send(view[offset:])
                except BlockingIOError:
                    continue
                progress = True
                sent += n
                offset += n
                entry[2] = 0 if offset == len(view) else offset
            peak_mb = max(peak_mb, self.kgw.rss_kb() / 1024)
            if not progress:
                time.sleep(0.01)
        # What kgw took in is now queued; look once more at its size.
        time.sleep(1)
        peak_mb = max(peak_mb, self.kgw.rss_kb() / 1024)
        print(f"flood: {sent / 2**20:.0f} MiB accepted by the sockets in 10 s; kgw RSS "
              f"{baseline_mb:.0f} MiB before, peak {peak_mb:.0f} MiB (bound {RSS_BOUND_MB})",
              flush=True)

        # Another client is served meanwhile: a whole topic read and the
        # broker's metadata.
        out = self.kcat("-C", "-t", "other", "-e", "-q", "-f", "%s\n")
        self.assertEqual(out.split(), [f"o-{i}" for i in range(1000)])
        self.assertIn("flood", self.kcat("-L"))
        self.assertLess(peak_mb, RSS_BOUND_MB, "kgw read the flood faster than it could write it")

        # The disk comes back: the queue drains, held connections are read
        # again, and kgw is healthy.
        os.remove(os.path.join(self.faults, "stall"))
        for s, _, _ in socks:
            s.close()
        self.kcat("-P", "-t", "other", "-X", "acks=all", stdin="after\n")
        out = self.kcat("-C", "-t", "other", "-o", "-1", "-e", "-q", "-f", "%s\n")
        self.assertEqual(out.split(), ["after"])
        self.assertTrue(self.kgw.alive())


if __name__ == "__main__":
    kgw_harness.main()
