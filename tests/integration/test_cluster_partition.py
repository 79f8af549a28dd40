"""A network partition (issue 15, "Cluster I"): three nodes in network
namespaces of their own (netns_cluster.py), the controller's node cut off
from the other two by taking its link down, then healed; judged on what
clients were told against what they read afterwards.

- Before: the three agree on the controller C; a topic "stay" whose
  partitions are spread over the three gets records (acks=all), and one
  producer keeps producing (through the nodes never cut, to the partitions
  they lead) until the end.
- Cut C off. The majority (the two others) elects another controller;
  both name it. The majority fences C: its Metadata stops naming C as a
  leader. A CreateTopics sent to C from inside C's namespace fails with a
  retriable error or times out; its topic exists afterwards only if C said
  success. C stops acting as controller while cut off (its log says so:
  its lease went unconfirmed for the TTL). CreateTopics through each
  broker of the majority succeeds; records go to the partitions the
  majority leads.
- Heal. Every broker names the new controller, C's image converges (the
  three brokers list the same topics with the same ids and leaders, C
  among the brokers again and leading its partitions again), and records
  produced through C are consumed through C.
- Then, when C was not node 1, node 1 is cut off and healed the same way
  (without the controller checks): every node's etcd client starts at
  node 1's member (the same endpoint list everywhere, as run-cluster.sh
  gives), so this cuts the member the others' calls and watches use.
- Every record acknowledged on the partitions led by nodes never cut,
  before, during and after, is read back once at the offset it was
  acknowledged at (lost = duplicated = divergent = 0); every acknowledged
  topic is on every broker, none twice (cluster_checks.judge_topics).

Printed (measured, not asserted): per node cut, the controller takeover,
fencing, the cut-off controller's step-down (from its log line), each
CreateTopics through the majority and convergence after the heal, in
seconds, as one JSON line "partition-times".
"""

import datetime
import json
import re
import socket
import threading
import time
import unittest
import uuid

import netns_cluster

netns_cluster.require_netns()

import kgw_harness  # noqa: E402

kgw_harness.require_modules("confluent_kafka")

from cluster_checks import (  # noqa: E402
    broker_metadata,
    create_topic_wire,
    judge_records,
    judge_topics,
    produce,
    read_all,
    wait_for,
)
from confluent_kafka import Producer  # noqa: E402

SESSION_MS = 4000  # broker.session.timeout.ms: the brokers' (and controller's) lease TTL
NODES = (1, 2, 3)
PARTITIONS = 6
# CreateTopics answers a client may retry: REQUEST_TIMED_OUT, NOT_CONTROLLER.
RETRIABLE = (7, 41)
# Takeover and fencing: the lease TTL plus a margin for etcd's election
# (the cut node may hold etcd's Raft leadership: a new leader extends every
# lease by its TTL) and for noticing a connection the cut left half-open.
TAKEOVER_BOUND = 2 * SESSION_MS / 1000 + 10
# A bound that only keeps a broken kgw from hanging the test.
HEAL_BOUND = 60


