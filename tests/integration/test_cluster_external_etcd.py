"""kgw nodes on an etcd cluster the operator runs (metadata.etcd.endpoints,
no co-located member), and a single node turned into the first node of a
cluster.

The test starts a three-member etcd cluster itself (three /usr/bin/etcd
processes on free loopback ports, one data dir each) and kgw processes
directly (kgw_harness.Kgw with --set options), not through run-cluster.sh,
whose nodes always run a co-located member. Two kgw clusters share that
etcd under different metadata.etcd.prefix values, as the setting promises.

- external mode: three kgw nodes with metadata.etcd.endpoints; every
  broker lists all three; a topic spread over them; librdkafka produces
  (acks=all) and reads every record back at its acknowledged offset.
- single node to cluster: a kgw without cluster settings creates topics
  (with configs) and takes records; stopped, it starts again on the same
  data dir as node 1 of a cluster (cluster settings added), then nodes 2
  and 3 join: the topics are there with the same ids, partitions and
  configs, every record reads back, the cluster id in Metadata is the one
  the single node had, and the data dir's cluster.id is the cluster's.
  The single node's coordinator state comes along: a group's committed
  offsets read back from the cluster, and a transactional id keeps its
  producer id (its epoch bumped by the next InitProducerId). The
  coordinators' topics, made while node 1 was alone, grow to three
  replicas as the others join, their leaders spread over the three, and
  both survive node 1's kill -9.
"""

import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid

import cluster_image
import kafka_wire
import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

SETS = ["--set", "broker.session.timeout.ms=4000", "--set", "broker.heartbeat.interval.ms=1000",
        "--set", "leader.imbalance.check.interval.seconds=1"]


class EtcdCluster:
    """Three etcd members on loopback, started and stopped by the test."""

    def __init__(self, members=3):
        self.n = members
        self.root = tempfile.mkdtemp(prefix="kgw-etcd-")
        self.base = kgw_cluster.free_port_range(2 * members)
        self.procs = []

    def client_port(self, i):
        return self.base + 2 * i

    def peer_port(self, i):
        return self.base + 2 * i + 1

    @property
    def endpoints(self):
        return ",".join(f"127.0.0.1:{self.client_port(i)}" for i in range(self.n))

    def start(self):
        initial = ",".join(f"e{i}=http://127.0.0.1:{self.peer_port(i)}" for i in range(self.n))
        for i in range(self.n):
            client = f"http://127.0.0.1:{self.client_port(i)}"
            peer = f"http://127.0.0.1:{self.peer_port(i)}"
            log = open(os.path.join(self.root, f"e{i}.log"), "wb")
            self.procs.append(subprocess.Popen(
                [kgw_cluster.ETCD, "--name", f"e{i}", "--data-dir", os.path.join(self.root, f"e{i}"),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", initial, "--initial-cluster-token", "kgw-ext-test",
                 "--initial-cluster-state", "new"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=kgw_harness._die_with_parent))
            log.close()
        for i in range(self.n):
            kgw_harness.wait_until(lambda i=i: self.healthy(i), 60, 0.2, f"etcd member e{i} healthy")

    def healthy(self, i):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.client_port(i)}/health",
                                        timeout=2) as r:
                return b'"health":"true"' in r.read()
        except OSError:
            return False

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - any client error: retry until the deadline
            last = e
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def create_topics(bootstrap, specs, timeout=30):
    client = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})
    futures = client.create_topics(
        [NewTopic(n, num_partitions=p, replication_factor=1, config=c) for n, (p, c) in specs.items()],
        operation_timeout=timeout, request_timeout=timeout)
    for f in futures.values():
        f.result(timeout=timeout + 5)


def produce(bootstrap, topic, partitions, count):
    told, errors = {}, []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            told[msg.value()] = (msg.topic(), msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        p.produce(topic, value=f"{topic}-{i}".encode(), partition=i % partitions,
                  on_delivery=delivered)
        p.poll(0)
    left = p.flush(30)
    assert left == 0 and not errors, f"{left} unflushed, errors {errors[:3]}"
    return told


def read_all(bootstrap, topics, want, timeout=60):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False})
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, n in topics.items() for p in range(n)])
    got = {}
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        msg = c.poll(1.0)
        if msg is None or msg.error():
            continue
        got[msg.value()] = (msg.topic(), msg.partition(), msg.offset())
    c.close()
    return got


