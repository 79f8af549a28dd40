"""DescribeTopicPartitions (API 75) on three kgw nodes shows the eligible
leader replicas (KIP-966) the controller recorded in etcd.

A topic of one partition, RF=3, min.insync.replicas=3. One replica is
killed: it leaves the ISR, which falls below min ISR, so the controller
makes it an eligible leader replica. A surviving broker's
DescribeTopicPartitions answer then has the ISR and ELR of etcd's partition
record, and the killed replica as offline."""

import base64
import json
import unittest

import admin_wire
import kgw_cluster
import kgw_harness
from test_cluster_elect import create_rf3

kgw_cluster.require_etcd()

SESSION_MS = 3000
TOPIC = "dtp-elr"


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


if __name__ == "__main__":
    kgw_harness.main()
