"""A kgw cluster grown and shrunk with run-cluster.sh (--add-node,
--remove-node): three nodes with records, a 4th added with its own etcd
member (etcdctl member add, metadata.etcd.initial.cluster.state=existing)
and a 5th with --no-member (a client of the members); every node's
Metadata lists all five, a new topic gets partitions on the new brokers,
librdkafka produces and reads back through the new nodes; --remove-node
--no-move refuses a node that leads partitions with records (naming them
and issue 16), removes one whose partitions are empty (its etcd member
too); the whole dir stopped and started again brings back exactly the
current nodes with their records; then --remove-node (moving first)
reassigns the records' node's replicas to the others and removes it, no
record lost and no partition naming it. The removed broker is unregistered (UnregisterBroker):
its registered/ key is gone, Metadata on every node lists it only as an
offline replica of the partitions still naming it, an assignment naming it
is refused; unregistering a live broker or an unknown id is refused.
"""

import sys
import unittest
import uuid

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from kafka_wire import Conn, Enc  # noqa: E402
from cluster_checks import (  # noqa: E402
    broker_metadata,
    cluster_view,
    create_topic,
    judge_records,
    produce,
    read_all,
    wait_for,
)

ZERO = {"lost": 0, "duplicated": 0, "divergent": 0}


class ClusterGrowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(3, spare=2)
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def brokers_seen(self, node):
        return set(broker_metadata(self.cluster.port(node))["brokers"])

    def unregister(self, node, broker):
        """UnregisterBroker v0 asked of `node`: (error code, message)."""
        c = Conn(f"127.0.0.1:{self.cluster.port(node)}", timeout=30)
        try:
            d = c.call(api_key=64, version=0, body=Enc(flexible=True).i32(broker).tags(),
                       flexible=True)
        finally:
            c.close()
        d.i32()  # throttle
        return d.i16(), d.string()

    def create_assigned(self, node, name, replicas):
        """CreateTopics v5 of one partition on `replicas`: the topic's error code."""
        body = Enc(flexible=True).array([name], lambda e, n: e.string(n).i32(-1).i16(-1).array(
            [replicas], lambda e, r: e.i32(0).array(r, lambda e, b: e.i32(b)).tags())
            .array([], None).tags()).i32(30000).boolean(False).tags()
        c = Conn(f"127.0.0.1:{self.cluster.port(node)}", timeout=30)
        try:
            d = c.call(api_key=19, version=5, body=body, flexible=True)
        finally:
            c.close()
        d.i32()  # throttle
        d.uvarint()  # one topic
        d.string()
        return d.i16()

    def test_grow_remove_restart(self):
        c = self.cluster
        before = "before-" + uuid.uuid4().hex[:8]
        create_topic(c.bootstrap, before, 3)
        told_before, errors = produce(c.bootstrap, before, 3, 60)
        self.assertEqual(errors, [])

        # A 4th node with its own etcd member, a 5th with none.
        self.assertEqual(c.add_node(), 4)
        self.assertEqual(c.add_node(member=False), 5)
        members = c.etcdctl("member", "list")
        self.assertEqual(sorted(line.split(", ")[2] for line in members.splitlines()),
                         ["kgw-1", "kgw-2", "kgw-3", "kgw-4"], members)
        self.assertEqual([n["node_id"] for n in c.nodes()], [1, 2, 3, 4, 5])
        self.assertIsNone(c.nodes()[4]["etcd_pid"])
        for node in c.ids:
            self.assertEqual(self.brokers_seen(node), {1, 2, 3, 4, 5}, f"node {node}")

        # A new topic is placed over all five; records go in through node 4
        # and come back through node 5, to every partition node 4 does not
        # lead (so that node 4 stays empty for the removal below).
        grow = "grow-" + uuid.uuid4().hex[:8]
        create_topic(c.bootstrap, grow, 10)
        leaders = wait_for(f"leaders of {grow}",
                           lambda: cluster_view(c.bootstrap)[2].get(grow), 20)
        self.assertEqual(set(leaders.values()), {1, 2, 3, 4, 5}, leaders)
        elsewhere = [p for p, leader in leaders.items() if leader != 4]
        told, errors = produce(f"127.0.0.1:{c.port(4)}", grow, elsewhere, 100, prefix="g")
        self.assertEqual(errors, [])
        read, dups = read_all(f"127.0.0.1:{c.port(5)}", grow, 10, len(told))
        self.assertEqual(judge_records(told, read, dups), ZERO)

        # Node 5 leads partitions with records: refused, naming them.
        with self.assertRaises(kgw_cluster.ClusterError) as refused:
            c.remove_node(5, move=False)
        message = str(refused.exception)
        self.assertIn("issue 16", message)
        for p, leader in leaders.items():
            if leader == 5:
                self.assertIn(f"{grow}-{p} ", message)
        self.assertTrue(c.kgw_alive(5))

        # A live broker is not unregistered; an unknown id is not registered.
        self.assertEqual(self.unregister(1, 4)[0], 42)  # INVALID_REQUEST
        self.assertEqual(self.unregister(2, 77),
                         (102, "Broker ID 77 is not currently registered"))

        # Node 4's partitions are empty: removed (not moved), its etcd
        # member too, and its broker unregistered.
        c.remove_node(4, move=False)
        self.assertIn("Broker 4 is no longer registered.", c.output)
        self.assertFalse(c.kgw_alive(4))
        members = c.etcdctl("member", "list")
        self.assertEqual(sorted(line.split(", ")[2] for line in members.splitlines()),
                         ["kgw-1", "kgw-2", "kgw-3"], members)
        self.assertEqual(c.etcdctl("get", "--prefix", "--keys-only", "/kgw/registered/").split(),
                         [f"/kgw/registered/{b:010d}" for b in (1, 2, 3, 5)])
        led_by_4 = sorted(p for p, leader in leaders.items() if leader == 4)
        for node in c.ids:
            self.assertEqual(self.brokers_seen(node), {1, 2, 3, 5}, f"node {node}")
            # Partitions naming it keep naming it, offline (as Kafka).
            view = wait_for(f"node {node} forgets broker 4", lambda: (
                lambda m: m if all(m["topics"][grow]["partitions"][p] == -1
                                   for p in led_by_4) else None)(
                broker_metadata(c.port(node))), 20)
            for p in led_by_4:
                self.assertEqual(view["topics"][grow]["replicas"][p], ([4], [4]), f"node {node}")
            # Forgotten: an assignment naming it is refused, and it is not
            # unregistered twice.
            self.assertEqual(self.create_assigned(node, f"on4-{node}-{grow}", [4]), 39)
            self.assertEqual(self.unregister(node, 4)[0], 102)

        # The whole dir stopped and started again: the current set, no more.
        c.stop()
        c.start()
        self.assertEqual([n["node_id"] for n in c.nodes()], [1, 2, 3, 5])
        for node in c.ids:
            self.assertEqual(self.brokers_seen(node), {1, 2, 3, 5}, f"node {node}")
        read, dups = read_all(c.bootstrap, before, 3, len(told_before))
        self.assertEqual(judge_records(told_before, read, dups), ZERO)

        # Node 5 leads partitions with records: moved away first (a
        # reassignment), then removed; nothing names it, nothing is lost.
        c.remove_node(5)
        self.assertIn("node 5's replicas moved", c.output)
        self.assertFalse(c.kgw_alive(5))
        view = broker_metadata(c.port(1))
        for p, (replicas, _isr) in view["topics"][grow]["replicas"].items():
            self.assertNotIn(5, replicas, f"{grow}-{p}")
        # __consumer_offsets (replication factor 3) named both 4 and 5 in
        # some partitions: the move replaced the removed 4 there too (the
        # controller refuses an assignment naming an unregistered broker).
        for topic, t in view["topics"].items():
            for p, (replicas, _isr) in t["replicas"].items():
                self.assertNotIn(5, replicas, f"{topic}-{p}")
        read, dups = read_all(c.bootstrap, grow, elsewhere, len(told))
        self.assertEqual(judge_records(told, read, dups), ZERO)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
