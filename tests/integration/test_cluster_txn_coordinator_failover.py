"""A transaction coordinator's kill -9 on a three-node cluster (issue 16):
the transaction state lives in the transactional id's replicated
__transaction_state partition, so the partition's new leader coordinates
the transaction with its state intact.

A transactional producer commits a first transaction, begins a second
and produces to partitions on every broker; the coordinator (found with
FindCoordinator key_type=1) is killed with SIGKILL. The producer then
commits: the new coordinator must know the open transaction (a
coordinator without the state answers INVALID_PRODUCER_ID_MAPPING, and
without a replica there is no coordinator at all), so a read_committed
consumer sees both transactions' records exactly once. A new producer
with the same transactional id initialises (the epoch is bumped: the old
producer is fenced) and commits a third transaction.
"""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))

import kgw_cluster  # noqa: E402
import kgw_harness  # noqa: E402

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

import test_transactions  # noqa: E402  (its consume_all)
from test_cluster_transactions import PARTITIONS, produce_each, txn_producer  # noqa: E402
from cluster_checks import admin, cluster_view, wait_for  # noqa: E402
from kafka_wire import Conn, Enc  # noqa: E402

TIMEOUT = 60.0
SESSION_MS = 3000
FIND_COORDINATOR = 10


def find_txn_coordinator(port, txn_id):
    """(error, node id) from FindCoordinator v1 key_type=1 asked of one broker."""
    conn = Conn(f"127.0.0.1:{port}", timeout=10)
    try:
        d = conn.call(FIND_COORDINATOR, 1, Enc().string(txn_id).i8(1))
        d.i32()  # throttle
        error = d.i16()
        d.string()  # message
        return error, d.i32()
    finally:
        conn.close()


class TxnCoordinatorFailoverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3,
            sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000",
                  "replica.lag.time.max.ms=5000", "transaction.state.log.num.partitions=5"],
        )
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def bootstrap(self, nodes):
        return ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in nodes)

    def test_commit_after_the_coordinators_death(self):
        everyone = (1, 2, 3)
        topic = "txn-failover-" + uuid.uuid4().hex[:8]
        client = admin(self.bootstrap(everyone))
        futures = client.create_topics(
            [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3)],
            operation_timeout=30, request_timeout=30)
        futures[topic].result(timeout=40)
        wait_for(f"{topic}'s leaders", lambda: cluster_view(self.bootstrap(everyone))[2].get(topic),
                 TIMEOUT)

        txn_id = "failover-" + uuid.uuid4().hex[:8]
        p = txn_producer(self.bootstrap(everyone), txn_id)
        p.init_transactions(TIMEOUT)
        p.begin_transaction()
        first = produce_each(p, topic, "first")
        p.commit_transaction(TIMEOUT)

        p.begin_transaction()
        second = produce_each(p, topic, "second")
        error, coordinator = find_txn_coordinator(self.cluster.port(1), txn_id)
        self.assertEqual(error, 0)
        self.assertIn(coordinator, everyone)
        survivors = tuple(n for n in everyone if n != coordinator)

        self.cluster.kill_node(coordinator)
        # The producer finds the new coordinator (the new leader of the
        # transactional id's partition) and commits there.
        p.commit_transaction(TIMEOUT)
        _, moved = wait_for(
            "a new transaction coordinator",
            lambda: (lambda r: r if r[0] == 0 else None)(
                find_txn_coordinator(self.cluster.port(survivors[0]), txn_id)), TIMEOUT)
        self.assertIn(moved, survivors)

        seen = test_transactions.consume_all(self.bootstrap(survivors), topic, PARTITIONS,
                                             "read_committed", timeout=TIMEOUT)
        self.assertEqual(sorted(seen), sorted(first + second))

        # Same transactional id, new producer: a bumped epoch fences the old
        # one, and its transactions work on the new coordinator.
        p2 = txn_producer(self.bootstrap(survivors), txn_id)
        p2.init_transactions(TIMEOUT)
        p2.begin_transaction()
        third = produce_each(p2, topic, "third")
        p2.commit_transaction(TIMEOUT)
        with self.assertRaises(KafkaException):
            p.begin_transaction()
            p.produce(topic, value="zombie", partition=0)
            p.flush(10)
            p.commit_transaction(10)

        seen = test_transactions.consume_all(self.bootstrap(survivors), topic, PARTITIONS,
                                             "read_committed", timeout=TIMEOUT)
        self.assertEqual(sorted(seen), sorted(first + second + third))


if __name__ == "__main__":
    unittest.main(verbosity=2)
