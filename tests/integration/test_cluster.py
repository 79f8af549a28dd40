"""A three-node kgw cluster (co-located etcd members, run-cluster.sh) used
by real clients: every broker lists all three and names one controller;
topics created through any broker are spread over the three (RF=1);
librdkafka produces to every partition's leader and a consumer group reads
every record back exactly once; the controller is killed with kill -9 and
another broker takes over within the session timeout, with no created
topic lost; a killed broker is fenced (Metadata stops naming it as leader)
and, restarted, registers with a new epoch and leads its partitions again.

Checks what clients were told against what they read: the counts of lost
and duplicated records must be zero.
"""

import sys
import time
import unittest
import uuid

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import Consumer, Producer  # noqa: E402

from cluster_checks import (  # noqa: E402
    admin,
    cluster_view,
    create_topic,
    describe_controller,
    wait_for,
)

SESSION_MS = 4000  # broker.session.timeout.ms: the fencing tests wait for it


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3,
            sets=[
                f"broker.session.timeout.ms={SESSION_MS}",
                "broker.heartbeat.interval.ms=1000",
            ],
        )
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def bootstrap(self):
        return self.cluster.bootstrap

    def test_1_every_broker_sees_three_and_one_controller(self):
        controllers = set()
        for node in (1, 2, 3):
            md = admin(f"127.0.0.1:{self.cluster.port(node)}").list_topics(timeout=10)
            self.assertEqual(sorted(md.brokers), [1, 2, 3], f"node {node}'s Metadata")
            controllers.add(md.controller_id)
        self.assertEqual(len(controllers), 1, f"brokers name different controllers: {controllers}")
        self.assertIn(controllers.pop(), (1, 2, 3))

    def test_2_topics_spread_and_records_round_trip(self):
        topic = "spread-" + uuid.uuid4().hex[:8]
        # Through a broker that is not necessarily the controller: the
        # change travels to the controller through etcd.
        create_topic(f"127.0.0.1:{self.cluster.port(3)}", topic, 6)
        _, _, topics = wait_for(
            "the topic on every broker",
            lambda: (lambda v: v if topic in v[2] and len(v[2][topic]) == 6 else None)(
                cluster_view(self.bootstrap())
            ),
            30,
        )
        leaders = sorted(set(topics[topic].values()))
        self.assertEqual(leaders, [1, 2, 3], f"6 partitions over 3 brokers: {topics[topic]}")

        told = {}
        errors = []

        def delivered(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                told[msg.value()] = (msg.partition(), msg.offset())

        producer = Producer(
            {"bootstrap.servers": self.bootstrap(), "acks": "all", "linger.ms": 5}
        )
        count = 600
        for i in range(count):
            producer.produce(topic, value=b"v%d" % i, partition=i % 6, on_delivery=delivered)
            if i % 100 == 0:
                producer.poll(0)
        self.assertEqual(producer.flush(30), 0, "messages left unflushed")
        self.assertEqual(errors, [])
        self.assertEqual(len(told), count)

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap(),
                "group.id": "g-" + topic,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        read = {}
        duplicates = 0
        deadline = time.time() + 60
        while len(read) < count and time.time() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if msg.value() in read:
                duplicates += 1
            read[msg.value()] = (msg.partition(), msg.offset())
        consumer.close()
        lost = [v for v in told if v not in read]
        self.assertEqual(lost, [], f"{len(lost)} acknowledged records not read")
        self.assertEqual(duplicates, 0)
        self.assertEqual(read, told, "records read at other partitions/offsets than acknowledged")

    def test_3_controller_failover(self):
        controller, _, _ = cluster_view(self.bootstrap())
        self.assertIn(controller, (1, 2, 3))
        created = ["before-" + uuid.uuid4().hex[:8]]
        create_topic(self.bootstrap(), created[0], 3)
        killed_at = time.time()
        self.cluster.kill_node(controller)
        others = [n for n in (1, 2, 3) if n != controller]
        survivors = ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in others)

        def new_controller():
            ids = {describe_controller(self.cluster.port(n)) for n in others}
            if len(ids) == 1 and list(ids)[0] in others:
                return list(ids)[0]
            return None

        successor = wait_for("a new controller", new_controller, SESSION_MS / 1000 + 20)
        took = time.time() - killed_at
        print(f"controller {controller} killed; {successor} took over in {took:.1f} s", file=sys.stderr)
        name = "after-" + uuid.uuid4().hex[:8]
        create_topic(survivors, name, 2)
        created.append(name)
        _, _, topics = cluster_view(survivors)
        for t in created:
            self.assertIn(t, topics, f"topic {t} lost across the controller's death")
        self.cluster.start_node(controller)
        wait_for(
            "the old controller back as a broker",
            lambda: sorted(cluster_view(self.bootstrap())[1]) == [1, 2, 3],
            60,
        )

    def test_4_fenced_broker_leads_nothing_and_comes_back(self):
        topic = "fence-" + uuid.uuid4().hex[:8]
        create_topic(self.bootstrap(), topic, 3)
        _, _, topics = wait_for(
            "leaders",
            lambda: (lambda v: v if topic in v[2] and len(v[2][topic]) == 3 else None)(
                cluster_view(self.bootstrap())
            ),
            30,
        )
        controller, _, _ = cluster_view(self.bootstrap())
        victim = next(n for n in (3, 2, 1) if n != controller)
        led = [p for p, leader in topics[topic].items() if leader == victim]
        self.cluster.kill_node(victim)
        others = ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in (1, 2, 3) if n != victim)

        def fenced():
            _, brokers, t = cluster_view(others)
            if victim in brokers:
                return None
            if any(t[topic][p] == victim for p in t[topic]):
                return None
            return t

        t = wait_for(f"broker {victim} fenced", fenced, SESSION_MS / 1000 + 20)
        for p in led:
            # RF=1: its only replica is gone, so it has no leader.
            self.assertEqual(t[topic][p], -1, f"partition {p} of a fenced broker")
        self.cluster.start_node(victim)

        def back():
            _, brokers, t = cluster_view(self.bootstrap())
            return victim in brokers and all(t[topic][p] == victim for p in led)

        wait_for(f"broker {victim} back as leader of {led}", back, 60)

    def test_5_one_group_whatever_broker_its_members_bootstrap_to(self):
        from confluent_kafka import TopicPartition

        topic = "group-" + uuid.uuid4().hex[:8]
        create_topic(self.bootstrap(), topic, 6)
        group = "g-" + topic
        consumers = []
        for node in (1, 3):
            c = Consumer(
                {
                    "bootstrap.servers": f"127.0.0.1:{self.cluster.port(node)}",
                    "group.id": group,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "session.timeout.ms": 10000,
                }
            )
            c.subscribe([topic])
            consumers.append(c)

        def assigned():
            for c in consumers:
                c.poll(0.2)
            sizes = [len(c.assignment()) for c in consumers]
            return sizes if sorted(sizes) == [3, 3] else None

        # Both members found the same coordinator (the leader of the
        # group's __consumer_offsets partition), so they share the six.
        wait_for("one group of two members sharing six partitions", assigned, 60)
        consumers[0].commit(
            offsets=[TopicPartition(topic, tp.partition, 7) for tp in consumers[0].assignment()],
            asynchronous=False,
        )
        for c in consumers:
            c.close()
        md = admin(self.bootstrap()).list_topics(timeout=10)
        self.assertIn("__consumer_offsets", md.topics)
        reader = Consumer({"bootstrap.servers": f"127.0.0.1:{self.cluster.port(2)}", "group.id": group})
        committed = reader.committed([TopicPartition(topic, p) for p in range(6)], timeout=20)
        reader.close()
        self.assertEqual(sorted(tp.offset for tp in committed).count(7), 3, f"committed: {committed}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