def init_producer_id(bootstraps, transactional_id, timeout=60):
    """FindCoordinator then InitProducerId v0 at the coordinator, retried
    while the coordinator loads or moves -> (producer id, epoch)."""

    def once():
        for b in bootstraps:
            c = kafka_wire.Conn(b, timeout=10)
            try:
                d = c.call(10, 1, kafka_wire.Enc().string(transactional_id).i8(1))
            finally:
                c.close()
            d.i32()  # throttle
            error, _, _, host, port = d.i16(), d.string(), d.i32(), d.string(), d.i32()
            if error != 0:
                continue
            c = kafka_wire.Conn(f"{host}:{port}", timeout=10)
            try:
                d = c.call(22, 0, kafka_wire.Enc().string(transactional_id).i32(60000))
            finally:
                c.close()
            d.i32()  # throttle
            error, pid, epoch = d.i16(), d.i64(), d.i16()
            # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR,
            # CONCURRENT_TRANSACTIONS: ask again.
            if error in (14, 15, 16, 51):
                return None
            assert error == 0, f"InitProducerId for {transactional_id}: error {error}"
            return pid, epoch
        return None

    return wait_for(f"InitProducerId for {transactional_id}", once, timeout)


def node(node_id, endpoints, prefix):
    return kgw_harness.Kgw("--set", f"node.id={node_id}", "--set", f"metadata.etcd.endpoints={endpoints}",
                           "--set", f"metadata.etcd.prefix={prefix}", *SETS, name=f"kgw-{prefix}{node_id}")


class ExternalEtcdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(3)
        cls.etcd.start()

    @classmethod
    def tearDownClass(cls):
        cls.etcd.close()

    def test_1_three_nodes_on_external_etcd(self):
        nodes = [node(i, self.etcd.endpoints, "/ext/") for i in (1, 2, 3)]
        try:
            for k in nodes:
                k.start()
            bootstrap = ",".join(k.bootstrap for k in nodes)
            for k in nodes:
                wait_for(f"{k.name} listing 3 brokers",
                         lambda k=k: sorted(cluster_image.metadata(k.bootstrap)["brokers"]) == [1, 2, 3],
                         30)
                # No co-located member: no etcd data under kgw's data dir.
                self.assertFalse(os.path.exists(os.path.join(k.data_dir, "etcd")))
            create_topics(bootstrap, {"ext-t": (6, {})})
            image = wait_for(
                "the topic with leaders on every broker",
                lambda: (lambda i: i if all(
                    len(cluster_image.metadata(k.bootstrap)["topics"].get("ext-t", {}).get("partitions", {})) == 6
                    for k in nodes) and all(p["leader"] > 0 for p in i["topics"]["ext-t"]["partitions"].values())
                    else None)(cluster_image.metadata(nodes[0].bootstrap)), 30)
            leaders = {p["leader"] for p in image["topics"]["ext-t"]["partitions"].values()}
            self.assertEqual(leaders, {1, 2, 3}, "6 partitions over 3 brokers")
            for k in nodes[1:]:
                self.assertEqual(cluster_image.comparable(cluster_image.metadata(k.bootstrap)),
                                 cluster_image.comparable(image), f"{k.name}'s image")
            told = produce(bootstrap, "ext-t", 6, 300)
            got = read_all(bootstrap, {"ext-t": 6}, len(told))
            self.assertEqual(got, told)
            # The keys are under the prefix in the operator's etcd.
            keys = subprocess.run(
                [kgw_cluster.ETCDCTL, f"--endpoints={self.etcd.endpoints}", "get", "/ext/brokers/",
                 "--prefix", "--keys-only"], env={**os.environ, "ETCDCTL_API": "3"},
                stdout=subprocess.PIPE, check=True, timeout=30).stdout.decode().split()
            self.assertEqual(len(keys), 3, keys)
        finally:
            for k in nodes:
                if k.alive():
                    k.stop()
                k.close()

    def test_3_one_coordinator_without_offsets_topic(self):
        """Every broker names the same coordinator for a group: the first
        FindCoordinator creates __consumer_offsets, as Kafka does (before,
        every broker named itself, and a group's commits landed on
        whichever broker a client asked)."""
        nodes = [node(i, self.etcd.endpoints, "/coord/") for i in (1, 2, 3)]
        try:
            for k in nodes:
                k.start()
            for k in nodes:
                wait_for(f"{k.name} listing 3 brokers",
                         lambda k=k: sorted(cluster_image.metadata(k.bootstrap)["brokers"]) == [1, 2, 3],
                         30)
            def ask():
                named = {}
                for k in nodes:
                    c = kafka_wire.Conn(k.bootstrap, timeout=10)
                    d = c.call(api_key=10, version=1, body=kafka_wire.Enc().string("g-coord").i8(0))
                    c.close()
                    d.i32()  # throttle
                    error, _, coordinator = d.i16(), d.string(), d.i32()
                    named[k.name] = (error, coordinator)
                # COORDINATOR_NOT_AVAILABLE (15) while __consumer_offsets is made.
                return named if all(e == 0 for e, _ in named.values()) else None

            named = wait_for("every broker naming a coordinator", ask, 30)
            self.assertEqual(len(set(named.values())), 1, f"FindCoordinator answers: {named}")
        finally:
            for k in nodes:
                if k.alive():
                    k.stop()
                k.close()

    def test_4_single_node_joining_a_cluster_made_by_others_keeps_its_data(self):
        """A single node's data dir started as a cluster node after other
        nodes created the cluster (they won the race to create it, e.g. all
        three co-located nodes started at once) is refused, as Kafka
        refuses a broker whose meta.properties names another cluster id,
        and its topics are kept (before, the store mirror deleted every
        topic of the data dir the cluster lacked, records included)."""
        single = kgw_harness.Kgw(name="lone")
        others = []
        try:
            single.start()
            create_topics(single.bootstrap, {"lone-t": (1, {})})
            produce(single.bootstrap, "lone-t", 1, 10)
            single.stop()
            others = [node(i, self.etcd.endpoints, "/race/") for i in (2, 3)]
            for k in others:
                k.start()
            single.extra_args = ["--set", "node.id=1", "--set",
                                 f"metadata.etcd.endpoints={self.etcd.endpoints}",
                                 "--set", "metadata.etcd.prefix=/race/", *SETS]
            try:
                single.start()
            except kgw_harness.KgwError:
                return  # refused: what Kafka does
            image = wait_for("node 1 listing 3 brokers",
                             lambda: (lambda i: i if sorted(i["brokers"]) == [1, 2, 3] else None)(
                                 cluster_image.metadata(single.bootstrap)), 30)
            self.assertIn("lone-t", image["topics"], "the single node's topic is gone")
        finally:
            for k in [single] + others:
                if k.alive():
                    k.stop()
                k.close()

    def test_2_single_node_becomes_first_node_of_a_cluster(self):
        single = kgw_harness.Kgw(name="single")
        others = []
        try:
            single.start()
            specs = {"st-a": (3, {"retention.ms": "5400000"}), "st-b": (1, {"cleanup.policy": "compact"})}
            create_topics(single.bootstrap, specs)
            told = {}
            told.update(produce(single.bootstrap, "st-a", 3, 90))
            # Compacted topics need keys; keyless records are refused: use st-a only.
            committed = [TopicPartition("st-a", 0, 7), TopicPartition("st-a", 1, 11),
                         TopicPartition("st-a", 2, 13)]
            c = Consumer({"bootstrap.servers": single.bootstrap, "group.id": "st-group",
                          "enable.auto.commit": False})
            c.commit(offsets=committed, asynchronous=False)
            c.close()
            pid, epoch = init_producer_id([single.bootstrap], "st-txn")
            before = cluster_image.metadata(single.bootstrap)
            configs_before = cluster_image.topic_configs(single.bootstrap, specs)
            with open(os.path.join(single.data_dir, "cluster.id")) as f:
                single_id = f.read().strip()
            self.assertEqual(before["cluster_id"], single_id)
            single.stop()

            single.extra_args = ["--set", "node.id=1", "--set",
                                 f"metadata.etcd.endpoints={self.etcd.endpoints}",
                                 "--set", "metadata.etcd.prefix=/single/", *SETS]
            single.start()  # alone first: it creates the cluster from its data
            others = [node(i, self.etcd.endpoints, "/single/") for i in (2, 3)]
            for k in others:
                k.start()
            nodes = [single] + others
            bootstrap = ",".join(k.bootstrap for k in nodes)
            for k in nodes:
                wait_for(f"{k.name} listing 3 brokers",
                         lambda k=k: sorted(cluster_image.metadata(k.bootstrap)["brokers"]) == [1, 2, 3],
                         30)
            for k in nodes:
                after = cluster_image.metadata(k.bootstrap)
                self.assertEqual(after["cluster_id"], single_id, f"{k.name}'s cluster id")
                for t in specs:
                    self.assertIn(t, after["topics"], f"{k.name} lacks {t}")
                    self.assertEqual(after["topics"][t]["id"], before["topics"][t]["id"], f"{t}'s id")
                    self.assertEqual(
                        {i: (p["leader"], p["replicas"], p["isr"]) for i, p in after["topics"][t]["partitions"].items()},
                        {i: (p["leader"], p["replicas"], p["isr"]) for i, p in before["topics"][t]["partitions"].items()},
                        f"{t}'s partitions on {k.name}")
                self.assertEqual(cluster_image.topic_configs(k.bootstrap, specs), configs_before,
                                 f"configs on {k.name}")
            for k in nodes:
                with open(os.path.join(k.data_dir, "cluster.id")) as f:
                    self.assertEqual(f.read().strip(), single_id, f"{k.name}'s cluster.id")
            got = read_all(bootstrap, {"st-a": 3}, len(told))
            self.assertEqual(got, told, "records the single node took, read from the cluster")
            # The group's offsets and the transactional id, from the
            # cluster's coordinators (__consumer_offsets, __transaction_state).
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "st-group",
                          "enable.auto.commit": False})
            try:
                got_offsets = wait_for(
                    "st-group's offsets", lambda: [(tp.topic, tp.partition, tp.offset) for tp in
                                                   c.committed([TopicPartition("st-a", i) for i in range(3)],
                                                               timeout=10)], 60)
            finally:
                c.close()
            self.assertEqual(got_offsets, [(tp.topic, tp.partition, tp.offset) for tp in committed],
                             "offsets the single node's group committed")
            self.assertEqual(init_producer_id([k.bootstrap for k in nodes], "st-txn"), (pid, epoch + 1),
                             "the transactional id's producer id and next epoch")
            # Both topics were made while node 1 was alone (one replica);
            # they grow to three as nodes 2 and 3 join, so losing node 1
            # loses neither the offsets nor the transactional id.
            def grown():
                topics = cluster_image.metadata(others[0].bootstrap)["topics"]
                parts = [p for t in ("__consumer_offsets", "__transaction_state")
                         for p in topics[t]["partitions"].values()]
                return all(len(p["replicas"]) == 3 and len(p["isr"]) == 3 for p in parts)

            wait_for("__consumer_offsets and __transaction_state on 3 in-sync replicas", grown, 90)
            internal = ["__consumer_offsets", "__transaction_state"]
            # Marked while short of replicas; unmarked once grown.
            configs = wait_for("the kgw.replication.factor.target marks removed", lambda: (
                lambda c: c if all("kgw.replication.factor.target" not in c[t] for t in internal)
                else None)(cluster_image.topic_configs(others[0].bootstrap, internal)), 30)
            self.assertEqual(configs["__transaction_state"].get("min.insync.replicas"), "2",
                             "__transaction_state's min.insync.replicas once it has 3 replicas")
            # The preferred replicas were set in turn: the rebalance spreads
            # the coordinators node 1 had all of.
            wait_for("__consumer_offsets led by all three nodes", lambda: {
                p["leader"] for p in cluster_image.metadata(others[0].bootstrap)["topics"][
                    "__consumer_offsets"]["partitions"].values()} == {1, 2, 3}, 60)
            single.kill()
            survivors = ",".join(k.bootstrap for k in others)
            c = Consumer({"bootstrap.servers": survivors, "group.id": "st-group",
                          "enable.auto.commit": False})
            want = [(tp.topic, tp.partition, tp.offset) for tp in committed]
            try:
                wait_for("st-group's offsets from nodes 2 and 3", lambda: [
                    (tp.topic, tp.partition, tp.offset) for tp in
                    c.committed([TopicPartition("st-a", i) for i in range(3)], timeout=10)] == want, 90)
            finally:
                c.close()
            self.assertEqual(init_producer_id([k.bootstrap for k in others], "st-txn", 90),
                             (pid, epoch + 2), "the transactional id on nodes 2 and 3")
        finally:
            for k in [single] + others:
                if k.alive():
                    k.stop()
                k.close()


if __name__ == "__main__":
    kgw_harness.main()
