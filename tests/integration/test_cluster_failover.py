"""Controller failover under load, judged like Jepsen: a three-node
cluster (co-located etcd members, broker.session.timeout.ms 4000,
heartbeat 1000); in each round a thread creates topics one by one through
the two brokers that are not the controller (on the wire, to them) and
through librdkafka (which sends it to the controller), recording which CreateTopics
were acknowledged and which failed or timed out; the controller's kgw is
killed with SIGKILL mid-stream; another broker must be named controller by
both survivors within the lease TTL (plus the etcd election of the killed
node's member and slack for a loaded machine); the thread goes on creating
through the new controller; the killed node is restarted. Then every
broker's own Metadata (v12, with topic ids) must list every acknowledged
topic with the partition count asked, no name or id twice, and every
topic whose create was not acknowledged either on all brokers (same id,
same partitions) or on none: lost, duplicated and divergent all zero.

ROUNDS rounds ($KGW_FAILOVER_ROUNDS, 3 by default, 20 for the long form
in the README). Prints each failover time (kill -9 to the new controller
named in both survivors' Metadata).
"""

import json
import os
import sys
import time
import unittest

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from cluster_checks import TopicCreator, broker_metadata, judge_topics, wait_for  # noqa: E402

ROUNDS = int(os.environ.get("KGW_FAILOVER_ROUNDS", "3"))
SESSION_MS = 4000
# The controller key's lease lapses SESSION_MS after the last keepalive,
# the new controller is elected on its deletion: that is the bound, plus
# slack for a machine shared by many builds. When the killed node's etcd
# member led etcd too (its kgw takes it along), the two others first elect
# a new etcd leader, which restarts every lease's TTL (etcd's lessor
# Promote): the bound adds that election.
FAILOVER_BOUND_S = SESSION_MS / 1000 + 4
ETCD_LEADER_FAILOVER_BOUND_S = SESSION_MS / 1000 + 8
NODES = (1, 2, 3)


class ControllerFailoverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3,
            sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000"],
        )
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def views(self, nodes=NODES):
        return {n: broker_metadata(self.cluster.port(n)) for n in nodes}

    def agreed_controller(self, nodes):
        ids = {v["controller"] for v in self.views(nodes).values()}
        if len(ids) == 1 and next(iter(ids)) in nodes:
            return next(iter(ids))
        return None

    def test_controller_killed_while_topics_are_created(self):
        acked, unacked, partitions = set(), set(), {}
        times, slow = [], []
        for rnd in range(1, ROUNDS + 1):
            controller = wait_for("one controller named by every broker",
                                  lambda: self.agreed_controller(NODES), 60)
            # The previous round's restarted member has caught up: each
            # round starts from a healthy quorum.
            wait_for("every etcd member healthy", self.etcd_leader, 60, every=0.5)
            etcd_leader = self.etcd_leader()
            others = tuple(n for n in NODES if n != controller)
            survivors = ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in others)
            # Through the survivors on the wire, and through librdkafka
            # (which sends CreateTopics to the controller, so its in-flight
            # create dies with it).
            creators = [
                TopicCreator(f"r{rnd:02d}w", partitions=1 + rnd % 3,
                             ports=[self.cluster.port(n) for n in others]),
                TopicCreator(f"r{rnd:02d}k", partitions=1 + (rnd + 1) % 3, bootstrap=survivors),
            ]
            for c in creators:
                partitions[c.prefix] = c.partitions
                c.start()

            def acks():
                return sum(len(c.acked) for c in creators)

            successor, took = None, None
            try:
                wait_for("topics acknowledged before the kill",
                         lambda: all(len(c.acked) >= 2 for c in creators), 60, every=0.05)
                killed_at = time.monotonic()
                self.cluster.kill_node(controller)
                successor = wait_for("a new controller named by both survivors",
                                     lambda: self.agreed_controller(others),
                                     FAILOVER_BOUND_S + 30, every=0.1)
                took = time.monotonic() - killed_at
                before = acks()
                # Creates go on through the new controller.
                wait_for("topics acknowledged after the failover",
                         lambda: acks() >= before + 4, 60, every=0.05)
            finally:
                for c in creators:
                    c.stop()
            for c in creators:
                acked |= c.acked
                unacked |= set(c.failed)
                print(f"round {rnd}: {c.prefix}: creates acknowledged {len(c.acked)}, not "
                      f"{len(c.failed)} {sorted(set(c.failed.values()))[:3]}", file=sys.stderr)
            bound = ETCD_LEADER_FAILOVER_BOUND_S if etcd_leader == controller else FAILOVER_BOUND_S
            print(f"round {rnd}: controller {controller} killed"
                  f"{' (with the etcd leader)' if etcd_leader == controller else ''}, {successor} "
                  f"took over in {took:.2f} s (bound {bound:.0f} s)", file=sys.stderr)
            times.append((took, etcd_leader == controller))
            if took > bound:
                slow.append(f"round {rnd}: {took:.2f} s > {bound:.0f} s")
            self.cluster.start_node(controller)

            def judged():
                problems, counts = judge_topics(self.views(), acked, unacked,
                                                lambda name: partitions[name.rsplit("-", 1)[0]])
                return (problems, counts)

            # The brokers' watches may lag a moment behind each other: wait
            # for them to agree, then judge what they agree on.
            deadline = time.time() + 30
            problems, counts = judged()
            while problems and time.time() < deadline:
                time.sleep(0.5)
                problems, counts = judged()
            print(f"round {rnd}: lost {counts['lost']}, duplicated {counts['duplicated']}, "
                  f"divergent {counts['divergent']} over {len(acked)} acknowledged and "
                  f"{len(unacked)} unacknowledged creates ({counts['unacknowledged_present']} of them "
                  f"took effect)", file=sys.stderr)
            self.assertEqual(problems, [], f"round {rnd}")
        for with_leader in (False, True):
            t = sorted(took for took, w in times if w == with_leader)
            if t:
                print(f"failover{' with the etcd leader' if with_leader else ''} over {len(t)} "
                      f"rounds: min {t[0]:.2f} s, median {t[len(t) // 2]:.2f} s, max {t[-1]:.2f} s",
                      file=sys.stderr)
        self.assertEqual(slow, [], "failovers slower than the bound")

    def etcd_leader(self):
        """The node whose etcd member leads, once every member is healthy."""
        try:
            self.cluster.etcdctl("endpoint", "health")  # fails unless all are
            status = json.loads(self.cluster.etcdctl("endpoint", "status", "-w", "json"))
        except kgw_cluster.ClusterError:
            return None
        leaders = {s["Status"]["leader"] for s in status}
        if len(leaders) != 1:
            return None
        for s in status:
            if s["Status"]["header"]["member_id"] in leaders:
                port = int(s["Endpoint"].rsplit(":", 1)[1])
                return next(n for n in NODES if self.cluster.client_port(n) == port)
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
