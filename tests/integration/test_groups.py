"""Consumer groups against a real kgw with real clients: librdkafka
(confluent_kafka) members in separate processes that join, rebalance, get
killed and leave; kafka-python's admin client describing them; committed
offsets surviving a kill -9 of kgw.

Each member commits every message synchronously before recording it
(group_member.py), so "every message exactly once across the group" is a
precise check: a message is recorded exactly when its offset is committed,
and members are killed only while idle."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka", "kafka")

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TIMEOUT = 90.0
PARTITIONS = 6
MEMBER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "group_member.py")


def create_topic(bootstrap, name, partitions=PARTITIONS):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    fs[name].result(TIMEOUT)


def produce_range(bootstrap, topic, start, end):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False, "linger.ms": 5,
                  "log.connection.close": False})
    failed = []
    for n in range(start, end):
        key = f"k{n % 97}"
        while True:
            try:
                p.produce(topic, key=key, value=f"m-{n}",
                          on_delivery=lambda err, msg: err and failed.append(err))
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(TIMEOUT) == 0, "messages left undelivered"
    assert not failed, failed


class Member:
    """A group_member.py process and its event file."""

    def __init__(self, bootstrap, group, topic, workdir, name, assignor="range", instance_id=None,
                 session_timeout_ms=6000):
        self.name = name
        self.path = os.path.join(workdir, name + ".jsonl")
        self.args = [sys.executable, MEMBER_SCRIPT, bootstrap, group, topic, self.path,
                     "--assignor", assignor, "--session-timeout-ms", str(session_timeout_ms)]
        if instance_id:
            self.args += ["--instance-id", instance_id]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stderr=open(self.path + ".stderr", "ab"))
        return self

    def events(self):
        try:
            with open(self.path) as f:
                return [json.loads(line) for line in f if line.endswith("\n")]
        except FileNotFoundError:
            return []

    def owned(self):
        """Partitions owned according to the latest assign/revoke events."""
        owned = set()
        for e in self.events():
            if e["ev"] == "assign":
                owned = set(e["partitions"])
            elif e["ev"] == "revoke":
                owned -= set(e["partitions"])
        return owned

    def kill(self):
        self.proc.kill()
        self.proc.wait(30)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        assert rc == 0, f"{self.name} exited with {rc}: {self.stderr()}"

    def stderr(self):
        try:
            with open(self.path + ".stderr") as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return ""

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


class GroupTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="kgw-groups-")
        self.members = []

    def tearDown(self):
        for m in self.members:
            m.close()

    def member(self, *args, **kw):
        m = Member(*args, **kw)
        self.members.append(m)
        return m.start()

    def consumed(self):
        """(value -> list of (member, partition, offset)) over every member."""
        seen = {}
        for m in self.members:
            for e in m.events():
                if e["ev"] == "msg":
                    seen.setdefault(e["v"], []).append((m.name, e["p"], e["o"]))
        return seen

    def wait_consumed(self, total, what):
        kgw_harness.wait_until(lambda: len(self.consumed()) >= total, TIMEOUT,
                               interval=0.2, what=f"{total} messages consumed ({what})")

    def wait_assignment(self, live, what):
        """Until the live members own disjoint partition sets covering all."""
        def settled():
            sets = [m.owned() for m in live]
            union = set().union(*sets)
            return (all(sets) or len(live) > PARTITIONS) and union == set(range(PARTITIONS)) \
                and sum(len(s) for s in sets) == PARTITIONS
        kgw_harness.wait_until(settled, TIMEOUT, interval=0.2, what=f"assignment after {what}")

    def check_exactly_once(self, total):
        seen = self.consumed()
        missing = [f"m-{n}" for n in range(total) if f"m-{n}" not in seen]
        dups = {v: where for v, where in seen.items() if len(where) > 1}
        self.assertEqual(missing, [], "messages never consumed")
        self.assertEqual(dups, {}, "messages consumed more than once")
        self.assertEqual(len(seen), total)
        # Per partition, each member saw offsets in increasing order, and
        # the offsets of a partition, over all members, are 0..n-1.
        by_partition = {}
        for m in self.members:
            last = {}
            for e in m.events():
                if e["ev"] != "msg":
                    continue
                self.assertGreater(e["o"], last.get(e["p"], -1), f"{m.name} went backwards")
                last[e["p"]] = e["o"]
                by_partition.setdefault(e["p"], []).append(e["o"])
        for p, offsets in by_partition.items():
            self.assertEqual(sorted(offsets), list(range(len(offsets))), f"partition {p}")

    def check_described(self, bootstrap, group, live):
        """kafka-python's admin client sees the same disjoint assignment."""
        from kafka import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            desc = admin.describe_consumer_groups([group])[0]
        finally:
            admin.close()
        self.assertEqual(desc.state, "Stable")
        self.assertEqual(desc.protocol_type, "consumer")
        self.assertEqual(len(desc.members), len(live))
        assigned = []
        for mem in desc.members:
            self.assertTrue(mem.client_host.startswith("/127.0.0.1"), mem.client_host)
            for topic, parts in mem.member_assignment.assignment:
                assigned.extend(parts)
        self.assertEqual(sorted(assigned), list(range(PARTITIONS)))

    def run_scenario(self, assignor):
        with kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0") as kgw:
            bs = kgw.bootstrap
            topic = f"groups-{assignor}"
            group = f"g-{assignor}"
            create_topic(bs, topic)
            a, b, c = (self.member(bs, group, topic, self.workdir, n, assignor=assignor)
                       for n in ("a", "b", "c"))
            self.wait_assignment([a, b, c], "three members joined")
            produce_range(bs, topic, 0, 3000)
            self.wait_consumed(3000, "three members")
            self.check_described(bs, group, [a, b, c])

            d = self.member(bs, group, topic, self.workdir, "d", assignor=assignor)
            self.wait_assignment([a, b, c, d], "a fourth member joined")
            produce_range(bs, topic, 3000, 6000)
            self.wait_consumed(6000, "four members")

            # A crash: no LeaveGroup; its session timeout (6 s) removes it.
            a.kill()
            produce_range(bs, topic, 6000, 9000)
            self.wait_assignment([b, c, d], "a member was killed")
            self.wait_consumed(9000, "after the kill")

            # A clean leave: the group rebalances at once.
            b.stop()
            self.assertEqual(b.events()[-1]["ev"], "closed")
            self.wait_assignment([c, d], "a member left")
            produce_range(bs, topic, 9000, 12000)
            self.wait_consumed(12000, "after the leave")
            self.check_described(bs, group, [c, d])
            self.check_exactly_once(12000)

    def test_eager_rebalance_range_assignor(self):
        self.run_scenario("range")

    def test_cooperative_sticky_assignor(self):
        self.run_scenario("cooperative-sticky")

    def test_static_member_restart_keeps_assignment(self):
        with kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0") as kgw:
            bs = kgw.bootstrap
            topic, group = "static", "g-static"
            create_topic(bs, topic)
            s1 = self.member(bs, group, topic, self.workdir, "s1", instance_id="inst-1",
                             session_timeout_ms=30000)
            s2 = self.member(bs, group, topic, self.workdir, "s2", instance_id="inst-2",
                             session_timeout_ms=30000)
            self.wait_assignment([s1, s2], "two static members joined")
            produce_range(bs, topic, 0, 1000)
            self.wait_consumed(1000, "two static members")
            before = s1.owned()
            s2_events = len(s2.events())

            # Restart s1 well within its session timeout: a static member's
            # close sends no LeaveGroup, and its instance id brings it back
            # to the same place without a rebalance.
            s1.kill()
            s1b = self.member(bs, group, topic, self.workdir, "s1-again", instance_id="inst-1",
                              session_timeout_ms=30000)
            kgw_harness.wait_until(lambda: s1b.owned(), TIMEOUT, interval=0.2,
                                   what="the restarted static member's assignment")
            self.assertEqual(s1b.owned(), before)
            produce_range(bs, topic, 1000, 2000)
            self.wait_consumed(2000, "after the restart")
            # The other member saw no rebalance: no revoke, no new assignment.
            new_s2 = [e["ev"] for e in s2.events()[s2_events:]]
            self.assertNotIn("revoke", new_s2)
            self.assertNotIn("assign", new_s2)
            self.check_exactly_once(2000)

    def test_committed_offsets_survive_kill9(self):
        with kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0") as kgw:
            topic, group = "durable", "g-durable"
            create_topic(kgw.bootstrap, topic, partitions=3)
            produce_range(kgw.bootstrap, topic, 0, 3000)
            m = self.member(kgw.bootstrap, group, topic, self.workdir, "m1")
            self.wait_consumed(3000, "before the kill")
            m.stop()

            kgw.restart(kill=True)
            committed = Consumer({"bootstrap.servers": kgw.bootstrap, "group.id": group})
            try:
                got = committed.committed([TopicPartition(topic, p) for p in range(3)], TIMEOUT)
            finally:
                committed.close()
            self.assertEqual(sum(tp.offset for tp in got), 3000)
            for tp in got:
                self.assertIsNone(tp.error)
                self.assertGreater(tp.offset, 0)

            # A new member resumes at the committed offsets: it gets only
            # what was produced after the kill.
            produce_range(kgw.bootstrap, topic, 3000, 3500)
            m2 = self.member(kgw.bootstrap, group, topic, self.workdir, "m2")
            self.wait_consumed(3500, "after the restart")
            values = [e["v"] for e in m2.events() if e["ev"] == "msg"]
            self.assertEqual(sorted(values), sorted(f"m-{n}" for n in range(3000, 3500)))
            self.check_exactly_once(3500)


if __name__ == "__main__":
    kgw_harness.main()
