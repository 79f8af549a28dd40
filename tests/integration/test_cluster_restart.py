"""Restarts of a whole three-node kgw cluster (co-located etcd members,
run-cluster.sh), a broker that was down across an etcd compaction, and a
running broker whose watch was compacted.

The image as clients see it is recorded before and compared after:
Metadata v12 from every broker (cluster id, brokers with host/port/rack,
topics with ids, partitions with leader, replicas, ISR, offline replicas),
DescribeConfigs of the topics from every broker, a consumer group's
committed offsets, and every acknowledged record read back at the
partition and offset it was acknowledged at.

Allowed to differ across a restart, and why:
- the controller id: a new election after every member restarted; any
  broker may win it. (Every broker must still name the same one.)
- leader epochs: a broker that leaves (controlled shutdown or lease
  lapse) and comes back takes its partitions again with leader_epoch+1, as
  KRaft; they may only grow.
Everything else must be equal. The topics are RF=1 (this issue does not
replicate data), so a partition's leader after the restart is its only
replica, as before.

The setup creates __consumer_offsets itself: no broker creates it in a
cluster yet, and without it every broker coordinates every group, so the
committed offsets read would depend on the broker asked (a known bug,
test_cluster_external_etcd.py's expected failure).
"""

import json
import os
import shutil
import signal
import subprocess
import time
import unittest
import uuid

import cluster_image
import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,  # noqa: E402
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

SESSION_MS = 4000
TOPICS = {  # name: (partitions, configs)
    "rs-a": (3, {"retention.ms": "3600000", "cleanup.policy": "delete"}),
    "rs-b": (2, {"max.message.bytes": "200000", "segment.bytes": "1048576"}),
}
GROUP = "g-restart"
OFFSETS_TOPIC = "__consumer_offsets"
PER_TOPIC = 150


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topics(bootstrap, specs, timeout=30):
    client = admin(bootstrap)
    futures = client.create_topics(
        [NewTopic(n, num_partitions=p, replication_factor=1, config=c) for n, (p, c) in specs.items()],
        operation_timeout=timeout, request_timeout=timeout)
    for f in futures.values():
        f.result(timeout=timeout + 5)


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (KafkaException, OSError, ValueError) as e:
            last = e
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


RETRIABLE = (KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.NOT_CONTROLLER)


def retried(fn, done_code, timeout=90):
    """Runs an admin call until it succeeds or fails with `done_code` (its
    own earlier attempt took effect), retrying retriable errors."""
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except KafkaException as e:
            code = e.args[0].code()
            if code == done_code:
                return None
            if code not in RETRIABLE or time.time() > deadline:
                raise
            print(f"retrying after {e.args[0]}", flush=True)
            time.sleep(1)


def images(cluster, nodes=(1, 2, 3)):
    return {n: cluster_image.metadata(f"127.0.0.1:{cluster.port(n)}") for n in nodes}


def settled_image(cluster, topics, nodes=(1, 2, 3), timeout=60):
    """The image once every broker of `nodes` answers the same one, listing
    all three brokers, each topic of `topics` with a leader for every
    partition."""

    def same():
        got = images(cluster, nodes)
        first = got[nodes[0]]
        if any(g != first for g in got.values()):
            return None
        if sorted(first["brokers"]) != [1, 2, 3]:
            return None
        for t in topics:
            parts = first["topics"].get(t, {}).get("partitions", {})
            if not parts or any(p["leader"] < 0 or p["error"] for p in parts.values()):
                return None
        return first

    return wait_for("every broker answering the same image", same, timeout)


def without_epochs(image):
    """The image less what may differ across a restart (module docstring)."""
    out = cluster_image.comparable(image)
    out["topics"] = {
        name: {**t, "partitions": {i: {k: v for k, v in p.items() if k != "leader_epoch"}
                                   for i, p in t["partitions"].items()}}
        for name, t in image["topics"].items()
    }
    return out


