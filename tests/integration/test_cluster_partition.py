"""A network partition (issue 15, "Cluster I"): three nodes in network
namespaces of their own (netns_cluster.py), the controller's node cut off
from the other two by taking its link down, then healed; judged on what
clients were told against what they read afterwards.

- Before: the three agree on the controller C; a topic "stay" whose
  partitions are spread over the three gets records (acks=all).
- Cut C off. The majority (the two others) elects another controller
  within the lease TTL plus what etcd needs to notice; both name it. A
  CreateTopics sent to C from inside C's namespace fails with a retriable
  error or times out; its topic exists afterwards only if C said success.
  CreateTopics through the majority succeeds. The majority fences C: its
  Metadata stops naming C as a leader. Records keep going to the
  partitions led by the majority.
- Heal. C stops naming itself controller, its image converges (the three
  brokers list the same topics with the same ids and leaders, C among the
  brokers again and leading its partitions again), and records produced
  through C and consumed through C come back.
- Every record acknowledged on the majority's partitions, before, during
  and after, is read back once at the offset it was acknowledged at
  (lost = duplicated = divergent = 0); every acknowledged topic is on
  every broker, none twice (cluster_checks.judge_topics).

Printed (measured, not asserted): the controller takeover, fencing and
convergence-after-heal times, as one JSON line "partition-times".
"""

import json
import re
import socket
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

SESSION_MS = 4000  # broker.session.timeout.ms: the brokers' (and controller's) lease TTL
NODES = (1, 2, 3)
PARTITIONS = 6
# CreateTopics answers a client may retry: REQUEST_TIMED_OUT, NOT_CONTROLLER.
RETRIABLE = (7, 41)
# Generous bounds that only keep a broken kgw from hanging the test.
TAKEOVER_BOUND = SESSION_MS / 1000 + 30
HEAL_BOUND = 60


def views(addrs):
    return {n: broker_metadata(a) for n, a in addrs.items()}


class PartitionTest(unittest.TestCase):
    def test_controller_cut_off_and_healed(self):
        times = {}
        with netns_cluster.NetnsCluster(3, sets=[
                f"broker.session.timeout.ms={SESSION_MS}",
                "broker.heartbeat.interval.ms=1000"]) as cluster:
            addr = {n: cluster.addr(n) for n in NODES}

            def agreed_controller(nodes):
                ids = {broker_metadata(addr[n])["controller"] for n in nodes}
                return ids.pop() if len(ids) == 1 and -1 not in ids else None

            old = wait_for("the three to agree on a controller",
                           lambda: agreed_controller(NODES), 30)
            majority = [n for n in NODES if n != old]
            maj_bootstrap = ",".join(addr[n] for n in majority)
            print(f"controller {old}; majority {majority}; subnet {cluster.subnet}", flush=True)

            tag = uuid.uuid4().hex[:6]
            stay = f"stay-{tag}"
            code, msg = create_topic_wire(addr[majority[0]], stay, PARTITIONS)
            self.assertEqual(code, 0, msg)
            leaders = wait_for(f"{stay}'s leaders on every broker", lambda: (
                (v := views(addr)) and all(stay in v[n]["topics"] for n in NODES) and
                all(v[n]["topics"][stay]["partitions"] == v[1]["topics"][stay]["partitions"]
                    for n in NODES) and v[1]["topics"][stay]["partitions"]), 30)
            kept = sorted(p for p, leader in leaders.items() if leader in majority)
            old_led = sorted(p for p, leader in leaders.items() if leader == old)
            print(f"{stay} leaders {leaders}; checked partitions {kept}", flush=True)
            self.assertTrue(kept, "no partition of the topic is led by the majority")

            told = {}
            t, errors = produce(cluster.bootstrap, stay, kept, 200, prefix="before")
            self.assertEqual(errors, [])
            told.update(t)

            acked, unacked = {stay}, set()

            # -- the partition -------------------------------------------------
            cut_at = time.monotonic()
            cluster.isolate(old)

            new = wait_for("the majority to agree on a controller other than the cut one",
                           lambda: (c := agreed_controller(majority)) not in (None, old) and c,
                           TAKEOVER_BOUND)
            times["takeover_s"] = round(time.monotonic() - cut_at, 2)
            print(f"controller {new} after {times['takeover_s']} s", flush=True)

            def fenced():
                for n in majority:
                    md = broker_metadata(addr[n])
                    if any(leader == old for p in md["topics"].values()
                           for leader in p["partitions"].values()):
                        return False
                return True

            wait_for(f"the majority to stop naming broker {old} as a leader", fenced,
                     TAKEOVER_BOUND)
            times["fenced_s"] = round(time.monotonic() - cut_at, 2)
            print(f"broker {old} fenced after {times['fenced_s']} s", flush=True)

            # CreateTopics sent to the cut-off node, from inside its namespace.
            isolated_name = f"cut-{tag}"
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
            if code == 0:
                acked.add(isolated_name)
            else:
                unacked.add(isolated_name)
                self.assertTrue(code is None or code in RETRIABLE,
                                f"the cut-off node answered {code} ({msg}), not a retriable error")

            # The cut-off controller stops acting while cut off (its lease
            # can no longer be confirmed), not only once the heal shows it
            # the new controller. Its image (what its Metadata names) stays
            # the last one it saw until then: only the log tells.
            stepped_down = re.compile(rf"node {old} stops being controller \(epoch \d+\): (.*)")
            why = wait_for(f"broker {old}, cut off, to stop acting as controller",
                           lambda: stepped_down.search(cluster.kgw_log(old)), TAKEOVER_BOUND)
            times["stepped_down_s"] = round(time.monotonic() - cut_at, 2)
            print(f"broker {old} stopped acting as controller after "
                  f"{times['stepped_down_s']} s: {why.group(1)}", flush=True)

            # CreateTopics through the majority.
            during = f"during-{tag}"
            code, msg = create_topic_wire(addr[majority[0]], during, 2)
            self.assertEqual(code, 0, f"CreateTopics through the majority: {msg}")
            acked.add(during)

            t, errors = produce(maj_bootstrap, stay, kept, 200, prefix="during")
            self.assertEqual(errors, [])
            told.update(t)

            # -- heal ---------------------------------------------------------
            healed_at = time.monotonic()
            cluster.heal(old)

            def converged():
                v = views(addr)
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

            problems, counts = judge_topics(final, acked, unacked, lambda name: (
                PARTITIONS if name == stay else 2 if name == during else 1))
            print("topics: " + json.dumps(counts), flush=True)
            self.assertEqual(problems, [])

            # Produce and consume through the healed node.
            if old_led:
                t, errors = produce(addr[old], stay, old_led, 50, prefix="through-old")
                self.assertEqual(errors, [])
                read, dups = read_all(addr[old], stay, PARTITIONS, len(told) + len(t))
                self.assertEqual(judge_records(t, read, dups),
                                 {"lost": 0, "duplicated": 0, "divergent": 0})

            t, errors = produce(cluster.bootstrap, stay, kept, 200, prefix="after")
            self.assertEqual(errors, [])
            told.update(t)

            read, dups = read_all(cluster.bootstrap, stay, PARTITIONS,
                                  len(told) + (50 if old_led else 0))
            verdict = judge_records(told, read, dups)
            print("records: " + json.dumps({"acknowledged": len(told), **verdict}), flush=True)
            self.assertEqual(verdict, {"lost": 0, "duplicated": 0, "divergent": 0})
        print("partition-times " + json.dumps(times), flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
