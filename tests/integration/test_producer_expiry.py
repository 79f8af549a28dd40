"""Producer and transactional id expiry, against a real kgw over raw frames:
producer.id.expiration.ms, transactional.id.expiration.ms (with their
check intervals set short), and producer ids kgw never issued.

Before these existed every producer id a client ever used stayed in memory
and in the producers column family for good, and a client could make up ids
to fill them; now
- a partition forgets a producer whose last write is older than
  producer.id.expiration.ms (and that has no open transaction there): it
  disappears from DescribeProducers, also after a restart;
- a transactional id with no transaction for transactional.id.expiration.ms
  is forgotten: DescribeTransactions says TRANSACTIONAL_ID_NOT_FOUND;
- a batch whose producer id kgw never handed out is UNKNOWN_PRODUCER_ID.
"""

import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc, record_batch

TIMEOUT = 20.0
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_PRODUCER_ID = 59
TRANSACTIONAL_ID_NOT_FOUND = 105
METADATA = 3
PRODUCE, INIT_PRODUCER_ID, DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS = 0, 22, 61, 65
TOPIC = "expiry"


class ProducerExpiryTest(unittest.TestCase):
    def setUp(self):
        self.kgw = kgw_harness.Kgw(
            "--set", "num.partitions=1",
            "--set", "producer.id.expiration.ms=1500",
            "--set", "producer.id.expiration.check.interval.ms=200",
            "--set", "transactional.id.expiration.ms=1500",
            "--set", "transaction.remove.expired.transaction.cleanup.interval.ms=200")
        self.kgw.start()
        self.connect()

    def tearDown(self):
        self.c.close()
        self.kgw.close()

    def connect(self):
        self.c = Conn(self.kgw.bootstrap)
        # Metadata v4 naming the topic, allow_auto_topic_creation: creates it.
        self.c.call(METADATA, 4, Enc().array([TOPIC], lambda e, t: e.string(t)).boolean(True))

    def init_pid(self, txn_id=None):
        d = self.c.call(INIT_PRODUCER_ID, 1, Enc().string(txn_id).i32(60000))
        d.i32()
        err, pid, epoch = d.i16(), d.i64(), d.i16()
        self.assertEqual(err, NONE)
        return pid, epoch

    def produce(self, batch):
        body = (Enc().string(None).i16(-1).i32(30000)
                .array([TOPIC], lambda e, t: e.string(t).array(
                    [0], lambda e, p: e.i32(p).bytes_(batch))))
        d = self.c.call(PRODUCE, 7, body)
        (_, parts), = d.array(lambda d: (d.string(), d.array(
            lambda d: (d.i32(), d.i16(), d.i64(), d.i64(), d.i64()))))
        return parts[0][1], parts[0][2]

    def describe_producers(self, topics):
        """DescribeProducers for {topic: [partition, ...]}: per topic, its
        name and per partition (index, error code, producer ids)."""
        body = Enc(flexible=True).array(
            list(topics.items()), lambda e, t: e.string(t[0]).array(
                t[1], lambda e, p: e.i32(p)).tags()).tags()
        d = self.c.call(DESCRIBE_PRODUCERS, 0, body, flexible=True)
        d.i32()

        def partition(d):
            index, err, _msg = d.i32(), d.i16(), d.string()
            pids = d.array(lambda d: [d.i64(), d.i32(), d.i32(), d.i64(), d.i32(), d.i64(),
                                      d.tags()][0])
            d.tags()
            return index, err, sorted(pids)

        return d.array(lambda d: [d.string(), d.array(partition), d.tags()][:2])

    def producers(self):
        """Producer ids DescribeProducers lists for partition 0."""
        (_, ((index, err, pids),)), = self.describe_producers({TOPIC: [0]})
        self.assertEqual((index, err), (0, NONE))
        return pids

    def txn_error(self, txn_id):
        body = Enc(flexible=True).array([txn_id], lambda e, s: e.string(s)).tags()
        d = self.c.call(DESCRIBE_TRANSACTIONS, 0, body, flexible=True)
        d.i32()
        return d.array(lambda d: [d.i16(), d.string(), d.string(), d.i32(), d.i64(), d.i64(),
                                  d.i16(), d.array(lambda d: [d.string(), d.array(
                                      lambda d: d.i32()), d.tags()]), d.tags()][0])[0]

    def test_idle_producer_ids_expire(self):
        pid, epoch = self.init_pid()
        # Idleness counts from the batch's timestamp, as Kafka's does: a
        # current one, so the producer cannot expire before it is listed
        # (record_batch's default is in 2023: expired at the first check,
        # which a slow ASan run can reach before the DescribeProducers).
        now_ms = int(time.time() * 1000)
        self.assertEqual(self.produce(record_batch([b"a"], pid, epoch, 0, timestamp=now_ms)),
                         (NONE, 0))
        self.assertEqual(self.producers(), [pid])
        kgw_harness.wait_until(lambda: self.producers() == [], TIMEOUT,
                               what="the idle producer to expire")
        # Forgotten for good: not back after a restart.
        self.c.close()
        self.kgw.restart()
        self.connect()
        self.assertEqual(self.producers(), [])
        # Writing again makes it a new producer to the partition, at any
        # sequence, as in Kafka.
        self.assertEqual(self.produce(record_batch([b"b"], pid, epoch, 7)), (NONE, 1))
        self.assertEqual(self.producers(), [pid])

    def test_describe_producers_unknown_topic_or_partition(self):
        # As Kafka: each partition answers for itself, in request order; a
        # topic that does not exist or an index outside the topic is
        # UNKNOWN_TOPIC_OR_PARTITION.
        self.assertEqual(self.describe_producers({TOPIC: [1, 0, -1], "no-such-topic": [0]}), [
            [TOPIC, [(1, UNKNOWN_TOPIC_OR_PARTITION, []), (0, NONE, []),
                     (-1, UNKNOWN_TOPIC_OR_PARTITION, [])]],
            ["no-such-topic", [(0, UNKNOWN_TOPIC_OR_PARTITION, [])]],
        ])

    def test_made_up_producer_ids_are_refused(self):
        pid, epoch = self.init_pid()
        err, _ = self.produce(record_batch([b"x"], pid + 10**9, 0, 0))
        self.assertEqual(err, UNKNOWN_PRODUCER_ID)
        self.assertEqual(self.producers(), [])
        self.assertEqual(self.produce(record_batch([b"y"], pid, epoch, 0)), (NONE, 0))

    def test_idle_transactional_ids_expire(self):
        self.init_pid("expiring-txn")
        self.assertEqual(self.txn_error("expiring-txn"), NONE)
        kgw_harness.wait_until(
            lambda: self.txn_error("expiring-txn") == TRANSACTIONAL_ID_NOT_FOUND, TIMEOUT,
            what="the idle transactional id to expire")
        self.c.close()
        self.kgw.restart()
        self.connect()
        self.assertEqual(self.txn_error("expiring-txn"), TRANSACTIONAL_ID_NOT_FOUND)
        # The id can be used again, as a new one.
        self.init_pid("expiring-txn")
        self.assertEqual(self.txn_error("expiring-txn"), NONE)


if __name__ == "__main__":
    kgw_harness.main()
