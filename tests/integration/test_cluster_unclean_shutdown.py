"""An unclean shutdown that may have lost writes (KIP-966), told apart from
one that cannot have (storage/data_dir.h).

kgw leaves DATA/kgw.running while it serves and removes it when it stops
cleanly. A process killed (kill -9) on a machine that keeps running loses
nothing it wrote, even with --fsync never: the OS still has its page cache.
Only a machine restart under it (an OS crash, a power loss) can drop the
last seconds, and then the boot id differs. The tests stand for that
restart with KGW_BOOT_ID (kgw reads it instead of the kernel's boot id).

One node: the start after each kind of stop says which it was.
Three nodes (RF=3, min.insync.replicas=3, so that a replica that leaves the
ISR becomes an eligible leader replica): a replica killed and restarted on
the same boot keeps its ELR membership until it is back in the ISR; killed
and restarted "after a machine restart" it comes back with a new log dir id
(DATA/log_dir.id, registered in etcd), so the controller takes it out of
the ELR (into the last known ELR) as it does a wiped disk's: a log that may
have lost acknowledged records is never elected from the ELR."""

import contextlib
import json
import os
import re
import unittest

import admin_wire
import kgw_cluster
import kgw_harness
from test_cluster_elect import create_rf3

SESSION_MS = 3000
TOPIC = "unclean-elr"
LOST = re.compile(r"the machine restarted since \(boot id (\S+), now (\S+)\): with --fsync never")


@contextlib.contextmanager
def boot_id(value):
    """kgw processes started inside see `value` as their boot id."""
    was = os.environ.get("KGW_BOOT_ID")
    os.environ["KGW_BOOT_ID"] = value
    try:
        yield
    finally:
        if was is None:
            del os.environ["KGW_BOOT_ID"]
        else:
            os.environ["KGW_BOOT_ID"] = was


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


class OneNodeTest(unittest.TestCase):
    def test_each_stop_is_told_apart_at_the_next_start(self):
        with boot_id("boot-1"):
            k = kgw_harness.Kgw()
        try:
            with boot_id("boot-1"):
                k.start()
            running = os.path.join(k.data_dir, "kgw.running")
            self.assertTrue(os.path.exists(running))
            marker = dict(line.split("=", 1) for line in read(running).splitlines())
            self.assertEqual(marker, {"pid": str(k.pid), "boot_id": "boot-1", "fsync": "never"})

            def since_last_start():
                return read(k.stderr_path).rsplit("==== start #", 1)[1]

            # SIGTERM: a clean stop, no marker left, nothing said at start.
            k.stop()
            self.assertFalse(os.path.exists(running))
            with boot_id("boot-1"):
                k.start()
            self.assertNotIn("without a clean shutdown", since_last_start())

            # kill -9, same boot: unclean, nothing lost.
            k.kill()
            self.assertTrue(os.path.exists(running))
            with boot_id("boot-1"):
                k.start()
            text = since_last_start()
            self.assertIn("ended without a clean shutdown", text)
            self.assertIn("the machine did not restart since (same boot id)", text)
            self.assertFalse(os.path.exists(os.path.join(k.data_dir, "log_dir.id")))

            # kill -9, "machine restarted": the last seconds may be gone.
            k.kill()
            with boot_id("boot-2"):
                k.start()
            text = since_last_start()
            self.assertTrue(re.search(r"WARN .*the machine restarted since \(boot id boot-1, "
                                      r"now boot-2\): with --fsync never", text), text[-3000:])
            log_dir_id = read(os.path.join(k.data_dir, "log_dir.id")).strip()
            self.assertRegex(log_dir_id, r"^.+\+1$")
            k.stop()
        finally:
            k.close()


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kgw_cluster.require_etcd()
        with boot_id("boot-1"):
            cls.cluster = kgw_cluster.KgwCluster(
                3, sets=[f"broker.session.timeout.ms={SESSION_MS}",
                         "broker.heartbeat.interval.ms=1000", "min.insync.replicas=3"])
            cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def describe(self, node):
        topics, _ = admin_wire.describe_topic_partitions(
            f"127.0.0.1:{self.cluster.port(node)}", [TOPIC])
        return topics[0]

    def partition(self, ok, what):
        return kgw_harness.wait_until(
            lambda: (lambda p: p if ok(p) else None)(self.describe(1)["partitions"][0]),
            60, interval=0.3, what=what)

    def logs(self):
        return "".join(read(os.path.join(self.cluster.node_dir(n), "kgw.log")) for n in (1, 2, 3))

    def registration(self, node):
        out = self.cluster.etcdctl("get", "--prefix", "/kgw/brokers/").splitlines()
        for key, value in zip(out[0::2], out[1::2]):
            if key.endswith(f"/{node:010d}"):
                return json.loads(value)
        raise AssertionError(f"no registration of broker {node} in {out}")

    def test_only_a_lossy_restart_leaves_the_elr(self):
        c = self.cluster
        self.assertEqual(create_rf3(c.port(1), TOPIC, 1), 0)
        self.partition(lambda p: len(p["isr"]) == 3, "the ISR of all three replicas")
        first_id = self.registration(3)["log_dir_id"]
        self.assertTrue(first_id)
        moved_to_last_known = re.compile(
            rf"{TOPIC}-0: .*ELR \[3\] -> \[\], last known ELR \[\] -> \[3\]")

        # kill -9 of 3, same boot: it becomes eligible, and comes back into
        # the ISR without ever leaving the ELR for the last known ELR.
        c.kill_node(3)
        p = self.partition(lambda p: p["elr"] == [3], "3 in the ELR")
        with boot_id("boot-1"):
            c.start_node(3)
        self.partition(lambda p: len(p["isr"]) == 3, "3 back in the ISR")
        self.assertIn("the machine did not restart since (same boot id)",
                      read(os.path.join(c.node_dir(3), "kgw.log")))
        self.assertIsNone(moved_to_last_known.search(self.logs()))
        self.assertEqual(self.registration(3)["log_dir_id"], first_id)

        # kill -9 of 3, then "the machine restarted": its log may lack what
        # it acknowledged last, so it is no longer eligible.
        c.kill_node(3)
        self.partition(lambda p: p["elr"] == [3], "3 in the ELR again")
        with boot_id("boot-2"):
            c.start_node(3)
        node3_log = read(os.path.join(c.node_dir(3), "kgw.log"))
        tail = node3_log[-3000:]
        self.assertTrue(LOST.search(node3_log), tail)
        self.assertTrue(re.search(r"broker 3's log \(\S+\+1\) is not the one it had", node3_log),
                        tail)
        kgw_harness.wait_until(lambda: moved_to_last_known.search(self.logs()), 60, interval=0.3,
                               what="3 moved from the ELR to the last known ELR")
        self.assertEqual(self.registration(3)["log_dir_id"], first_id + "+1")
        # It caught up and is back in the ISR (through its leader's
        # AlterPartition); the next start registers the same new id.
        p = self.partition(lambda p: len(p["isr"]) == 3, "3 back in the ISR after catching up")
        self.assertEqual((p["elr"], p["last_known_elr"]), ([], []))


if __name__ == "__main__":
    kgw_harness.main()
