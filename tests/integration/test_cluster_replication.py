"""Partition replication end to end (issue 16): a three-node cluster, a
topic with replication factor 3 and min.insync.replicas=2, librdkafka
producing with acks=all. Every acknowledged record must survive the
partition leader's kill -9 at the offset it was acknowledged at (the new
leader is a follower that fetched it), the restarted node must catch up
and rejoin the ISR, and then lead alone with everything once the others
are gone (one killed, one paused). With two of three nodes down an acks=all
produce is refused (NOT_ENOUGH_REPLICAS) rather than acknowledged by one
copy. ListOffsets from Kafka's debugging replica id (-2) is answered by
every replica with its own log end (what tools/bench/replication_bench.py
measures replication lag with), while a client's ListOffsets stays the
leader's.
"""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import kafka_wire  # noqa: E402
import kgw_cluster  # noqa: E402
import record_wire  # noqa: E402
from cluster_checks import admin, judge_records, produce, read_all, wait_for  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

SESSION_MS = 4000
TOPIC = "replicated"
NOT_ENOUGH_REPLICAS = 19
NOT_LEADER_OR_FOLLOWER = 6


def log_end(port, topic, replica_id):
    """ListOffsets v1 latest of partition 0 asked of one broker as
    `replica_id`: (error, offset)."""
    body = kafka_wire.Enc().i32(replica_id).array(
        [0], lambda e, _: e.string(topic).array([0], lambda e2, p: e2.i32(p).i64(-1)))
    c = kafka_wire.Conn(f"127.0.0.1:{port}", timeout=10)
    try:
        d = c.call(2, 1, body)
    finally:
        c.close()
    out = []

    def part(d):
        d.i32()
        err = d.i16()
        d.i64()
        out.append((err, d.i64()))

    d.array(lambda d: (d.string(), d.array(part)))
    return out[0]


class ReplicationTest(kgw_cluster.ClusterTestCase):
    SETS = (f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000",
            "replica.lag.time.max.ms=5000")

    def partition(self, nodes):
        """(leader, replicas, isr) of partition 0 as one of `nodes` sees it."""
        md = admin(self.bootstrap(nodes)).list_topics(TOPIC, timeout=10)
        p = md.topics[TOPIC].partitions[0]
        return p.leader, sorted(p.replicas), sorted(p.isrs)

    def test_acknowledged_writes_survive_leader_failures(self):
        everyone = (1, 2, 3)
        client = admin(self.bootstrap(everyone))
        futures = client.create_topics(
            [NewTopic(TOPIC, num_partitions=1, replication_factor=3,
                      config={"min.insync.replicas": "2"})],
            operation_timeout=30, request_timeout=30)
        futures[TOPIC].result(timeout=40)
        wait_for("all three replicas in the ISR",
                 lambda: self.partition(everyone)[2] == [1, 2, 3], 30)

        told, errors = produce(self.bootstrap(everyone), TOPIC, 1, 500, prefix="a")
        self.assertEqual(errors, [])
        self.assertEqual(len(told), 500)

        # kill -9 of the leader: a follower takes over with every record.
        leader = self.partition(everyone)[0]
        self.cluster.kill_node(leader)
        survivors = tuple(n for n in everyone if n != leader)
        wait_for("a new leader among the survivors",
                 lambda: self.partition(survivors)[0] in survivors, SESSION_MS / 1000 + 30)
        more, errors = produce(self.bootstrap(survivors), TOPIC, 1, 500, prefix="b")
        self.assertEqual(errors, [])
        told.update(more)
        read, duplicates = read_all(self.bootstrap(survivors), TOPIC, 1, len(told))
        counts = judge_records(told, read, duplicates)
        print(f"after killing leader {leader}: {counts}", file=sys.stderr)
        self.assertEqual(counts, {"lost": 0, "duplicated": 0, "divergent": 0})

        # The killed node comes back as a follower, catches up and rejoins.
        self.cluster.start_node(leader)
        wait_for("the restarted node back in the ISR",
                 lambda: self.partition(everyone)[2] == [1, 2, 3], 60)

        # The two others go: one killed, one paused (killing both would take
        # two of the three co-located etcd members, the metadata quorum,
        # with them). The restarted node ends up leading alone, holding
        # everything acknowledged.
        killed, paused = [n for n in everyone if n != leader]
        self.cluster.kill_node(killed)
        self.cluster.kill_node(paused, sig=signal.SIGSTOP, wait=False)
        try:
            wait_for(f"node {leader} leading alone",
                     lambda: self.partition((leader,))[::2] == (leader, [leader]),
                     SESSION_MS / 1000 + 30)
        except AssertionError:
            os.kill(self.cluster.kgw_pid(paused), signal.SIGCONT)
            raise
        self.assertEqual(self.partition((leader,))[0], leader)
        read, duplicates = read_all(self.bootstrap((leader,)), TOPIC, 1, len(told))
        counts = judge_records(told, read, duplicates)
        print(f"with only node {leader} left: {counts}", file=sys.stderr)
        self.assertEqual(counts, {"lost": 0, "duplicated": 0, "divergent": 0})

        # One replica left and min.insync.replicas=2: acks=all is refused
        # NOT_ENOUGH_REPLICAS (librdkafka retries it until its timeout, so
        # on the wire), acks=1 is still taken.
        refused = record_wire.produce(f"127.0.0.1:{self.cluster.port(leader)}", TOPIC, 0,
                                      record_wire.batch([{"value": b"c-0"}]), acks=-1)
        self.assertEqual(refused["error"], NOT_ENOUGH_REPLICAS, refused)
        taken, errors = produce(self.bootstrap((leader,)), TOPIC, 1, 1, acks="1", prefix="d")
        self.assertEqual(errors, [])
        self.assertEqual(len(taken), 1)

        os.kill(self.cluster.kgw_pid(paused), signal.SIGCONT)
        self.cluster.start_node(killed)
        wait_for("every replica back in the ISR",
                 lambda: self.partition(everyone)[2] == [1, 2, 3], 60)
        told.update(taken)
        read, duplicates = read_all(self.bootstrap(everyone), TOPIC, 1, len(told))
        counts = judge_records(told, read, duplicates)
        print(f"all back: {counts}", file=sys.stderr)
        self.assertEqual(counts, {"lost": 0, "duplicated": 0, "divergent": 0})

    def test_every_replica_reports_its_log_end(self):
        everyone = (1, 2, 3)
        name = "ends"
        client = admin(self.bootstrap(everyone))
        futures = client.create_topics(
            [NewTopic(name, num_partitions=1, replication_factor=3,
                      config={"min.insync.replicas": "2"})],
            operation_timeout=30, request_timeout=30)
        futures[name].result(timeout=40)
        wait_for("all three replicas in the ISR",
                 lambda: sorted(client.list_topics(name, timeout=10)
                                .topics[name].partitions[0].isrs) == [1, 2, 3], 30)
        told, errors = produce(self.bootstrap(everyone), name, 1, 300, prefix="e")
        self.assertEqual(errors, [])
        leader = client.list_topics(name, timeout=10).topics[name].partitions[0].leader
        # acks=all was answered once every ISR member had fetched past the
        # records: each replica's own log end says so.
        for n in everyone:
            self.assertEqual(log_end(self.cluster.port(n), name, -2), (0, 300), f"node {n}")
        # A client asks the leader, and reads its high watermark.
        for n in everyone:
            want = (0, 300) if n == leader else (NOT_LEADER_OR_FOLLOWER, -1)
            self.assertEqual(log_end(self.cluster.port(n), name, -1), want, f"node {n}")


if __name__ == "__main__":
    unittest.main()
