"""A five-node kgw cluster with racks (run-cluster.sh 5 --racks): every
broker's Metadata lists all five with their broker.rack; an RF=1 topic is
placed over all five in Kafka's rack-alternated order (consecutive
partitions' leaders on different racks, two each); librdkafka produces and
reads every record back; a broker killed with kill -9 is fenced on every
other broker (not listed, its partitions offline) and, started again,
leads them with every record.
"""

import sys
import unittest
import uuid

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from cluster_checks import (  # noqa: E402
    broker_metadata,
    cluster_view,
    create_topic,
    judge_records,
    produce,
    read_all,
    wait_for,
)

SESSION_MS = 4000  # broker.session.timeout.ms: the fencing waits for it
RACKS = ["a", "a", "b", "b", "c"]
# Kafka's rack-alternated order of these brokers: racks by name, one
# broker of each in turn (placement.h rack_alternated).
ALTERNATED = [1, 3, 5, 2, 4]
ZERO = {"lost": 0, "duplicated": 0, "divergent": 0}


class ClusterFiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            5,
            racks=RACKS,
            sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000"],
        )
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def test_five_nodes_racks_placement_and_fencing(self):
        c = self.cluster
        want_racks = {i + 1: rack for i, rack in enumerate(RACKS)}
        for node in c.ids:
            md = broker_metadata(c.port(node))
            self.assertEqual(md["racks"], want_racks, f"node {node}")

        topic = "five-" + uuid.uuid4().hex[:8]
        create_topic(c.bootstrap, topic, 10)
        leaders = wait_for(f"leaders of {topic}",
                           lambda: cluster_view(c.bootstrap)[2].get(topic), 20)
        order = [leaders[p] for p in range(10)]
        for broker in range(1, 6):
            self.assertEqual(order.count(broker), 2, order)
        start = ALTERNATED.index(order[0])
        self.assertEqual(order, [ALTERNATED[(start + p) % 5] for p in range(10)])
        for p in range(10):
            self.assertNotEqual(want_racks[order[p]], want_racks[order[(p + 1) % 10]], order)

        told, errors = produce(c.bootstrap, topic, 10, 200)
        self.assertEqual(errors, [])
        read, dups = read_all(c.bootstrap, topic, 10, len(told))
        self.assertEqual(judge_records(told, read, dups), ZERO)

        # kill -9 of a broker that is not the controller: fenced everywhere.
        controller = broker_metadata(c.port(1))["controller"]
        victim = next(b for b in (5, 4, 3) if b != controller)
        c.kill_node(victim)
        others = [n for n in c.ids if n != victim]

        def fenced():
            for node in others:
                md = broker_metadata(c.port(node))
                if victim in md["brokers"]:
                    return None
                parts = md["topics"][topic]["partitions"]
                if any(parts[p] != -1 for p in range(10) if order[p] == victim):
                    return None
            return True

        wait_for(f"broker {victim} fenced on every other broker", fenced, SESSION_MS / 1000 + 20)

        c.start_node(victim)

        def leads_again():
            md = broker_metadata(c.port(victim))
            parts = md["topics"].get(topic, {}).get("partitions", {})
            return all(parts.get(p) == victim for p in range(10) if order[p] == victim)

        wait_for(f"broker {victim} leading its partitions again", leads_again, 30)
        read, dups = read_all(c.bootstrap, topic, 10, len(told))
        self.assertEqual(judge_records(told, read, dups), ZERO)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
