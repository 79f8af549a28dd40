"""A group coordinator's kill -9 on a three-node cluster (issue 16): the
group's state lives in its replicated __consumer_offsets partition, so the
partition's new leader coordinates the group with everything intact.

A consumer group of one member commits distinct offsets for three
partitions; the coordinator (the leader of the group's __consumer_offsets
partition, which has three replicas) is killed with SIGKILL. Afterwards
the new coordinator must answer OffsetFetch with exactly the committed
offsets, still know the member of the current generation (DescribeGroups
lists the same member id, and that member's commit with its generation is
accepted, which ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID would refuse), and
a new consumer of the group must resume exactly at the committed offsets.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import kgw_cluster  # noqa: E402
from cluster_checks import admin, produce, wait_for  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402
from kafka_wire import Conn, Enc  # noqa: E402

SESSION_MS = 4000
TOPIC = "coordinated"
GROUP = "failover-group"
OFFSETS_TOPIC = "__consumer_offsets"
COMMITTED = {0: 17, 1: 42, 2: 63}
DESCRIBE_GROUPS = 15


def group_partition(group, partitions):
    """Kafka's abs(String.hashCode(group)) % partitions (ASCII ids)."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def describe_group(port, group):
    """(error, state, [member ids]) from DescribeGroups v0 asked of one broker."""
    conn = Conn(f"127.0.0.1:{port}")
    try:
        d = conn.call(DESCRIBE_GROUPS, 0, Enc().array([group], lambda e, g: e.string(g)))

        def member(d):
            member_id = d.string()
            d.string(), d.string(), d.bytes_(), d.bytes_()
            return member_id

        def one(d):
            error, _, state = d.i16(), d.string(), d.string()
            d.string(), d.string()
            return error, state, d.array(member)

        return d.array(one)[0]
    finally:
        conn.close()


class CoordinatorFailoverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3,
            sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000",
                  "replica.lag.time.max.ms=5000", "offsets.topic.num.partitions=5"],
        )
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def bootstrap(self, nodes):
        return ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in nodes)

    def offsets_partition(self, nodes):
        """(leader, replicas, isr) of the group's __consumer_offsets partition."""
        md = admin(self.bootstrap(nodes)).list_topics(timeout=10)
        t = md.topics.get(OFFSETS_TOPIC)
        if t is None or not t.partitions:
            return None
        p = t.partitions[group_partition(GROUP, len(t.partitions))]
        return p.leader, sorted(p.replicas), sorted(p.isrs)

    def test_offsets_and_generation_survive_the_coordinators_death(self):
        everyone = (1, 2, 3)
        client = admin(self.bootstrap(everyone))
        futures = client.create_topics(
            [NewTopic(TOPIC, num_partitions=3, replication_factor=3)],
            operation_timeout=30, request_timeout=30)
        futures[TOPIC].result(timeout=40)
        told, errors = produce(self.bootstrap(everyone), TOPIC, 3, 300)
        self.assertEqual(errors, [])
        self.assertEqual(len(told), 300)

        # Any group request creates the internal topic (FindCoordinator);
        # it is replicated on every live broker.
        probe = Consumer({"bootstrap.servers": self.bootstrap(everyone), "group.id": GROUP})
        probe.committed([TopicPartition(TOPIC, 0)], timeout=30)
        probe.close()
        wait_for("the group's __consumer_offsets partition on three in-sync replicas",
                 lambda: (self.offsets_partition(everyone) or (0, [], []))[2] == [1, 2, 3], 30)
        coordinator, replicas, _ = self.offsets_partition(everyone)
        self.assertEqual(replicas, [1, 2, 3])
        survivors = tuple(n for n in everyone if n != coordinator)

        # The member bootstraps to the survivors only, so it keeps running
        # through the coordinator's death.
        member = Consumer({"bootstrap.servers": self.bootstrap(survivors), "group.id": GROUP,
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
        member.subscribe([TOPIC])

        def assigned():
            member.poll(0.2)
            return len(member.assignment()) == 3

        wait_for("the member assigned all three partitions", assigned, 60)
        member.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in COMMITTED.items()],
                      asynchronous=False)
        error, state, members_before = describe_group(self.cluster.port(coordinator), GROUP)
        self.assertEqual((error, state, len(members_before)), (0, "Stable", 1))

        self.cluster.kill_node(coordinator)
        wait_for("a new leader of the group's __consumer_offsets partition",
                 lambda: (self.offsets_partition(survivors) or (-1,))[0] in survivors,
                 SESSION_MS / 1000 + 30)
        new_coordinator = self.offsets_partition(survivors)[0]

        def described():
            try:
                member.poll(0.2)
                return describe_group(self.cluster.port(new_coordinator), GROUP)
            except (OSError, ValueError):
                return None

        # COORDINATOR_LOAD_IN_PROGRESS (14) while it loads, then the group.
        got = wait_for("the new coordinator knows the group",
                       lambda: (lambda r: r if r and r[0] == 0 else None)(described()), 30)
        # The member kept its member id: its heartbeats to the new
        # coordinator were accepted (an unknown member would have rejoined
        # under a new id), and the generation is the one it joined.
        time.sleep(2)
        error, state, members_after = described()
        print(f"before: {members_before}; after: {got}, {members_after}", file=sys.stderr)
        self.assertEqual((error, state), (0, "Stable"))
        self.assertEqual(members_after, members_before)
        member.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in COMMITTED.items()],
                      asynchronous=False)
        member.close()

        reader = Consumer({"bootstrap.servers": self.bootstrap(survivors), "group.id": GROUP})
        committed = reader.committed([TopicPartition(TOPIC, p) for p in COMMITTED], timeout=30)
        reader.close()
        self.assertEqual({tp.partition: tp.offset for tp in committed}, COMMITTED)

        # A new member resumes exactly where the group committed.
        resumed = Consumer({"bootstrap.servers": self.bootstrap(survivors), "group.id": GROUP,
                            "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        resumed.subscribe([TOPIC])
        first = {}
        deadline = time.time() + 60
        while len(first) < 3 and time.time() < deadline:
            msg = resumed.poll(0.5)
            if msg is None or msg.error():
                continue
            first.setdefault(msg.partition(), msg.offset())
        resumed.close()
        self.assertEqual(first, COMMITTED)


if __name__ == "__main__":
    unittest.main(verbosity=2)
