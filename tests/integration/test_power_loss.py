"""Power loss: kgw's data dir sits on powerloss_fs (tests/powerloss/), a FUSE
file system that keeps only what was fsynced when the test cuts the power.
An idempotent acks=all producer records every acknowledged message; at a
random moment kgw is killed and every write it did not fsync is dropped;
kgw restarts on what survived and the whole partition is read back.

    KGW_POWER_ROUNDS=20 python3 tests/integration/test_power_loss.py

The default run (meson test) does 3 rounds per --fsync mode; KGW_POWER_SEED
picks the moments. Unlike test_crash_consistency (SIGKILL, which keeps the
page cache and so cannot tell the modes apart), this measures the durability
contract of each mode:
  - --fsync batch: every acknowledged message survives. One lost fails.
  - --fsync never: acknowledged messages not yet in a synced file are lost
    (Kafka's own default without replication); the test prints how many,
    and fails if no round lost any: then the file system did not drop
    unsynced writes and the test would prove nothing.
Both modes: after a restart the partition is 0, 1, 2, ... in offsets and in
message numbers (no hole, no duplicate, nothing reordered), as in
test_crash_consistency, whose kcat reader this imports.

Each mode: a setup (mount, kgw creates its data dir and the topic, clean
stop and unmount) -> rounds of: mount, start kgw on the surviving
data, read and check, produce from the next number until the power cut ->
one last mount, start, read and check. A separate case cuts the power
right after a first start on an empty disk: the data dir, its cluster.id
and an acknowledged message must survive (kgw fsyncs the new data dir's
parent and writes cluster.id with fsync and rename). The power cut is:
SIGKILL kgw, then SIGUSR1 to powerloss_fs, which unmounts and leaves in its backing directory
exactly the durable state (its model: file data at fsync/fdatasync of the
file, directory entries at fsync of the directory).

Skips (exit 77) when powerloss_fs was not built (no libfuse3-dev) or cannot
mount (no /dev/fuse, not root).
"""

import ctypes
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")
kgw_harness.require_programs("kcat")

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from test_crash_consistency import TOPIC, read_log  # noqa: E402

ROUNDS = int(os.environ.get("KGW_POWER_ROUNDS", "3"))
SEED = int(os.environ.get("KGW_POWER_SEED", "11"))
TIMEOUT = 60.0


def powerloss_fs_path():
    path = os.environ.get("POWERLOSS_FS") or os.path.join(
        kgw_harness.SOURCE_ROOT, "build", "tests", "powerloss", "powerloss_fs")
    if not os.access(path, os.X_OK):
        kgw_harness.skip_all(f"powerloss_fs not built ({path}): install libfuse3-dev and fuse3, "
                             "then reconfigure (meson setup --reconfigure build)")
    return path


def _term_with_parent():
    # A test that dies leaves no mount behind: SIGTERM is a clean unmount.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Disk:
    """A backing directory (what the disk durably holds) and its mount."""

    def __init__(self, root):
        self.backing = os.path.join(root, "disk")
        self.mnt = os.path.join(root, "mnt")
        self.log_path = os.path.join(root, "powerloss_fs.log")
        os.makedirs(self.backing)
        os.makedirs(self.mnt)
        self.proc = None
        self.mounts = 0

    def mount(self, probe=False):
        self.mounts += 1
        out_path = f"{self.log_path}.{self.mounts}"
        with open(out_path, "wb") as out:
            self.proc = subprocess.Popen([powerloss_fs_path(), self.backing, self.mnt],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=_term_with_parent)
        deadline = time.monotonic() + TIMEOUT
        while True:
            with open(out_path, "rb") as f:
                text = f.read().decode(errors="replace")
            if "powerloss_fs: mounted" in text:
                return
            rc = self.proc.poll()
            if rc == kgw_harness.SKIP_EXIT_CODE and probe:
                kgw_harness.skip_all("FUSE cannot mount here: " + text.strip().replace("\n", " | "))
            if rc is not None:
                raise AssertionError(f"powerloss_fs exited with {rc} at mount: {text.strip()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"powerloss_fs did not mount in {TIMEOUT} s: {text.strip()}")
            time.sleep(0.02)

    def _end(self, sig):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=TIMEOUT)
        with open(f"{self.log_path}.{self.mounts}", "rb") as f:
            text = f.read().decode(errors="replace").strip()
        if rc != 0:
            raise AssertionError(f"powerloss_fs exited with {rc}: {text}")
        self.proc = None
        return text.splitlines()[-1]

    def power_off(self):
        """Drops every write not fsynced and unmounts; returns its summary."""
        return self._end(signal.SIGUSR1)

    def unmount(self):
        """A clean unmount: everything counts as synced."""
        return self._end(signal.SIGTERM)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], check=False)


