"""Partition reassignment end to end (issue 16) on three kgw nodes with
co-located etcd members: a replication factor 1 topic with records on
broker 1 is moved to brokers 2 and 3 with `kgw-admin reassign --execute`
while a producer (acks=all) keeps writing; `--verify` reports it done,
Metadata names only the new replicas, ListPartitionReassignments is empty,
and with broker 1 killed every acknowledged record is read back from the
new replicas. A reassignment that cannot finish (its adding broker paused)
is listed with its progress (`--list`: the adding replica catching up) and
cancelled (`--cancel`) back to its replicas. The Kafka errors:
INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS,
UNKNOWN_TOPIC_OR_PARTITION."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import admin_wire  # noqa: E402
import kgw_cluster  # noqa: E402
import kgw_harness  # noqa: E402
from cluster_checks import admin, judge_records, produce, read_all, wait_for  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

kgw_cluster.require_etcd()

SESSION_MS = 4000
TIMEOUT = 60.0
BUILD_DIR = os.path.dirname(kgw_harness.kgw_path())
ADMIN = os.path.join(BUILD_DIR, "tools", "admin", "kgw-admin")
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_REPLICA_ASSIGNMENT = 39
NO_REASSIGNMENT_IN_PROGRESS = 85

if not os.access(ADMIN, os.X_OK):
    kgw_harness.skip_all(f"{ADMIN} is not built (it needs librdkafka-dev)")


def reassign(*args, ok=True):
    p = subprocess.run([ADMIN, "reassign", *args], capture_output=True, text=True,
                       timeout=TIMEOUT)
    if ok and p.returncode != 0:
        raise AssertionError(f"kgw-admin reassign {' '.join(args)} exited {p.returncode}:\n"
                             f"{p.stdout}{p.stderr}")
    return p


def plan_file(entries):
    """[(topic, partition, replicas)] -> path of a Kafka reassignment JSON."""
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r} for t, p, r in entries]}, f)
    f.close()
    return f.name


class ReassignTest(kgw_cluster.ClusterTestCase):
    SETS = (f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000",
            "replica.lag.time.max.ms=5000")

    def partitions(self, topic, nodes=(1, 2, 3)):
        """{index: (leader, replicas, isr)} as one of `nodes` sees it."""
        md = admin(self.bootstrap(nodes)).list_topics(topic, timeout=10)
        return {i: (p.leader, list(p.replicas), sorted(p.isrs))
                for i, p in md.topics[topic].partitions.items()}

    def create(self, topic, assignment):
        client = admin(self.bootstrap())  # kept alive until the result
        futures = client.create_topics(
            [NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment)],
            operation_timeout=30, request_timeout=30)
        futures[topic].result(timeout=40)
        wait_for(f"{topic} led", lambda: all(
            p[0] >= 0 for p in self.partitions(topic).values()), 30)

    def test_1_refusals(self):
        self.create("refused", [[1]])
        bs = self.bootstrap((2,))  # admin_wire speaks to one address
        r = admin_wire.alter_partition_reassignments(bs, [
            ("refused", [(0, [2, 9])]), ("nosuch", [(0, [2])])])
        self.assertEqual(r[("refused", 0)][0], INVALID_REPLICA_ASSIGNMENT, r)
        self.assertIn("broker 9", r[("refused", 0)][1])
        self.assertEqual(r[("nosuch", 0)][0], UNKNOWN_TOPIC_OR_PARTITION, r)
        r = admin_wire.alter_partition_reassignments(bs, [
            ("refused", [(0, None), (5, [2]), (0, [2, 2])])])
        self.assertEqual(r[("refused", 0)][0], INVALID_REPLICA_ASSIGNMENT, r)
        self.assertEqual(r[("refused", 5)][0], UNKNOWN_TOPIC_OR_PARTITION, r)
        r = admin_wire.alter_partition_reassignments(bs, [("refused", [(0, None)])])
        self.assertEqual(r[("refused", 0)][0], NO_REASSIGNMENT_IN_PROGRESS, r)
        self.assertEqual(self.partitions("refused")[0][1], [1])

    def test_2_move_while_producing(self):
        topic = "moving"
        self.create(topic, [[1], [1]])
        told, errors = produce(self.bootstrap(), topic, 2, 400, prefix="before")
        self.assertEqual(errors, [])

        # A producer keeps writing while the partitions move.
        stop = threading.Event()
        during = {"told": {}, "errors": []}

        def keep_producing():
            n = 0
            while not stop.is_set():
                t, e = produce(self.bootstrap(), topic, 2, 50, prefix=f"during{n}")
                during["told"].update(t)
                during["errors"].extend(e)
                n += 1

        writer = threading.Thread(target=keep_producing)
        writer.start()
        try:
            plan = plan_file([(topic, 0, [2, 3]), (topic, 1, [3])])
            out = reassign("--execute", "--bootstrap-server", self.bootstrap(),
                           "--reassignment-json-file", plan).stdout
            print(out, file=sys.stderr)
            self.assertIn("Current partition replica assignment", out)
            self.assertIn('"replicas":[1]', out)
            self.assertIn(f"Successfully started partition reassignments for {topic}-0,{topic}-1",
                          out)
            wait_for("--verify reports both partitions done", lambda: reassign(
                "--verify", "--bootstrap-server", self.bootstrap(),
                "--reassignment-json-file", plan, ok=False).returncode == 0, 60)
        finally:
            stop.set()
            writer.join(120)
        verify = reassign("--verify", "--bootstrap-server", self.bootstrap(),
                          "--reassignment-json-file", plan).stdout
        self.assertIn(f"Reassignment of partition {topic}-0 is completed.", verify)
        self.assertIn(f"Reassignment of partition {topic}-1 is completed.", verify)
        self.assertEqual(during["errors"], [])
        self.assertGreater(len(during["told"]), 0)

        parts = wait_for("every broker's Metadata naming the new replicas", lambda: (
            lambda p: p if p[0][1] == [2, 3] and p[1][1] == [3] else None)(
            self.partitions(topic)), 10)
        self.assertEqual(parts[0][1], [2, 3])
        self.assertIn(parts[0][0], (2, 3))
        self.assertEqual(parts[1][1], [3])
        self.assertEqual(parts[1][0], 3)
        wait_for("nothing listed", lambda: admin_wire.list_partition_reassignments(
            self.bootstrap((3,))) == (0, []), 10)
        listed = reassign("--list", "--bootstrap-server", self.bootstrap()).stdout
        self.assertIn("No partition reassignments found.", listed)

        # Broker 1 gone: everything acknowledged is on the new replicas.
        self.cluster.kill_node(1)
        try:
            expect = len(told) + len(during["told"])
            read, duplicates = read_all(self.bootstrap((2, 3)), topic, 2, expect)
            counts = judge_records(told, read, 0)
            print(f"moved {len(told)} records written before: {counts}", file=sys.stderr)
            self.assertEqual(counts, {"lost": 0, "duplicated": 0, "divergent": 0})
            # Written while the leader moved: none lost. A producer without
            # idempotence may write a batch twice when its leader changes
            # under an acks=all request (it retries on the new leader), as
            # with Kafka: counted, not failed.
            counts = judge_records(during["told"], read, duplicates)
            print(f"{len(during['told'])} records written during the move: {counts}",
                  file=sys.stderr)
            self.assertEqual(counts["lost"], 0)
        finally:
            self.cluster.start_node(1)
            wait_for("node 1 back", lambda: len(admin(self.bootstrap()).list_topics(
                timeout=10).brokers) == 3, 60)

    def test_3_list_progress_and_cancel(self):
        topic = "stuck"
        self.create(topic, [[1]])
        told, errors = produce(self.bootstrap(), topic, 1, 100, prefix="s")
        self.assertEqual(errors, [])
        # Broker 3 paused: it cannot catch up, the reassignment stays open.
        self.cluster.kill_node(3, sig=signal.SIGSTOP, wait=False)
        try:
            plan = plan_file([(topic, 0, [1, 3])])
            reassign("--execute", "--bootstrap-server", self.bootstrap((1, 2)),
                     "--reassignment-json-file", plan)
            wait_for("the reassignment listed", lambda: admin_wire.list_partition_reassignments(
                self.bootstrap((2,)))[1] == [topic], 30)
            listed = reassign("--list", "--bootstrap-server", self.bootstrap((1, 2)),
                              "--timeout-ms", "2000").stdout
            print(listed, file=sys.stderr)
            self.assertIn(f"{topic}-0: replicas: 1,3. adding: 3. removing: .", listed)
            self.assertIn("adding replica 3: catching up, lag unknown (broker 3 did not answer", listed)
            verify = reassign("--verify", "--bootstrap-server", self.bootstrap((1, 2)),
                              "--reassignment-json-file", plan, "--timeout-ms", "2000", ok=False)
            self.assertEqual(verify.returncode, 1)
            self.assertIn(f"Reassignment of partition {topic}-0 is still in progress.",
                          verify.stdout)

            out = reassign("--cancel", "--bootstrap-server", self.bootstrap((1, 2)),
                           "--reassignment-json-file", plan).stdout
            self.assertIn(f"Successfully cancelled partition reassignment for: {topic}-0", out)
            # The broker asked answered once its image had it; the others'
            # follow from etcd's watch (Metadata may ask any of them).
            for node in (1, 2):
                wait_for(f"broker {node} listing nothing", lambda: admin_wire.
                         list_partition_reassignments(self.bootstrap((node,))) == (0, []), 10)
                wait_for(f"broker {node}'s Metadata naming [1]",
                         lambda: self.partitions(topic, (node,))[0][1] == [1], 10)
        finally:
            os.kill(self.cluster.kgw_pid(3), signal.SIGCONT)
        read, duplicates = read_all(self.bootstrap(), topic, 1, len(told))
        self.assertEqual(judge_records(told, read, duplicates),
                         {"lost": 0, "duplicated": 0, "divergent": 0})

    def test_4_generate_then_execute(self):
        topic = "spread"
        self.create(topic, [[1, 2]] * 4)
        told, errors = produce(self.bootstrap(), topic, 4, 100, prefix="g")
        self.assertEqual(errors, [])
        topics = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"version": 1, "topics": [{"topic": topic}]}, topics)
        topics.close()

        def generate(*extra, ok=True):
            return reassign("--generate", "--bootstrap-server", self.bootstrap(),
                            "--topics-to-move-json-file", topics.name, *extra, ok=ok)

        # Bad input: named, nothing changed.
        bad = generate("--broker-list", "2,3,2", ok=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("Broker list contains duplicate entries: 2", bad.stderr)
        bad = generate("--broker-list", "9", ok=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no broker of --broker-list 9 is in the cluster (its brokers: 1,2,3)",
                      bad.stderr)

        # Kafka's output: the current assignment, then the proposal, each
        # a reassignment JSON; the proposal keeps the replication factor,
        # uses only the listed brokers and spreads the leaders.
        out = generate("--broker-list", "2,3").stdout
        lines = out.splitlines()
        self.assertEqual(lines[0], "Current partition replica assignment")
        self.assertEqual(lines[3], "Proposed partition reassignment configuration")
        current, proposed = json.loads(lines[1]), json.loads(lines[4])
        self.assertEqual([p["replicas"] for p in current["partitions"]], [[1, 2]] * 4)
        self.assertEqual([p["partition"] for p in proposed["partitions"]], [0, 1, 2, 3])
        for p in proposed["partitions"]:
            self.assertEqual(sorted(p["replicas"]), [2, 3], p)
        leaders = [p["replicas"][0] for p in proposed["partitions"]]
        self.assertEqual(sorted(leaders), [2, 2, 3, 3], leaders)

        # The proposal is a plan --execute takes as it is.
        plan = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        plan.write(lines[4])
        plan.close()
        reassign("--execute", "--bootstrap-server", self.bootstrap(),
                 "--reassignment-json-file", plan.name)
        wait_for("--verify reports the proposal done", lambda: reassign(
            "--verify", "--bootstrap-server", self.bootstrap(),
            "--reassignment-json-file", plan.name, ok=False).returncode == 0, 60)
        read, duplicates = read_all(self.bootstrap(), topic, 4, len(told))
        self.assertEqual(judge_records(told, read, duplicates),
                         {"lost": 0, "duplicated": 0, "divergent": 0})

    def test_5_throttles_hold_back_catching_up_replicas(self):
        """KIP-73: partition 0 moves to [1, 2] under broker 1's leader
        throttle, partition 1 to [1, 3] under broker 3's follower throttle
        (100 kB/s each, over 11 windows of 1 s). A copy of 8 MB each would
        take a fraction of a second on loopback; throttled, after 4 s each
        new replica holds no more than the rate allows (its window's burst,
        4 s at the rate, one fetch more), yet more than nothing. With the
        rates removed both finish."""
        topic = "throttled"
        rate = 100_000
        self.create(topic, [[1], [1]])
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.bootstrap(), "acks": "all", "linger.ms": 20})
        value = os.urandom(1000)
        for i in range(8000):
            for part in (0, 1):
                p.produce(topic, value, key=str(i).encode(), partition=part)
            if i % 500 == 0:
                p.flush(30)
        self.assertEqual(p.flush(60), 0)
        size = {part: self.copy_size(1, topic, part) for part in (0, 1)}
        self.assertGreater(min(size.values()), 8_000_000, size)

        def alter(node, resources):
            r = admin_wire.incremental_alter_configs(self.bootstrap((node,)), resources)
            self.assertEqual([e[0] for e in r], [0] * len(resources), r)

        alter(1, [(2, topic, [("leader.replication.throttled.replicas", 0, "0:1"),
                              ("follower.replication.throttled.replicas", 0, "1:3")]),
                  (4, "1", [("leader.replication.throttled.rate", 0, str(rate))])])
        alter(3, [(4, "3", [("follower.replication.throttled.rate", 0, str(rate))])])
        wait_for("the throttled-replicas config on brokers 1 and 3", lambda: all(
            self.topic_config(node, topic).get(name) == value for node, name, value in (
                (1, "leader.replication.throttled.replicas", "0:1"),
                (3, "follower.replication.throttled.replicas", "1:3"))), 10)

        r = admin_wire.alter_partition_reassignments(self.bootstrap((2,)), [
            (topic, [(0, [1, 2]), (1, [1, 3])])])
        self.assertEqual(r, {(topic, 0): (0, None), (topic, 1): (0, None)})
        # Kafka's Rate: the first bytes count as spread over 10 windows, so
        # up to about 10 x rate pass at once; then the rate.
        bound = 10 * rate + 4 * rate + 1_048_576 + 200_000
        started = wait_for("both new replicas copying", lambda: (
            lambda s: s if s[0] > 0 and s[1] > 0 else None)(
            (self.copy_size(2, topic, 0), self.copy_size(3, topic, 1))), 30)
        time.sleep(4)
        copied = (self.copy_size(2, topic, 0), self.copy_size(3, topic, 1))
        print(f"throttled: copies {started} -> {copied} bytes in 4 s (bound {bound})",
              file=sys.stderr)
        self.assertLessEqual(copied[0], bound, "leader throttle")
        self.assertLessEqual(copied[1], bound, "follower throttle")

        # Unthrottled: both catch up, join the ISR, the move completes.
        alter(1, [(4, "1", [("leader.replication.throttled.rate", 1, "")])])
        alter(3, [(4, "3", [("follower.replication.throttled.rate", 1, "")])])
        wait_for("the moves complete", lambda: (
            lambda p: p if p[0][1] == [1, 2] and p[1][1] == [1, 3] and
            p[0][2] == [1, 2] and p[1][2] == [1, 3] else None)(self.partitions(topic)), 60)
        self.assertEqual(self.copy_size(2, topic, 0), size[0])
        self.assertEqual(self.copy_size(3, topic, 1), size[1])

    def copy_size(self, node, topic, partition):
        """The size of node's copy of the partition (DescribeLogDirs), 0 if none."""
        for _err, _dir, topics in admin_wire.describe_log_dirs(self.bootstrap((node,)),
                                                                [(topic, [partition])]):
            if partition in topics.get(topic, {}):
                return topics[topic][partition]
        return 0

    def topic_config(self, node, topic):
        from confluent_kafka.admin import ConfigResource
        client = admin(self.bootstrap((node,)))
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        got = client.describe_configs([res])[res].result(timeout=10)
        return {name: entry.value for name, entry in got.items()}

    def test_6_execute_throttle_then_verify_clears_it(self):
        """--execute --throttle sets Kafka's throttle configs for what moves
        (the current replicas leader-side, the adding ones follower-side, the
        rate on every broker involved); --verify clears them once done."""
        topic = "throttle-cli"
        self.create(topic, [[1], [1]])
        told, errors = produce(self.bootstrap(), topic, 2, 200, prefix="t")
        self.assertEqual(errors, [])
        plan = plan_file([(topic, 0, [1, 2]), (topic, 1, [1])])  # partition 1 stays
        out = reassign("--execute", "--bootstrap-server", self.bootstrap(),
                       "--reassignment-json-file", plan, "--throttle", "50000000").stdout
        self.assertIn("Warning: You must run --verify periodically, until the reassignment "
                      "completes, to ensure the throttle is removed.", out)
        self.assertIn("The inter-broker throttle limit was set to 50000000 B/s", out)
        cfg = self.topic_config(1, topic)
        self.assertEqual(cfg["leader.replication.throttled.replicas"], "0:1")
        self.assertEqual(cfg["follower.replication.throttled.replicas"], "0:2")
        unlimited = "9223372036854775807"
        for node, rate in ((1, "50000000"), (2, "50000000"), (3, unlimited)):
            got = self.broker_config(node)
            self.assertEqual(got["leader.replication.throttled.rate"], rate, node)
            self.assertEqual(got["follower.replication.throttled.rate"], rate, node)

        bad = reassign("--verify", "--bootstrap-server", self.bootstrap(),
                       "--reassignment-json-file", plan, "--throttle", "5", ok=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--throttle goes with --execute", bad.stderr)

        done = {}

        def verified():
            r = reassign("--verify", "--bootstrap-server", self.bootstrap(),
                         "--reassignment-json-file", plan, ok=False)
            done["out"] = r.stdout
            return r.returncode == 0

        wait_for("--verify reports the move done", verified, 60)
        self.assertIn("Clearing broker-level throttles on brokers 1,2,3", done["out"])
        self.assertIn(f"Clearing topic-level throttles on topic {topic}", done["out"])
        cfg = self.topic_config(1, topic)
        self.assertEqual(cfg["leader.replication.throttled.replicas"], "")
        self.assertEqual(cfg["follower.replication.throttled.replicas"], "")
        for node in (1, 2, 3):
            got = self.broker_config(node)
            self.assertEqual(got["leader.replication.throttled.rate"], unlimited, node)
            self.assertEqual(got["follower.replication.throttled.rate"], unlimited, node)

    def broker_config(self, node):
        from confluent_kafka.admin import ConfigResource
        client = admin(self.bootstrap((node,)))
        res = ConfigResource(ConfigResource.Type.BROKER, str(node))
        got = client.describe_configs([res])[res].result(timeout=10)
        return {name: entry.value for name, entry in got.items()}


if __name__ == "__main__":
    unittest.main()