def produce(bootstrap, topic, partitions, count, tag):
    told, errors = {}, []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            told[msg.value()] = (msg.topic(), msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        p.produce(topic, value=f"{tag}-{topic}-{i}".encode(), partition=i % partitions,
                  on_delivery=delivered)
        p.poll(0)
    left = p.flush(30)
    assert left == 0 and not errors, f"{left} unflushed, errors {errors[:3]}"
    return told


def read_all(bootstrap, topics, want, timeout=60):
    """{value: (topic, partition, offset)} of everything in `topics`
    ({name: partitions}), read from the beginning until `want` records."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False, "enable.partition.eof": False})
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, n in topics.items() for p in range(n)])
    got, duplicates = {}, 0
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        msg = c.poll(1.0)
        if msg is None or msg.error():
            continue
        if msg.value() in got:
            duplicates += 1
        got[msg.value()] = (msg.topic(), msg.partition(), msg.offset())
    c.close()
    assert duplicates == 0, f"{duplicates} records read twice"
    return got


def committed(bootstrap, tps):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    try:
        return {(tp.topic, tp.partition): tp.offset for tp in c.committed(tps, timeout=20)}
    finally:
        c.close()


class ClusterRestartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3, sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000"])
        cls.cluster.start()
        cls.told = {}
        b = cls.cluster.bootstrap
        # No broker creates __consumer_offsets in a cluster yet, so without
        # it every broker coordinates every group on its own and the
        # committed offsets a client reads depend on the broker it asks
        # (test_coordinator_without_offsets_topic). Created here, group
        # coordination follows its partitions' leaders, as in Kafka.
        create_topics(b, {**TOPICS, OFFSETS_TOPIC: (3, {})})
        settled_image(cls.cluster, [*TOPICS, OFFSETS_TOPIC])
        for t, (n, _) in TOPICS.items():
            cls.told.update(produce(b, t, n, PER_TOPIC, "first"))
        cls.tps = [TopicPartition(t, p) for t, (n, _) in TOPICS.items() for p in range(n)]
        c = Consumer({"bootstrap.servers": b, "group.id": GROUP, "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(tp.topic, tp.partition, 7 + tp.partition) for tp in cls.tps],
                 asynchronous=False)
        c.close()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def record(self):
        """What clients see now: (image, configs from every broker, committed offsets)."""
        image = settled_image(self.cluster, [*TOPICS, OFFSETS_TOPIC])
        configs = {n: cluster_image.topic_configs(f"127.0.0.1:{self.cluster.port(n)}", TOPICS)
                   for n in (1, 2, 3)}
        self.assertEqual(configs[1], configs[2], "brokers 1 and 2 describe different configs")
        self.assertEqual(configs[1], configs[3], "brokers 1 and 3 describe different configs")
        for t, (_, c) in TOPICS.items():
            for k, v in c.items():
                self.assertEqual(configs[1][t].get(k), v, f"config {k} of {t}")
        offsets = committed(self.cluster.bootstrap, self.tps)
        return image, configs[1], offsets

    def check_same_after(self, before):
        image0, configs0, offsets0 = before
        image1, configs1, offsets1 = self.record()
        self.assertEqual(without_epochs(image1), without_epochs(image0),
                         "the image after the restart differs (beyond controller and leader epochs)")
        for name, t in image0["topics"].items():
            for i, p in t["partitions"].items():
                self.assertGreaterEqual(image1["topics"][name]["partitions"][i]["leader_epoch"],
                                        p["leader_epoch"], f"{name}-{i}'s leader epoch went back")
        self.assertEqual(configs1, configs0, "topic configs after the restart")
        self.assertEqual(offsets1, offsets0, "committed offsets after the restart")
        self.assertEqual(offsets1[("rs-a", 2)], 9)
        want = {t: n for t, (n, _) in TOPICS.items()}
        got = read_all(self.cluster.bootstrap, want, len(self.told))
        lost = [v for v in self.told if v not in got]
        self.assertEqual(lost, [], f"{len(lost)} acknowledged records not read after the restart")
        self.assertEqual(got, self.told, "records at other offsets than acknowledged")

    def produce_more(self, tag):
        for t, (n, _) in TOPICS.items():
            self.told.update(produce(self.cluster.bootstrap, t, n, 20, tag))

    def test_1_sigterm_all_and_start(self):
        before = self.record()
        self.cluster.stop()  # run-cluster.sh --stop: SIGTERM to every node
        for n in (1, 2, 3):
            self.assertFalse(self.cluster.kgw_alive(n) or self.cluster.etcd_alive(n),
                             f"node {n} still runs after --stop")
        self.cluster.start()
        self.check_same_after(before)
        self.produce_more("after-sigterm")

    def test_2_kill9_all_and_start(self):
        before = self.record()
        pids = []
        for n in (1, 2, 3):
            for pid in (self.cluster.kgw_pid(n), self.cluster.etcd_pid(n)):
                if pid and kgw_cluster._alive(pid):
                    os.kill(pid, signal.SIGKILL)
                    pids.append(pid)
        for pid in pids:
            self.cluster._wait_gone(pid, f"pid {pid}")
        self.cluster.start()
        for n in (1, 2, 3):
            self.assertNotIn(self.cluster.kgw_pid(n), pids, f"node {n}'s kgw was not restarted")
        self.check_same_after(before)
        self.produce_more("after-kill9")

    def test_3_broker_down_across_compaction(self):
        started = time.monotonic()
        b = self.cluster.bootstrap
        create_topics(b, {"cp-alter": (2, {"retention.ms": "7200000"}),
                          "cp-gone": (2, {})})
        settled_image(self.cluster, ["cp-alter", "cp-gone"])
        # Not the controller: this test is about the image, not failover
        # (test_cluster.py kills the controller).
        controller = cluster_image.metadata(f"127.0.0.1:{self.cluster.port(1)}")["controller_id"]
        victim = next(n for n in (3, 2, 1) if n != controller)
        others = [n for n in (1, 2, 3) if n != victim]
        self.cluster.kill_node(victim)
        etcd = self.cluster.etcd_pid(victim)
        if etcd and kgw_cluster._alive(etcd):
            os.kill(etcd, signal.SIGKILL)
        alive = ",".join(f"127.0.0.1:{self.cluster.client_port(n)}" for n in others)
        survivors = ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in others)
        # etcd lost a member (maybe its leader): wait for the survivors'
        # quorum, then make the changes.
        t0 = time.monotonic()
        wait_for("the surviving etcd members healthy",
                 lambda: "unhealthy" not in self.cluster.etcdctl("endpoint", "health", endpoints=alive),
                 60)
        print(f"etcd healthy {time.monotonic() - t0:.1f} s after node {victim} was killed", flush=True)
        # Changes while it is down: a topic deleted, one created, a config
        # altered. A change may still time out at kgw (REQUEST_TIMED_OUT,
        # retriable) and may have been applied by etcd all the same: the
        # retry then meets its own first attempt (UNKNOWN_TOPIC_OR_PART for
        # the delete, TOPIC_ALREADY_EXISTS for the create), as a retried
        # request does on Kafka; the image is checked below either way.
        client = admin(survivors)
        res = ConfigResource("topic", "cp-alter", set_config={"retention.ms": "1800000"})
        retried(lambda: client.delete_topics(["cp-gone"], operation_timeout=30)["cp-gone"].result(40),
                KafkaError.UNKNOWN_TOPIC_OR_PART)
        retried(lambda: create_topics(survivors, {"cp-new": (3, {"retention.ms": "60000"})}),
                KafkaError.TOPIC_ALREADY_EXISTS)
        retried(lambda: client.alter_configs([res])[res].result(timeout=40), None)
        wait_for("the changes on the survivors",
                 lambda: all("cp-new" in i["topics"] and "cp-gone" not in i["topics"]
                             for i in images(self.cluster, others).values()), 60)
        # Compact away every revision the victim has not seen.
        header = json.loads(self.cluster.etcdctl("get", "/kgw/cluster", "-w", "json",
                                                 endpoints=alive))["header"]
        revision = int(header["revision"])
        self.cluster.etcdctl("compact", str(revision), "--physical", endpoints=alive)
        log_before = len(self.cluster.kgw_log(victim))
        self.cluster.start_node(victim)
        image = settled_image(self.cluster, ["cp-alter", "cp-new", OFFSETS_TOPIC, *TOPICS])
        self.assertNotIn("cp-gone", image["topics"])
        self.assertIn("cp-new", image["topics"])
        mine = cluster_image.metadata(f"127.0.0.1:{self.cluster.port(victim)}")
        theirs = cluster_image.metadata(f"127.0.0.1:{self.cluster.port(others[0])}")
        self.assertEqual(mine, theirs, f"node {victim}'s Metadata against node {others[0]}'s")
        configs = {n: cluster_image.topic_configs(f"127.0.0.1:{self.cluster.port(n)}",
                                                  ["cp-alter", "cp-new"]) for n in (others[0], victim)}
        self.assertEqual(configs[victim], configs[others[0]])
        self.assertEqual(configs[victim]["cp-alter"].get("retention.ms"), "1800000")
        self.assertEqual(configs[victim]["cp-new"].get("retention.ms"), "60000")
        # It read the metadata at or after the compaction (a range read, no
        # replay of revisions that are gone).
        log = self.cluster.kgw_log(victim)[log_before:]
        read_at = [int(line.split(" read at revision ")[1].split(":")[0])
                   for line in log.splitlines() if " read at revision " in line]
        self.assertTrue(read_at and read_at[0] >= revision,
                        f"node {victim} read the metadata at {read_at}, compacted at {revision}")
        print(f"node {victim} down across the compaction at revision {revision}, read at "
              f"{read_at[0]}; {time.monotonic() - started:.1f} s", flush=True)


    def test_4_running_broker_whose_watch_was_compacted(self):
        """A broker that keeps running but misses revisions that etcd then
        compacts (its kgw stopped with SIGSTOP, its connections to etcd
        destroyed with `ss -K` so the watch stream breaks; killing its own
        member is not enough, its watch may use another member) resumes its
        watch, is told the revisions are compacted, and rebuilds its image
        from a range read (resync)."""
        if shutil.which("ss") is None:
            self.skipTest("ss (iproute2) is not installed")
        controller = cluster_image.metadata(f"127.0.0.1:{self.cluster.port(1)}")["controller_id"]
        victim = next(n for n in (2, 3, 1) if n != controller)
        others = [n for n in (1, 2, 3) if n != victim]
        alive = ",".join(f"127.0.0.1:{self.cluster.client_port(n)}" for n in others)
        survivors = ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in others)
        log_before = len(self.cluster.kgw_log(victim))
        kgw = self.cluster.kgw_pid(victim)
        os.kill(kgw, signal.SIGSTOP)
        try:
            etcd_ports = {self.cluster.client_port(n) for n in (1, 2, 3)}
            cut = 0
            for line in subprocess.run(["ss", "-tnpH", "state", "established"], stdout=subprocess.PIPE,
                                       check=True).stdout.decode().splitlines():
                fields = line.split()
                if f"pid={kgw}," not in line or len(fields) < 4:
                    continue
                local, peer = fields[2], fields[3]
                if int(peer.rsplit(":", 1)[1]) in etcd_ports:
                    subprocess.run(["ss", "-K", "src", local, "dst", peer], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                    cut += 1
            self.assertGreater(cut, 0, f"node {victim}'s kgw has no connection to etcd to cut")
            retried(lambda: create_topics(survivors, {"wc-new": (2, {"retention.ms": "90000"})}),
                    KafkaError.TOPIC_ALREADY_EXISTS)
            wait_for("the topic on the survivors",
                     lambda: all("wc-new" in i["topics"] for i in images(self.cluster, others).values()),
                     60)
            header = json.loads(self.cluster.etcdctl("get", "/kgw/cluster", "-w", "json",
                                                     endpoints=alive))["header"]
            revision = int(header["revision"])
            self.cluster.etcdctl("compact", str(revision), "--physical", endpoints=alive)
        finally:
            os.kill(kgw, signal.SIGCONT)
        image = settled_image(self.cluster, ["wc-new", OFFSETS_TOPIC, *TOPICS], timeout=90)
        self.assertIn("wc-new", image["topics"])
        self.assertEqual(cluster_image.metadata(f"127.0.0.1:{self.cluster.port(victim)}"),
                         cluster_image.metadata(f"127.0.0.1:{self.cluster.port(others[0])}"))
        self.assertEqual(self.cluster.kgw_pid(victim), kgw, "the broker was restarted")
        log = self.cluster.kgw_log(victim)[log_before:]
        self.assertIn("etcd compacted past revision", log,
                      f"node {victim} did not rebuild after a compaction; its log:\n{log[-3000:]}")

if __name__ == "__main__":
    kgw_harness.main()
