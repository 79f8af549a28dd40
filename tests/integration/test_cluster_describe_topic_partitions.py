"""DescribeTopicPartitions (API 75) on three kgw nodes shows the eligible
leader replicas (KIP-966) the controller recorded in etcd.

A topic of one partition, RF=3, min.insync.replicas=3. One replica is
killed: it leaves the ISR, which falls below min ISR, so the controller
makes it an eligible leader replica. A surviving broker's
DescribeTopicPartitions answer then has the ISR and ELR of etcd's partition
record, and the killed replica as offline. `kgw-admin topics describe`
(kafka-topics.sh --describe) shows "Elr:" and "LastKnownElr:" columns then,
and none while no partition has either. Restarted with its store wiped,
the killed replica leaves the ELR for the last known ELR, which empties
once it is back in the ISR."""

import base64
import json
import os
import re
import shutil
import subprocess
import unittest

import admin_wire
import kgw_cluster
import kgw_harness
from test_cluster_elect import create_rf3

kgw_cluster.require_etcd()

SESSION_MS = 3000
TOPIC = "dtp-elr"
ADMIN = os.path.join(os.path.dirname(kgw_harness.kgw_path()), "tools", "admin", "kgw-admin")


class ClusterDescribeTopicPartitionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3, sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000",
                     "min.insync.replicas=3"])
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def describe(self, node):
        topics, cursor = admin_wire.describe_topic_partitions(
            f"127.0.0.1:{self.cluster.port(node)}", [TOPIC])
        self.assertIsNone(cursor)
        self.assertEqual(len(topics), 1)
        return topics[0]

    def admin_describe(self, node):
        """kgw-admin topics describe's partition lines, or None without kgw-admin
        (it needs librdkafka-dev)."""
        if not os.access(ADMIN, os.X_OK):
            return None
        p = subprocess.run([ADMIN, "topics", "describe", "--bootstrap-server",
                            f"127.0.0.1:{self.cluster.port(node)}", "--topic", TOPIC],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return [line for line in p.stdout.splitlines() if line.startswith("\tTopic:")]

    def etcd_record(self, topic_id):
        key_part = base64.urlsafe_b64encode(topic_id).decode().rstrip("=")
        out = self.cluster.etcdctl("get", "--prefix", "/kgw/partitions/").splitlines()
        for key, value in zip(out[0::2], out[1::2]):
            if f"/{key_part}/" in key:
                return json.loads(value)
        raise AssertionError(f"no partition record for {key_part} in {out}")

    def test_elr_as_etcd_has_it(self):
        c = self.cluster
        self.assertEqual(create_rf3(c.port(1), TOPIC, 1), 0)
        t = kgw_harness.wait_until(
            lambda: (lambda t: t if t["error"] == 0 and t["partitions"] and
                     len(t["partitions"][0]["isr"]) == 3 else None)(self.describe(1)),
            60, interval=0.3, what="the ISR of all three replicas")
        p = t["partitions"][0]
        self.assertEqual(sorted(p["replicas"]), [1, 2, 3])
        self.assertEqual((p["elr"], p["last_known_elr"], p["offline"]), ([], [], []))
        lines = self.admin_describe(1)
        if lines is not None:
            self.assertEqual(len(lines), 1, lines)
            self.assertNotIn("Elr", lines[0])  # no partition has one: Kafka 3.x's line

        # Each node's etcd member dies with its kgw: one node only, so that
        # etcd keeps its quorum; min.insync.replicas=3 makes its leaving the
        # ISR take the ISR below min ISR, so it becomes eligible.
        c.kill_node(3)
        t = kgw_harness.wait_until(
            lambda: (lambda t: t if t["partitions"][0]["elr"] else None)(self.describe(1)),
            60, interval=0.3, what="an ELR")
        p = t["partitions"][0]
        self.assertEqual(p["elr"], [3])
        self.assertEqual(sorted(p["isr"]), [1, 2])
        self.assertIn(p["leader"], (1, 2))
        self.assertEqual(p["offline"], [3])
        self.assertEqual(p["last_known_elr"], [])
        record = self.etcd_record(t["id"])
        self.assertEqual(record["isr"], p["isr"])
        self.assertEqual(record["elr"], p["elr"])
        self.assertEqual(record["leader_epoch"], p["leader_epoch"])
        self.assertNotIn("last_known_elr", record)  # empty: not written

        lines = self.admin_describe(1)
        if lines is not None:
            self.assertEqual(len(lines), 1, lines)
            self.assertRegex(lines[0], r"\tIsr: [12],[12]\tElr: 3\tLastKnownElr: \tOffline: 3$")

        # 3 comes back with its store wiped (KIP-903): no longer eligible, it
        # leaves the ELR for the last known ELR (the controller logs it; it
        # catches up at once, so the API may not show it in time); once it
        # is back in the ISR, at min ISR, the last known ELR is empty again.
        kept = {"etcd", "etcd.log", "etcd.pid", "kgw.log", "kgw.pid", "cluster.id"}
        where = c.node_dir(3)
        for name in os.listdir(where):
            if name not in kept:
                path = os.path.join(where, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        c.start_node(3)

        def logged():
            for node in (1, 2, 3):
                with open(os.path.join(c.node_dir(node), "kgw.log"), errors="replace") as f:
                    if re.search(r"dtp-elr-0: .*ELR \[3\] -> \[\], last known ELR \[\] -> \[3\]",
                                 f.read()):
                        return True
            return None

        kgw_harness.wait_until(logged, 60, interval=0.3, what="the last known ELR [3] logged")
        t = kgw_harness.wait_until(
            lambda: (lambda t: t if len(t["partitions"][0]["isr"]) == 3 else None)(self.describe(1)),
            60, interval=0.3, what="3 back in the ISR")
        p = t["partitions"][0]
        self.assertEqual((p["elr"], p["last_known_elr"]), ([], []))
        self.assertNotIn("last_known_elr", self.etcd_record(t["id"]))


if __name__ == "__main__":
    kgw_harness.main()
