"""An idempotent producer's sequence gap left by a refused predecessor, over
raw frames against a real kgw (src/broker/handlers/produce.cc, "Pipelined
successors").

A producer with several requests in flight can have the first refused,
unwritten, with a retriable error and the next one taken after the
broker's state changed: Kafka answers that one OUT_OF_ORDER_SEQUENCE_NUMBER,
on which librdkafka bumps the producer's epoch and may write a message
twice (librdkafka issue 4953). kgw answers it with the first refusal's
error on the connection that saw the refusal, so the client retries both
in order. Here the state change is min.insync.replicas going from 2 (the
one-replica topic refuses acks=all: NOT_ENOUGH_REPLICAS) back to 1.

- the successor on the same connection: NOT_ENOUGH_REPLICAS, naming the
  refused base sequence;
- the same batch on another connection: OUT_OF_ORDER_SEQUENCE_NUMBER, as
  Kafka (nothing on that connection explains the gap);
- the refused batch sent again, then its successor: both written, in
  order; afterwards a real gap is OUT_OF_ORDER_SEQUENCE_NUMBER again.
"""

import unittest

import kgw_harness
from kafka_wire import Conn, Enc, record_batch

NONE = 0
NOT_ENOUGH_REPLICAS = 19
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
PRODUCE, METADATA, ALTER_CONFIGS, INIT_PRODUCER_ID = 0, 3, 33, 22
TOPIC = "gap"


class SequenceGapTest(unittest.TestCase):
    def setUp(self):
        self.kgw = kgw_harness.Kgw("--set", "num.partitions=1")
        self.kgw.start()
        self.a = Conn(self.kgw.bootstrap)
        self.b = Conn(self.kgw.bootstrap)
        # Metadata v4 naming the topic, allow_auto_topic_creation: creates it.
        self.a.call(METADATA, 4, Enc().array([TOPIC], lambda e, t: e.string(t)).boolean(True))
        d = self.a.call(INIT_PRODUCER_ID, 1, Enc().string(None).i32(60000))
        d.i32()
        err, self.pid, self.epoch = d.i16(), d.i64(), d.i16()
        self.assertEqual(err, NONE)

    def tearDown(self):
        self.a.close()
        self.b.close()
        self.kgw.close()

    def min_insync(self, value):
        body = Enc().array([TOPIC], lambda e, t: e.i8(2).string(t).array(
            [("min.insync.replicas", value)], lambda e, c: e.string(c[0]).string(c[1]))).boolean(False)
        d = self.a.call(ALTER_CONFIGS, 0, body)
        d.i32()
        (err, msg, _, _), = d.array(lambda d: (d.i16(), d.string(), d.i8(), d.string()))
        self.assertEqual(err, NONE, msg)

    def produce(self, conn, seq, acks=-1):
        """One record at `seq` -> (error, base offset, error message)."""
        batch = record_batch([f"v{seq}".encode()], producer_id=self.pid, epoch=self.epoch,
                             base_sequence=seq)
        body = (Enc().string(None).i16(acks).i32(10000)
                .array([TOPIC], lambda e, t: e.string(t).array(
                    [0], lambda e, p: e.i32(p).bytes_(batch))))
        d = conn.call(PRODUCE, 8, body)
        (_, parts), = d.array(lambda d: (d.string(), d.array(
            lambda d: (d.i32(), d.i16(), d.i64(), d.i64(), d.i64(),
                       d.array(lambda d: (d.i32(), d.string())), d.string()))))
        _, err, offset, _, _, _, msg = parts[0]
        return err, offset, msg

    def test_gap_after_a_refusal_on_the_same_connection(self):
        self.assertEqual(self.produce(self.a, 0)[:2], (NONE, 0))
        self.min_insync("2")
        self.assertEqual(self.produce(self.a, 1)[0], NOT_ENOUGH_REPLICAS)
        self.min_insync("1")
        # The successor: the gap is its predecessor's refusal.
        err, _, msg = self.produce(self.a, 2)
        self.assertEqual(err, NOT_ENOUGH_REPLICAS, msg)
        self.assertIn("follows base sequence 1", msg or "")
        # Another connection saw no refusal: Kafka's answer.
        self.assertEqual(self.produce(self.b, 2)[0], OUT_OF_ORDER_SEQUENCE_NUMBER)
        # Retried in order, both are written once.
        self.assertEqual(self.produce(self.a, 1)[:2], (NONE, 1))
        self.assertEqual(self.produce(self.a, 2)[:2], (NONE, 2))
        self.assertEqual(self.produce(self.a, 2)[:2], (NONE, 2), "a retry of a written batch")
        # Nothing refused any more: a real gap is out of order.
        self.assertEqual(self.produce(self.a, 5)[0], OUT_OF_ORDER_SEQUENCE_NUMBER)


if __name__ == "__main__":
    kgw_harness.main()
