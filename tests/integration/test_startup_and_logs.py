"""Start-up and log hygiene of a real kgw process:
- listening on 0.0.0.0 without --advertise is refused at start (one line,
  non-zero exit), as Kafka refuses to advertise the meta-address;
- cluster.id is written durably: a temporary file, fsync, rename, fsync of
  the data dir (seen with strace);
- client-chosen ids (client.id, group ids) with newlines and terminal
  escape sequences are escaped in kgw's log lines, so a client cannot forge
  log lines or drive the operator's terminal."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc

JOIN_GROUP = 11


def run_kgw(args, timeout=20.0):
    """Runs kgw with `args` until it exits or prints its listening line;
    returns (exit code or None if it was listening, stdout, stderr)."""
    root = tempfile.mkdtemp(prefix="kgw-it-")
    try:
        cmd = [kgw_harness.kgw_path(), "--data-dir", os.path.join(root, "data"), *args]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            if p.poll() is not None:
                o, e = p.communicate()
                return p.returncode, out + o, e
            line = p.stdout.readline()
            out += line
            if line.startswith("kgw: listening on "):
                p.send_signal(signal.SIGTERM)
                o, e = p.communicate(timeout=60)
                return None, out + o, e
        p.kill()
        o, e = p.communicate()
        return "timeout", out + o, e
    finally:
        shutil.rmtree(root, ignore_errors=True)


class AdvertiseTest(unittest.TestCase):
    def test_listen_on_all_addresses_needs_advertise(self):
        for listen in ("0.0.0.0:0", "[::]:0"):
            rc, _out, err = run_kgw(["--listen", listen])
            self.assertNotIn(rc, (None, 0, "timeout"), f"{listen}: kgw started\n{err}")
            lines = err.strip().splitlines()
            self.assertEqual(len(lines), 1, err)
            self.assertIn("nonroutable meta-address", lines[0])
            self.assertIn("--advertise", lines[0])

    def test_advertising_the_meta_address_is_refused(self):
        rc, _out, err = run_kgw(["--listen", "127.0.0.1:0", "--advertise", "0.0.0.0:9092"])
        self.assertNotIn(rc, (None, 0, "timeout"), err)
        self.assertIn("nonroutable meta-address", err)

    def test_all_addresses_with_advertise_starts(self):
        rc, out, err = run_kgw(["--listen", "0.0.0.0:0", "--advertise", "127.0.0.1:9092"])
        self.assertIsNone(rc, f"kgw did not start: {rc}\n{err}")
        self.assertIn("kgw: listening on 0.0.0.0:", out)


class ClusterIdTest(unittest.TestCase):
    def test_cluster_id_is_written_durably(self):
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed")
        root = tempfile.mkdtemp(prefix="kgw-it-")
        self.addCleanup(shutil.rmtree, root, True)
        data = os.path.realpath(os.path.join(root, "data"))
        trace = os.path.join(root, "trace")
        cmd = ["strace", "-f", "-qq", "-y", "-o", trace,
               "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2,close",
               kgw_harness.kgw_path(), "--listen", "127.0.0.1:0", "--data-dir", data]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            self.assertTrue(line.startswith("kgw: listening on "), line)
            # Stop kgw itself (strace's child); strace exits after it.
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kgw_pid = int(f.read().split()[0])
            os.kill(kgw_pid, signal.SIGTERM)
            p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        with open(os.path.join(data, "cluster.id")) as f:
            self.assertRegex(f.read(), r"^[A-Za-z0-9_-]{22}\n$")
        with open(trace) as f:
            calls = f.read().splitlines()
        final = f"{data}/cluster.id"

        def first(pattern, after=-1):
            for i, c in enumerate(calls):
                if i > after and re.search(pattern, c):
                    return i
            self.fail(f"no call matching {pattern!r} after line {after} in:\n"
                      + "\n".join(c for c in calls if "cluster.id" in c or "fsync" in c))

        # The new file is fsynced under a temporary name, renamed over
        # cluster.id, and then the directory entry is fsynced.
        tmp_sync = first(r"f(data)?sync\(\d+<" + re.escape(final) + r"\.[^>]+>\)\s+= 0")
        renamed = first(r"rename(at2?)?\(.*" + re.escape(final) + r"\.[^\"]*\".*\"" +
                        re.escape(final) + r"\".*= 0", tmp_sync)
        first(r"f(data)?sync\(\d+<" + re.escape(data) + r">\)\s+= 0", renamed)


class LogEscapingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0")
        cls.kgw.start()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def test_client_and_group_ids_are_escaped(self):
        client_id = "evil\n2030-01-01T00:00:00.000Z ERROR FORGED client line\x1b[2J"
        group_id = "grp\r\nFORGED group line\x07"
        c = Conn(self.kgw.bootstrap, client_id=client_id)
        self.addCleanup(c.close)
        # JoinGroup v0: the member id kgw makes starts with the client id,
        # and the group's rebalance is logged with both.
        body = (Enc().string(group_id).i32(10000).string("").string("consumer")
                .array(["range"], lambda e, name: e.string(name).bytes_(b"\x00\x00")))
        d = c.call(JOIN_GROUP, 0, body)
        self.assertEqual(d.i16(), 0)
        kgw_harness.wait_until(lambda: "generation 1" in (self.kgw._read_stderr() or ""), 10,
                               what="the group's generation in kgw's log")
        log = self.kgw._read_stderr()
        # A forged text only ever appears inside the escaped id it came in.
        for line in log.splitlines():
            if "FORGED" in line:
                self.assertTrue(r"evil\x0a" in line or r"grp\x0d\x0a" in line, line)
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\x07", log)
        self.assertNotIn("\r", log)
        self.assertIn(r"evil\x0a2030-01-01", log)
        self.assertIn(r"grp\x0d\x0aFORGED group line\x07", log)


if __name__ == "__main__":
    kgw_harness.main()
