"""Idempotent producers and transactions against a real kgw: librdkafka's
transactional producer (confluent_kafka) committing, aborting, timing out
and being fenced by a zombie's successor; a consume-transform-produce loop
with send_offsets_to_transaction; read_committed against read_uncommitted
consumers; kgw killed mid-transaction; and, over raw sockets, retried
idempotent batches that must not be appended twice."""

import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc, record_batch

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster_checks import read_to_end  # noqa: E402

TIMEOUT = 60.0

# Kafka error codes.
NONE = 0
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
PRODUCER_FENCED = 90
PRODUCE, LIST_OFFSETS, INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN = 0, 2, 22, 24
END_TXN, DESCRIBE_TRANSACTIONS = 26, 65


def create_topic(bootstrap, name, partitions=2):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions,
                                  replication_factor=1)])[name].result(TIMEOUT)


def txn_producer(bootstrap, txn_id, **conf):
    c = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
         "log.connection.close": False}
    c.update(conf)
    return Producer(c)


def consume_all(bootstrap, topic, partitions, isolation, timeout=10.0):
    """Every data record of the topic, by assign() from the start, until the
    partitions' end offsets (for this isolation level) are reached."""
    messages, unfinished = read_to_end(bootstrap, topic, partitions, isolation, timeout)
    assert not unfinished, f"no end of partition {unfinished} seen for {topic}"
    return [m.value().decode() for m in messages]


def produce_values(p, topic, values, partitions=2):
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % partitions)
    p.flush(TIMEOUT)


class TransactionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0")
        cls.kgw.start()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def test_commit_abort_and_isolation(self):
        bs, topic = self.kgw.bootstrap, "txn-basic"
        create_topic(bs, topic)
        p = txn_producer(bs, "txn-basic")
        p.init_transactions(TIMEOUT)
        p.begin_transaction()
        produce_values(p, topic, [f"c1-{i}" for i in range(100)])
        p.commit_transaction(TIMEOUT)
        p.begin_transaction()
        produce_values(p, topic, [f"a-{i}" for i in range(100)])
        # Open, unfinished: read_committed readers stop before it.
        self.assertEqual(len(consume_all(bs, topic, 2, "read_committed")), 100)
        p.abort_transaction(TIMEOUT)
        p.begin_transaction()
        produce_values(p, topic, [f"c2-{i}" for i in range(100)])
        p.commit_transaction(TIMEOUT)

        committed = consume_all(bs, topic, 2, "read_committed")
        self.assertEqual(sorted(committed),
                         sorted([f"c1-{i}" for i in range(100)] + [f"c2-{i}" for i in range(100)]))
        everything = consume_all(bs, topic, 2, "read_uncommitted")
        self.assertEqual(len(everything), 300)  # markers are not records
        self.assertEqual(len([v for v in everything if v.startswith("a-")]), 100)

    def test_zombie_is_fenced(self):
        bs, topic = self.kgw.bootstrap, "txn-zombie"
        create_topic(bs, topic)
        zombie = txn_producer(bs, "txn-zombie")
        zombie.init_transactions(TIMEOUT)
        zombie.begin_transaction()
        produce_values(zombie, topic, [f"z-{i}" for i in range(10)])
        successor = txn_producer(bs, "txn-zombie")
        successor.init_transactions(TIMEOUT)  # aborts the zombie's transaction
        with self.assertRaises(KafkaException) as cm:
            zombie.commit_transaction(TIMEOUT)
        self.assertTrue(cm.exception.args[0].fatal(), cm.exception.args[0])
        successor.begin_transaction()
        produce_values(successor, topic, [f"s-{i}" for i in range(10)])
        successor.commit_transaction(TIMEOUT)
        self.assertEqual(sorted(consume_all(bs, topic, 2, "read_committed")),
                         sorted(f"s-{i}" for i in range(10)))

    def test_timeout_aborts(self):
        bs, topic = self.kgw.bootstrap, "txn-timeout"
        create_topic(bs, topic)
        p = txn_producer(bs, "txn-timeout", **{"transaction.timeout.ms": 2000})
        p.init_transactions(TIMEOUT)
        p.begin_transaction()
        produce_values(p, topic, [f"t-{i}" for i in range(10)])
        # The coordinator aborts it after 2 s and fences the producer.
        state = kgw_harness.wait_until(lambda: describe_txn(bs, "txn-timeout")["state"]
                                       == "CompleteAbort", TIMEOUT, interval=0.2,
                                       what="the timed-out transaction to be aborted")
        self.assertTrue(state)
        with self.assertRaises(KafkaException):
            p.commit_transaction(TIMEOUT)
        self.assertEqual(consume_all(bs, topic, 2, "read_committed"), [])
        self.assertEqual(len(consume_all(bs, topic, 2, "read_uncommitted")), 10)

    def test_consume_transform_produce(self):
        bs = self.kgw.bootstrap
        create_topic(bs, "ctp-in", 3)
        create_topic(bs, "ctp-out", 3)
        plain = Producer({"bootstrap.servers": bs})
        produce_values(plain, "ctp-in", [f"in-{i}" for i in range(300)], partitions=3)

        consumer = Consumer({"bootstrap.servers": bs, "group.id": "ctp",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "isolation.level": "read_committed", "log.connection.close": False})
        consumer.subscribe(["ctp-in"])
        p = txn_producer(bs, "ctp")
        p.init_transactions(TIMEOUT)
        done, rounds, aborted_once = 0, 0, False
        deadline = time.monotonic() + TIMEOUT
        while done < 300 and time.monotonic() < deadline:
            msgs = [m for m in consumer.consume(50, 1.0) if not m.error()]
            if not msgs:
                continue
            rounds += 1
            p.begin_transaction()
            for m in msgs:
                p.produce("ctp-out", value="out-" + m.value().decode()[3:],
                          partition=m.partition())
            p.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                          consumer.consumer_group_metadata(), TIMEOUT)
            if rounds == 2 and not aborted_once:
                # One round fails: abort it and rewind to the committed
                # offsets, so its input is processed again.
                aborted_once = True
                p.abort_transaction(TIMEOUT)
                committed = consumer.committed(consumer.assignment(), TIMEOUT)
                for tp in committed:
                    consumer.seek(TopicPartition(tp.topic, tp.partition,
                                                 tp.offset if tp.offset >= 0 else 0))
                continue
            p.commit_transaction(TIMEOUT)
            done += len(msgs)
        self.assertEqual(done, 300)
        self.assertTrue(aborted_once)
        committed = consumer.committed([TopicPartition("ctp-in", i) for i in range(3)], TIMEOUT)
        consumer.close()
        self.assertEqual(sum(tp.offset for tp in committed), 300)
        out = consume_all(bs, "ctp-out", 3, "read_committed")
        self.assertEqual(sorted(out), sorted(f"out-{i}" for i in range(300)))