class SteadyProducer(threading.Thread):
    """Produces to the given partitions (acks=all, ~100 records a second)
    until stop(), across the cut and the heal; records what it was told:
    told {value: (partition, offset)}, errors [delivery errors]."""

    def __init__(self, bootstrap, topic, partitions):
        super().__init__(daemon=True)
        self.topic, self.partitions = topic, list(partitions)
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "linger.ms": 5, "message.timeout.ms": 30000})
        self.told, self.errors = {}, []
        self._stop_event = threading.Event()

    def _delivered(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.told[msg.value()] = (msg.partition(), msg.offset())

    def run(self):
        i = 0
        while not self._stop_event.is_set():
            self.producer.produce(self.topic, value=b"steady-%d" % i,
                                  partition=self.partitions[i % len(self.partitions)],
                                  on_delivery=self._delivered)
            i += 1
            self.producer.poll(0.01)
        self.producer.flush(40)

    def stop(self):
        self._stop_event.set()
        self.join(60)


class PartitionTest(unittest.TestCase):
    def test_controller_cut_off_and_healed(self):
        with netns_cluster.NetnsCluster(3, sets=[
                f"broker.session.timeout.ms={SESSION_MS}",
                "broker.heartbeat.interval.ms=1000"]) as cluster:
            self.cluster = cluster
            self.addr = {n: cluster.addr(n) for n in NODES}
            self.tag = uuid.uuid4().hex[:6]
            self.acked, self.unacked, self.partitions = set(), set(), {}
            controller = wait_for("the three to agree on a controller",
                                  lambda: self.agreed_controller(NODES), 30)
            # Every node's etcd client starts at node 1's member (the same
            # endpoint list everywhere, as run-cluster.sh gives): cutting
            # node 1 also cuts the member the others talk to.
            victims = [controller] + ([1] if controller != 1 else [])
            print(f"controller {controller}; nodes cut in turn: {victims}; "
                  f"subnet {cluster.subnet}", flush=True)

            stay = f"stay-{self.tag}"
            self.create(self.addr[next(n for n in NODES if n not in victims)], stay, PARTITIONS)
            leaders = wait_for(f"{stay}'s leaders on every broker", lambda: (
                (v := self.views()) and all(stay in v[n]["topics"] for n in NODES) and
                all(v[n]["topics"][stay]["partitions"] == v[1]["topics"][stay]["partitions"]
                    for n in NODES) and v[1]["topics"][stay]["partitions"]), 30)
            self.stay, self.leaders = stay, leaders
            kept = sorted(p for p, leader in leaders.items() if leader not in victims)
            print(f"{stay} leaders {leaders}; checked partitions {kept}", flush=True)
            self.assertTrue(kept, "no partition of the topic is led by a node never cut")
            never_cut = ",".join(self.addr[n] for n in NODES if n not in victims)

            told = {}
            t, errors = produce(cluster.bootstrap, stay, kept, 200, prefix="before")
            self.assertEqual(errors, [])
            told.update(t)
            steady = SteadyProducer(never_cut, stay, kept)
            steady.start()
            time.sleep(1)

            times = {}
            for victim in victims:
                times[f"node {victim}"] = self.cut_and_heal(victim, told)

            steady.stop()
            print(f"steady producer: {len(steady.told)} acknowledged, "
                  f"{len(steady.errors)} delivery errors", flush=True)
            self.assertEqual(steady.errors, [])
            told.update(steady.told)
            read, dups = read_all(cluster.bootstrap, stay, PARTITIONS, len(told) + self.extra)
            verdict = judge_records(told, read, dups)
            print("records: " + json.dumps({"acknowledged": len(told), **verdict}), flush=True)
            self.assertEqual(verdict, {"lost": 0, "duplicated": 0, "divergent": 0})
        print("partition-times " + json.dumps(times), flush=True)

    extra = 0  # records produced through the healed node, read back too

    def agreed_controller(self, nodes):
        ids = {broker_metadata(self.addr[n])["controller"] for n in nodes}
        return ids.pop() if len(ids) == 1 and -1 not in ids else None

    def views(self):
        return {n: broker_metadata(a) for n, a in self.addr.items()}

    def create(self, addr, name, partitions):
        code, msg = create_topic_wire(addr, name, partitions)
        self.assertEqual(code, 0, f"CreateTopics {name} via {addr}: {msg}")
        self.acked.add(name)
        self.partitions[name] = partitions

    def cut_and_heal(self, old, told):
        """Cuts node `old` off, checks the majority side and the cut-off
        node, heals, checks convergence; returns the measured times."""
        cluster, addr, stay, times = self.cluster, self.addr, self.stay, {}
        majority = [n for n in NODES if n != old]
        maj_bootstrap = ",".join(addr[n] for n in majority)
        was_controller = self.agreed_controller(NODES)
        old_led = sorted(p for p, leader in self.leaders.items() if leader == old)
        print(f"-- cutting node {old} off (controller {was_controller})", flush=True)

        cut_at, cut_wall = time.monotonic(), time.time()
        cluster.isolate(old)

        if was_controller == old:
            new = wait_for("the majority to agree on a controller other than the cut one",
                           lambda: (c := self.agreed_controller(majority)) not in (None, old)
                           and c, TAKEOVER_BOUND)
            times["takeover_s"] = round(time.monotonic() - cut_at, 2)
            print(f"controller {new} after {times['takeover_s']} s", flush=True)
        else:
            new = was_controller

        def fenced():
            for n in majority:
                md = broker_metadata(addr[n])
                if any(leader == old for p in md["topics"].values()
                       for leader in p["partitions"].values()):
                    return False
            return True

        wait_for(f"the majority to stop naming broker {old} as a leader", fenced, TAKEOVER_BOUND)
        times["fenced_s"] = round(time.monotonic() - cut_at, 2)
        print(f"broker {old} fenced after {times['fenced_s']} s", flush=True)

        # CreateTopics sent to the cut-off node, from inside its namespace.
        isolated_name = f"cut{old}-{self.tag}"
        asked_at = time.monotonic()
        try:
            code, msg = netns_cluster.in_netns(
                cluster.ns(old),
                lambda: create_topic_wire(addr[old], isolated_name, 1, timeout_ms=8000))
        except (OSError, socket.timeout) as e:
            code, msg = None, f"no answer: {e}"
        times["isolated_create_answer_s"] = round(time.monotonic() - asked_at, 2)
        print(f"CreateTopics to the cut-off node: {code} {msg!r} after "
              f"{times['isolated_create_answer_s']} s", flush=True)
        self.partitions[isolated_name] = 1
        if code == 0:
            self.acked.add(isolated_name)
        else:
            self.unacked.add(isolated_name)
            self.assertTrue(code is None or code in RETRIABLE,
                            f"the cut-off node answered {code} ({msg}), not a retriable error")

        if was_controller == old:
            # The cut-off controller stops acting while cut off (its lease
            # can no longer be confirmed), not only once the heal shows it
            # the new controller. Its image (what its Metadata names) stays
            # the last one it saw until then: only the log tells.
            stepped_down = re.compile(
                rf"^(\S+) INFO controller: node {old} stops being controller \(epoch \d+\): "
                rf"(.*)", re.M)
            why = wait_for(f"broker {old}, cut off, to stop acting as controller",
                           lambda: stepped_down.search(cluster.kgw_log(old)), TAKEOVER_BOUND)
            # When it did, from its log line (this check ran after the others).
            logged = datetime.datetime.strptime(why.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
            logged = logged.replace(tzinfo=datetime.timezone.utc).timestamp()
            times["stepped_down_s"] = round(logged - cut_wall, 2)
            print(f"broker {old} stopped acting as controller after "
                  f"{times['stepped_down_s']} s: {why.group(2)}", flush=True)

        # CreateTopics through each broker of the majority.
        for n in majority:
            asked_at = time.monotonic()
            self.create(addr[n], f"during{old}-via{n}-{self.tag}", 2)
            times[f"create_via_{n}_s"] = round(time.monotonic() - asked_at, 2)

        t, errors = produce(maj_bootstrap, stay,
                            sorted(p for p, leader in self.leaders.items() if leader in majority),
                            100, prefix=f"during{old}")
        self.assertEqual(errors, [])
        told.update(t)

        # -- heal ---------------------------------------------------------
        healed_at = time.monotonic()
        cluster.heal(old)

        def converged():
            v = self.views()
            shapes = [{name: (t["id"], t["partitions"]) for name, t in v[n]["topics"].items()}
                      for n in NODES]
            ok = (all(s == shapes[0] for s in shapes) and
                  all(v[n]["controller"] == new for n in NODES) and
                  all(set(v[n]["brokers"]) == set(NODES) for n in NODES) and
                  all(shapes[0][stay][1][p] == old for p in old_led))
            return v if ok else None

        final = wait_for("the three brokers to converge after the heal", converged, HEAL_BOUND)
        times["converged_s"] = round(time.monotonic() - healed_at, 2)
        print(f"converged {times['converged_s']} s after the heal", flush=True)
        self.assertEqual(final[old]["controller"], new)

        problems, counts = judge_topics(final, self.acked, self.unacked,
                                        lambda name: self.partitions[name])
        print("topics: " + json.dumps(counts), flush=True)
        self.assertEqual(problems, [])

        # Produce and consume through the healed node.
        if old_led:
            t, errors = produce(addr[old], stay, old_led, 50, prefix=f"through{old}")
            self.assertEqual(errors, [])
            # Those partitions also hold what an earlier round produced there.
            earlier = sum(1 for p, _ in told.values() if p in old_led)
            read, dups = read_all(addr[old], stay, old_led, earlier + len(t))
            self.assertEqual(judge_records(t, read, dups), {"lost": 0, "duplicated": 0,
                                                            "divergent": 0})
            self.extra += len(t)
        return times


if __name__ == "__main__":
    unittest.main(verbosity=2)
