"""The leader-epoch cache against a real kgw over TCP (the first piece of
issue 16's replication): every batch kgw appends carries the partition's
leader epoch (partition_leader_epoch, as a Kafka leader stamps it), and
OffsetForLeaderEpoch (API 23, v0-v4) answers where an epoch ends, with
Kafka's errors, the same after a clean restart and after kill -9.

Records are written by librdkafka (confluent_kafka); the checks use raw
requests (kafka_wire), since no client library exposes the API itself."""

import struct
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import record_wire  # noqa: E402
from kafka_wire import Conn, Enc, list_offsets_latest, offset_for_leader_epoch  # noqa: E402

API_FETCH, API_VERSIONS, API_OFFSET_FOR_LEADER_EPOCH = 1, 18, 23
UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH = 3, 74, 75
TOPIC = "leader-epochs"
TIMEOUT = 30.0


def produce(bootstrap, n, partition=0):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(n):
        p.produce(TOPIC, value=b"v%d" % i, partition=partition)
        p.flush(TIMEOUT)  # one batch per record
    assert len(p) == 0, "records left unacknowledged"


def produce_claiming_epoch(bootstrap, claimed):
    """One raw batch whose partition_leader_epoch says `claimed`: the
    leader must overwrite it with its own (the field is outside the CRC)."""
    b = bytearray(record_wire.batch([{"key": None, "value": b"raw"}]))
    b[12:16] = struct.pack(">i", claimed)
    r = record_wire.produce(bootstrap, TOPIC, 0, bytes(b))
    assert r["error"] == 0, r


def batch_epochs(bootstrap, partition=0):
    """Fetch v4 from offset 0: each batch's (base offset, partition leader epoch)."""
    e = Enc().i32(-1).i32(0).i32(1).i32(1 << 20).i8(0)
    e.array([0], lambda enc, _: enc.string(TOPIC).array(
        [0], lambda enc2, __: enc2.i32(partition).i64(0).i32(1 << 20)))
    c = Conn(bootstrap)
    try:
        d = c.call(API_FETCH, 4, e)
    finally:
        c.close()
    d.i32()  # throttle
    blobs = []

    def part(dd):
        dd.i32()
        assert dd.i16() == 0, "fetch error"
        dd.i64()
        dd.i64()
        dd.array(lambda d4: (d4.i64(), d4.i64()))
        blobs.append(dd.bytes_())

    d.array(lambda dd: (dd.string(), dd.array(part)))
    data, out, pos = blobs[0], [], 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        (epoch,) = struct.unpack_from(">i", data, pos + 12)
        out.append((base, epoch))
        pos += 12 + length
    return out


def api_range(bootstrap, key):
    c = Conn(bootstrap)
    try:
        d = c.call(API_VERSIONS, 0, Enc())
    finally:
        c.close()
    assert d.i16() == 0
    found = []
    d.array(lambda dd: found.append((dd.i16(), dd.i16(), dd.i16())))
    return next(((lo, hi) for k, lo, hi in found if k == key), None)


class LeaderEpochs(unittest.TestCase):
    def check_answers(self, bootstrap, epoch, end):
        # The latest epoch ends at the log end, at every version; v0 has no
        # epoch field.
        for version in range(5):
            got = offset_for_leader_epoch(bootstrap, version, [(0, -1, epoch)], TOPIC)
            want = (0, 0, None if version == 0 else epoch, end)
            self.assertEqual(got, [want], f"v{version}")
        got = offset_for_leader_epoch(bootstrap, 4, [
            (0, epoch, epoch + 1),      # above every epoch: undefined
            (0, epoch + 1, epoch),      # the caller knows a later epoch
            (1, -1, epoch),             # never appended to: no epochs
            (7, -1, epoch),             # no such partition
        ], TOPIC)
        self.assertEqual(got, [
            (0, 0, -1, -1),
            (0, UNKNOWN_LEADER_EPOCH, -1, -1),
            (1, 0, -1, -1),
            (7, UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
        ])
        if epoch > 0:
            got = offset_for_leader_epoch(bootstrap, 4, [(0, epoch - 1, epoch)], TOPIC)
            self.assertEqual(got, [(0, FENCED_LEADER_EPOCH, -1, -1)])
        got = offset_for_leader_epoch(bootstrap, 4, [(0, -1, epoch)], topic="no-such-topic")
        self.assertEqual(got, [(0, UNKNOWN_TOPIC_OR_PARTITION, -1, -1)])

    def test_epochs_stamped_and_answered_across_restarts(self):
        with kgw_harness.Kgw() as kgw:
            self.assertEqual(api_range(kgw.bootstrap, API_OFFSET_FOR_LEADER_EPOCH), (0, 4))
            admin = AdminClient({"bootstrap.servers": kgw.bootstrap})
            admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])[TOPIC] \
                .result(timeout=TIMEOUT)
            produce(kgw.bootstrap, 2)
            produce_claiming_epoch(kgw.bootstrap, 7)
            err, end, epoch = list_offsets_latest(kgw.bootstrap, TOPIC)
            self.assertEqual((err, end), (0, 3))
            self.assertGreaterEqual(epoch, 0)
            print(f"leader epoch {epoch}, log end {end}", flush=True)
            self.assertEqual(batch_epochs(kgw.bootstrap), [(0, epoch), (1, epoch), (2, epoch)])
            self.check_answers(kgw.bootstrap, epoch, 3)

            kgw.restart()
            self.check_answers(kgw.bootstrap, epoch, 3)
            produce(kgw.bootstrap, 2)
            self.check_answers(kgw.bootstrap, epoch, 5)

            kgw.restart(kill=True)
            self.assertEqual(list_offsets_latest(kgw.bootstrap, TOPIC), (0, 5, epoch))
            self.check_answers(kgw.bootstrap, epoch, 5)
            self.assertEqual(batch_epochs(kgw.bootstrap), [(o, epoch) for o in range(5)])


if __name__ == "__main__":
    kgw_harness.main()