def probe_mount():
    """Mounts an empty disk, writes a file without fsync and cuts the power
    once: a machine without FUSE skips here (exit 77), and a file system
    that keeps unsynced writes fails before any kgw runs."""
    root = tempfile.mkdtemp(prefix="kgw-power-probe-")
    disk = Disk(root)
    try:
        disk.mount(probe=True)
        with open(os.path.join(disk.mnt, "unsynced"), "w") as f:
            f.write("gone at the power cut")
        disk.power_off()
        left = os.listdir(disk.backing)
        if left:
            raise AssertionError(f"powerloss_fs kept unsynced files across a power cut: {left}")
    finally:
        disk.close()
        shutil.rmtree(root, ignore_errors=True)


probe_mount()


def check_log(log, must_have):
    """The checks of test_crash_consistency: offsets and numbers are both
    0, 1, 2, ... (a message stored twice, out of order, or with one missing
    below the last stored breaks that). Returns the numbers of `must_have`
    that are not in the log, sorted."""
    offsets = [o for o, _ in log]
    numbers = [n for _, n in log]
    if offsets != list(range(len(log))):
        raise AssertionError(f"hole in the offsets: {offsets[:20]}...")
    if numbers != list(range(len(log))):
        bad = next(i for i, n in enumerate(numbers) if n != i)
        raise AssertionError(f"numbers out of order, duplicated or missing: at offset {bad} "
                             f"{numbers[max(0, bad - 3):bad + 4]}")
    return sorted(must_have - set(numbers))


class ProducerRound:
    """One idempotent acks=all producer session: numbers from `first` on,
    as fast as the broker takes them, until the power cut."""

    def __init__(self, bootstrap, first):
        self.first = first
        self.acked = []
        self.failed = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent = first
        self.producer = Producer({
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "retries": 1000000,
            "linger.ms": 1,
            # A short local queue: the cut catches messages in flight rather
            # than a long backlog that could only fail.
            "queue.buffering.max.messages": 5000,
            "message.timeout.ms": 10000,
            "socket.timeout.ms": 3000,
            "log.connection.close": False,
        })
        self.thread = threading.Thread(target=self.run)

    def on_delivery(self, err, msg):
        with self.lock:
            if err is None:
                self.acked.append(int(msg.value()))
            else:
                self.failed += 1

    def run(self):
        while not self.stop.is_set():
            try:
                self.producer.produce(TOPIC, value=str(self.sent).encode(), partition=0,
                                      on_delivery=self.on_delivery)
                self.sent += 1
                self.producer.poll(0)
            except BufferError:
                self.producer.poll(0.01)

    def finish(self):
        """After the cut: stop and fail everything not acknowledged (kgw is
        dead, no ack can still arrive)."""
        self.stop.set()
        self.thread.join()
        self.producer.purge(in_queue=True, in_flight=True)
        left = self.producer.flush(TIMEOUT)
        if left:
            raise AssertionError(f"{left} messages neither acknowledged nor failed")


