"""Transactions across the brokers of a three-node kgw cluster (issue 15):
the transaction coordinator (the leader of the transactional id's
__transaction_state partition) is one broker, the transaction's partitions
are led by all three, so its markers must reach the other leaders
(WriteTxnMarkers) and those leaders must take transactional batches whose
transaction they do not coordinate.

- a transactional producer commits one transaction, aborts another and
  commits a third over partitions on every broker: a read_committed
  consumer sees exactly the committed records, a read_uncommitted one all;
- consume-transform-produce with send_offsets_to_transaction, the group's
  coordinator on another broker than the transaction's: after the commit
  the group's committed offsets are the ones sent;
- the coordinator's broker is killed (kill -9) with a transaction open on
  every broker; restarted, a new producer with the same transactional id
  initialises (which aborts the open one on every leader), commits more,
  and no record of the open transaction is ever visible to read_committed.
"""

import time
import unittest
import uuid

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

import test_transactions  # noqa: E402  (its consume_all)

from cluster_checks import cluster_view, create_topic, wait_for  # noqa: E402

TIMEOUT = 30.0
PARTITIONS = 6
SESSION_MS = 3000


def java_hash(s):
    """Java's String.hashCode (ASCII keys)."""
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def coordinator_partition(key, partitions):
    h = java_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def coordinator(bootstrap, topic, key):
    """The broker leading `key`'s partition of the internal `topic`."""
    _, _, topics = cluster_view(bootstrap)
    leaders = topics[topic]
    return leaders[coordinator_partition(key, len(leaders))]


def txn_producer(bootstrap, txn_id):
    return Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                     "linger.ms": 5, "transaction.timeout.ms": 60000,
                     "log.connection.close": False})


def consume_all(bootstrap, topic, isolation):
    return test_transactions.consume_all(bootstrap, topic, PARTITIONS, isolation, timeout=TIMEOUT)


def produce_each(p, topic, prefix):
    values = [f"{prefix}-{i}" for i in range(PARTITIONS)]
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i)
    p.flush(TIMEOUT)
    return values


class ClusterTransactionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3, sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000"])
        cls.cluster.start()
        cls.bootstrap = cls.cluster.bootstrap

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def new_topic(self, prefix):
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        create_topic(self.bootstrap, name, PARTITIONS)
        leaders = wait_for(f"{name}'s leaders", lambda: cluster_view(self.bootstrap)[2].get(name),
                           TIMEOUT)
        self.assertEqual(set(leaders.values()), {1, 2, 3},
                         f"{name}'s partitions are not on every broker: {leaders}")
        return name

    def test_1_commit_and_abort_across_brokers(self):
        topic = self.new_topic("txn")
        p = txn_producer(self.bootstrap, "cross-" + uuid.uuid4().hex[:8])
        p.init_transactions(TIMEOUT)
        p.begin_transaction()
        committed = produce_each(p, topic, "commit1")
        p.commit_transaction(TIMEOUT)
        p.begin_transaction()
        aborted = produce_each(p, topic, "abort")
        p.abort_transaction(TIMEOUT)
        p.begin_transaction()
        committed += produce_each(p, topic, "commit2")
        p.commit_transaction(TIMEOUT)

        seen = consume_all(self.bootstrap, topic, "read_committed")
        self.assertEqual(sorted(seen), sorted(committed))
        everything = consume_all(self.bootstrap, topic, "read_uncommitted")
        self.assertEqual(sorted(everything), sorted(committed + aborted))

    def test_2_offsets_to_a_group_coordinated_elsewhere(self):
        source, sink = self.new_topic("ctp-in"), self.new_topic("ctp-out")
        plain = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        inputs = produce_each(plain, source, "in")

        txn_id = "ctp-" + uuid.uuid4().hex[:8]
        p = txn_producer(self.bootstrap, txn_id)
        p.init_transactions(TIMEOUT)  # __transaction_state exists from here
        txn_node = coordinator(self.bootstrap, "__transaction_state", txn_id)
        # A group whose coordinator is another broker (its __consumer_offsets
        # is created by the first FindCoordinator).
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "probe"})
        probe.subscribe([source])
        wait_for("__consumer_offsets", lambda: (probe.poll(0.1), "__consumer_offsets" in
                                                cluster_view(self.bootstrap)[2])[1], TIMEOUT)
        probe.close()
        group = next(g for g in (f"ctp-group-{i}" for i in range(1000))
                     if coordinator(self.bootstrap, "__consumer_offsets", g) != txn_node)

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                      "isolation.level": "read_committed", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "log.connection.close": False})
        c.assign([TopicPartition(source, i, 0) for i in range(PARTITIONS)])
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < len(inputs) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value().decode())
        self.assertEqual(sorted(got), sorted(inputs))

        p.begin_transaction()
        for v in got:
            p.produce(sink, value="out-" + v)
        positions = c.position(c.assignment())
        p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), TIMEOUT)
        p.commit_transaction(TIMEOUT)

        committed = c.committed([TopicPartition(source, i) for i in range(PARTITIONS)], TIMEOUT)
        self.assertEqual({(tp.partition, tp.offset) for tp in committed},
                         {(tp.partition, tp.offset) for tp in positions})
        self.assertTrue(all(tp.offset == 1 for tp in committed), committed)
        c.close()
        self.assertEqual(sorted(consume_all(self.bootstrap, sink, "read_committed")),
                         sorted("out-" + v for v in inputs))

    def test_3_coordinator_killed_mid_transaction(self):
        topic = self.new_topic("kill")
        txn_id = "kill-" + uuid.uuid4().hex[:8]
        p = txn_producer(self.bootstrap, txn_id)
        p.init_transactions(TIMEOUT)
        p.begin_transaction()
        before = produce_each(p, topic, "before")
        p.commit_transaction(TIMEOUT)
        node = coordinator(self.bootstrap, "__transaction_state", txn_id)

        p.begin_transaction()
        produce_each(p, topic, "open")  # on every leader, never committed
        self.cluster.kill_node(node)
        del p  # the zombie: its successor fences it
        self.cluster.start_node(node)

        p2 = txn_producer(self.bootstrap, txn_id)
        wait_for("init_transactions after the restart", lambda: p2.init_transactions(5) or True,
                 TIMEOUT)
        p2.begin_transaction()
        after = produce_each(p2, topic, "after")
        p2.commit_transaction(TIMEOUT)

        seen = consume_all(self.bootstrap, topic, "read_committed")
        self.assertEqual(sorted(seen), sorted(before + after))


if __name__ == "__main__":
    unittest.main(verbosity=2)