def describe_txn(bootstrap, txn_id):
    c = Conn(bootstrap)
    try:
        body = Enc(flexible=True).array([txn_id], lambda e, s: e.string(s)).tags()
        d = c.call(DESCRIBE_TRANSACTIONS, 0, body, flexible=True)
        d.i32()
        (state,) = d.array(lambda d: _txn_state(d))
        return state
    finally:
        c.close()


def _txn_state(d):
    out = {"error": d.i16(), "id": d.string(), "state": d.string(), "timeout": d.i32(),
           "start": d.i64(), "pid": d.i64(), "epoch": d.i16()}

    def topic(d):
        t = (d.string(), d.array(lambda d: d.i32()))
        d.tags()
        return t
    out["topics"] = d.array(topic)
    d.tags()
    return out


class IdempotenceWireTest(unittest.TestCase):
    """Produce v7 (non-flexible) with hand-built batches."""

    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()
        create_topic(cls.kgw.bootstrap, "idem", 1)

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def setUp(self):
        self.c = Conn(self.kgw.bootstrap)
        self.addCleanup(self.c.close)

    def init_pid(self, txn_id=None, timeout_ms=60000):
        d = self.c.call(INIT_PRODUCER_ID, 1, Enc().string(txn_id).i32(timeout_ms))
        d.i32()
        return d.i16(), d.i64(), d.i16()

    def produce(self, batch, topic="idem", txn_id=None):
        body = (Enc().string(txn_id).i16(-1).i32(30000)
                .array([topic], lambda e, t: e.string(t).array(
                    [0], lambda e, p: e.i32(p).bytes_(batch))))
        d = self.c.call(PRODUCE, 7, body)
        (name, parts), = d.array(lambda d: (d.string(), d.array(
            lambda d: (d.i32(), d.i16(), d.i64(), d.i64(), d.i64()))))
        _index, err, base, _append_time, _log_start = parts[0]
        return err, base

    def end_offset(self, topic="idem"):
        body = Enc().i32(-1).i8(0).array([topic], lambda e, t: e.string(t).array(
            [0], lambda e, p: e.i32(p).i32(-1).i64(-1)))
        d = self.c.call(LIST_OFFSETS, 4, body)
        d.i32()
        (name, parts), = d.array(lambda d: (d.string(), d.array(
            lambda d: (d.i32(), d.i16(), d.i64(), d.i64(), d.i32()))))
        return parts[0][3]

    def test_retried_batch_is_not_appended_twice(self):
        err, pid, epoch = self.init_pid()
        self.assertEqual((err, epoch), (NONE, 0))
        start = self.end_offset()
        first = record_batch([b"a", b"b", b"c"], pid, 0, 0)
        self.assertEqual(self.produce(first), (NONE, start))
        # The same batch again (a retry after a lost answer): the offset it
        # was written at, and nothing new in the log.
        self.assertEqual(self.produce(first), (NONE, start))
        self.assertEqual(self.end_offset(), start + 3)
        second = record_batch([b"d"], pid, 0, 3)
        self.assertEqual(self.produce(second), (NONE, start + 3))
        self.assertEqual(self.produce(first), (NONE, start))  # still remembered
        # A gap in the sequence, and a stale epoch, are refused.
        self.assertEqual(self.produce(record_batch([b"x"], pid, 0, 9))[0],
                         OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertEqual(self.produce(record_batch([b"y"], pid, 1, 0)), (NONE, start + 4))
        self.assertEqual(self.produce(record_batch([b"z"], pid, 0, 4))[0], INVALID_PRODUCER_EPOCH)
        self.assertEqual(self.end_offset(), start + 5)

    def test_transactional_batch_needs_its_partition_added(self):
        err, pid, epoch = self.init_pid("wire-txn")
        self.assertEqual(err, NONE)
        batch = record_batch([b"t"], pid, epoch, 0, transactional=True)
        self.assertEqual(self.produce(batch, txn_id="wire-txn")[0], INVALID_TXN_STATE)
        # Timeouts above transaction.max.timeout.ms are refused.
        self.assertEqual(self.init_pid("wire-txn-2", timeout_ms=10**9)[0],
                         INVALID_TRANSACTION_TIMEOUT)
        # A second InitProducerId bumps the epoch; the first epoch is fenced.
        err2, pid2, epoch2 = self.init_pid("wire-txn")
        self.assertEqual((err2, pid2, epoch2), (NONE, pid, epoch + 1))
        body = Enc().string("wire-txn").i64(pid).i16(epoch).boolean(True)
        d = self.c.call(END_TXN, 2, body)
        d.i32()
        self.assertEqual(d.i16(), PRODUCER_FENCED)
        d = self.c.call(END_TXN, 1, body)  # before v2: INVALID_PRODUCER_EPOCH
        d.i32()
        self.assertEqual(d.i16(), INVALID_PRODUCER_EPOCH)


class RestartTest(unittest.TestCase):
    def test_kill_mid_transaction(self):
        with kgw_harness.Kgw() as kgw:
            create_topic(kgw.bootstrap, "txn-restart")
            # One transaction carries on after the restart and commits...
            p = txn_producer(kgw.bootstrap, "restart-commit",
                             **{"transaction.timeout.ms": 60000})
            p.init_transactions(TIMEOUT)
            p.begin_transaction()
            produce_values(p, "txn-restart", [f"kept-{i}" for i in range(20)])
            # ... another is left open and must be aborted by its timeout.
            q = txn_producer(kgw.bootstrap, "restart-abandon",
                             **{"transaction.timeout.ms": 3000})
            q.init_transactions(TIMEOUT)
            q.begin_transaction()
            produce_values(q, "txn-restart", [f"lost-{i}" for i in range(20)])
            # Same port, so the producers' connections come back to it.
            kgw.restart(kill=True, same_port=True)
            self.assertEqual(consume_all(kgw.bootstrap, "txn-restart", 2, "read_committed"), [])
            p.commit_transaction(TIMEOUT)
            kgw_harness.wait_until(
                lambda: describe_txn(kgw.bootstrap, "restart-abandon")["state"] == "CompleteAbort",
                TIMEOUT, interval=0.2, what="the abandoned transaction to time out")
            values = consume_all(kgw.bootstrap, "txn-restart", 2, "read_committed")
            self.assertEqual(sorted(values), sorted(f"kept-{i}" for i in range(20)))
            self.assertEqual(len(consume_all(kgw.bootstrap, "txn-restart", 2,
                                             "read_uncommitted")), 40)


if __name__ == "__main__":
    kgw_harness.main()