def create_topic(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    futures[TOPIC].result(TIMEOUT)


class PowerLossTest(unittest.TestCase):
    def run_mode(self, fsync):
        rng = random.Random(f"{SEED}-{fsync}")
        root = tempfile.mkdtemp(prefix=f"kgw-power-{fsync}-")
        disk = Disk(root)
        kgw = kgw_harness.Kgw("--fsync", fsync, name=f"kgw --fsync {fsync}")
        kgw.data_dir = os.path.join(disk.mnt, "data")
        rounds = []
        try:
            # Setup: the topic, cleanly on disk.
            disk.mount()
            kgw.start()
            create_topic(kgw.bootstrap)
            kgw.stop()
            disk.unmount()

            must_have = set()  # numbers acknowledged, or read back after a restart
            producer = None
            for i in range(ROUNDS + 1):
                disk.mount()
                t0 = time.monotonic()
                kgw.start()
                restart_s = time.monotonic() - t0
                log = read_log(kgw.bootstrap)
                lost = check_log(log, must_have)
                if producer is not None:
                    acked_now = set(producer.acked)
                    stored_now = [n for _, n in log[producer.first:]]
                    rounds.append({
                        "acked": len(producer.acked), "lost": len(lost),
                        "unacked_stored": len([n for n in stored_now if n not in acked_now])})
                    print(f"--fsync {fsync} round {i}/{ROUNDS}: power cut {delay:.2f} s after the "
                          f"first ack; acked {len(producer.acked)}, lost {len(lost)}"
                          f"{' (' + str(lost[0]) + '..' + str(lost[-1]) + ')' if lost else ''}, "
                          f"log now {len(log)} messages ({rounds[-1]['unacked_stored']} written "
                          f"but unacknowledged); restart {restart_s:.2f} s; {cut}", flush=True)
                    if fsync == "batch":
                        self.assertEqual(lost[:10], [], f"round {i}: {len(lost)} acknowledged "
                                         "messages lost with --fsync batch")
                # What is there now must stay there: it was read back, so
                # kgw's recovery made it durable. With --fsync never the lost
                # numbers are sent again from here.
                must_have = {n for _, n in log}
                if i == ROUNDS:
                    break
                producer = ProducerRound(kgw.bootstrap, len(log))
                producer.thread.start()
                kgw_harness.wait_until(lambda: producer.acked, TIMEOUT, what="a first ack")
                delay = rng.uniform(0.0, 1.0)
                time.sleep(delay)
                kgw.kill()
                cut = disk.power_off()
                producer.finish()
                must_have |= set(producer.acked)
            kgw.stop()
            disk.unmount()
        finally:
            kgw.close()
            disk.close()
            shutil.rmtree(root, ignore_errors=True)
        acked = sum(r["acked"] for r in rounds)
        lost = sum(r["lost"] for r in rounds)
        with_loss = len([r for r in rounds if r["lost"]])
        print(f"power loss, --fsync {fsync}: {ROUNDS} rounds, {acked} acknowledged, {lost} lost "
              f"({with_loss} rounds with a loss)", flush=True)
        self.assertGreater(acked, 0)
        return lost

    def test_fsync_batch_loses_nothing(self):
        self.assertEqual(self.run_mode("batch"), 0)

    def test_fsync_never_loses_the_unsynced_tail(self):
        lost = self.run_mode("never")
        self.assertGreater(lost, 0, "--fsync never lost nothing at any power cut: powerloss_fs is "
                           "not dropping unsynced writes, so this test cannot tell the modes apart")

    def test_a_new_data_dir_survives_a_power_cut(self):
        # The first start on an empty disk: kgw creates the data dir and its
        # cluster.id; an acknowledged message with --fsync batch must find
        # both after a power cut (before the fix neither the data dir's
        # entry in its parent nor cluster.id was fsynced).
        root = tempfile.mkdtemp(prefix="kgw-power-new-")
        disk = Disk(root)
        kgw = kgw_harness.Kgw("--fsync", "batch", name="kgw new data dir")
        kgw.data_dir = os.path.join(disk.mnt, "data")
        try:
            disk.mount()
            kgw.start()
            with open(os.path.join(kgw.data_dir, "cluster.id")) as f:
                cluster_id = f.read()
            create_topic(kgw.bootstrap)
            producer = ProducerRound(kgw.bootstrap, 0)
            producer.thread.start()
            kgw_harness.wait_until(lambda: producer.acked, TIMEOUT, what="a first ack")
            kgw.kill()
            disk.power_off()
            producer.finish()
            disk.mount()
            self.assertTrue(os.path.isdir(kgw.data_dir), "the data dir is gone after the cut")
            with open(os.path.join(kgw.data_dir, "cluster.id")) as f:
                self.assertEqual(f.read(), cluster_id, "cluster.id changed after the cut")
            kgw.start()
            self.assertEqual(check_log(read_log(kgw.bootstrap), set(producer.acked)), [])
            kgw.stop()
            disk.unmount()
        finally:
            kgw.close()
            disk.close()
            shutil.rmtree(root, ignore_errors=True)

    def test_checker_catches_damage(self):
        ok = [(0, 0), (1, 1), (2, 2)]
        self.assertEqual(check_log(ok, {0, 1, 2}), [])
        self.assertEqual(check_log(ok, {0, 1, 2, 3, 4}), [3, 4])  # acknowledged, not stored
        for name, log in [("duplicate", [(0, 0), (1, 1), (2, 1)]),
                          ("reordered", [(0, 0), (1, 2), (2, 1)]),
                          ("gap in numbers", [(0, 0), (1, 2)]),
                          ("gap in offsets", [(0, 0), (2, 1)])]:
            with self.subTest(name), self.assertRaises(AssertionError):
                check_log(log, set())


if __name__ == "__main__":
    kgw_harness.main()
