"""Fetch amplification against a real kgw: a raw-socket client pipelines
1,000 Fetch requests asking for up to 2 GiB each over a topic holding
several MB, and never reads its socket. kgw must bound what it reads and
queues for that connection (fetch.max.bytes, the per-connection queued
response bytes, in-flight fetches counted), keep its RSS under a stated
bound, and keep serving a librdkafka consumer on another connection.

The RSS is sampled every 20 ms; past the bound the test kills kgw at once
(the unfixed broker would otherwise read gigabytes).

Also, on raw Fetch v4 requests: the broker's fetch.max.bytes caps what a
request asking for 2 GiB gets, only the first partition may go past the
budget (by one whole batch), and partitions share what is left."""

import os
import socket
import struct
import threading
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

API_FETCH = 1
TOPIC = "fetch-amplification"
MESSAGES = 640
MESSAGE_BYTES = 10_000  # 6.4 MB in the topic
PIPELINED = 1000
RSS_LIMIT_KB = 300 * 1024
TIMEOUT = 60.0


def fetch_v4_frame(correlation, topic, partition=0, offset=0):
    """Fetch v4 asking for everything: 2 GiB per partition and response."""
    body = struct.pack(">iiii", -1, 0, 1, 0x7FFFFFFF) + b"\x00"  # replica, wait, min, max, isolation
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic.encode()
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, 0x7FFFFFFF)
    header = struct.pack(">hhi", API_FETCH, 4, correlation) + struct.pack(">h", 4) + b"hog!"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class RssWatch(threading.Thread):
    """Samples kgw's RSS; kills kgw past the limit so a failing run cannot
    take the machine's memory with it."""

    def __init__(self, kgw, limit_kb):
        super().__init__(daemon=True)
        self.kgw, self.limit_kb = kgw, limit_kb
        self.peak_kb = 0
        self.exceeded = False
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.kgw.alive():
            try:
                rss = self.kgw.rss_kb()
            except (OSError, kgw_harness.KgwError):
                return
            self.peak_kb = max(self.peak_kb, rss)
            if rss > self.limit_kb:
                self.exceeded = True
                self.kgw._kill_quietly()
                return
            time.sleep(0.02)


class FetchAmplification(unittest.TestCase):
    def test_pipelined_fetches_never_read(self):
        with kgw_harness.Kgw() as kgw:
            admin = AdminClient({"bootstrap.servers": kgw.bootstrap})
            admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])[TOPIC] \
                .result(timeout=TIMEOUT)
            producer = Producer({"bootstrap.servers": kgw.bootstrap, "linger.ms": 5,
                                 "compression.type": "none"})
            payload = os.urandom(MESSAGE_BYTES)
            for i in range(MESSAGES):
                producer.produce(TOPIC, value=payload, key=str(i).encode())
                producer.poll(0)
            self.assertEqual(producer.flush(TIMEOUT), 0)
            baseline = kgw.rss_kb()

            watch = RssWatch(kgw, RSS_LIMIT_KB)
            watch.start()
            hog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # A small receive window so the kernel holds little for us.
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.settimeout(TIMEOUT)
            hog.connect(("127.0.0.1", kgw.port))
            sent = 0
            try:
                frames = b"".join(fetch_v4_frame(i + 1, TOPIC) for i in range(PIPELINED))
                hog.sendall(frames)
                sent = PIPELINED
            except (socket.timeout, OSError):
                pass  # kgw stopped reading us: that is backpressure working
            time.sleep(2.0)  # let kgw do whatever the pipelined fetches make it do

            # Another client is served meanwhile: it reads the whole topic.
            consumer = Consumer({"bootstrap.servers": kgw.bootstrap, "group.id": "fetch-limits",
                                 "enable.auto.commit": False})
            consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
            got = 0
            deadline = time.monotonic() + TIMEOUT
            while got < MESSAGES and time.monotonic() < deadline and not watch.exceeded:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    got += 1
            consumer.close()
            time.sleep(1.0)
            watch.stop.set()
            watch.join()
            print(f"fetch amplification: {sent} pipelined fetches sent (all {PIPELINED} if kgw "
                  f"read them), kgw RSS {baseline // 1024} MiB before, peak "
                  f"{watch.peak_kb // 1024} MiB (limit {RSS_LIMIT_KB // 1024} MiB), the other "
                  f"consumer got {got}/{MESSAGES}", flush=True)
            self.assertFalse(watch.exceeded,
                             f"kgw RSS went past {RSS_LIMIT_KB // 1024} MiB (killed)")
            self.assertEqual(got, MESSAGES, "the other consumer was not served")
            self.assertTrue(kgw.alive())
            hog.close()


def fetch_v4_body(topic, partitions, max_bytes, partition_max_bytes):
    from kafka_wire import Enc
    e = Enc().i32(-1).i32(0).i32(1).i32(max_bytes).i8(0)
    e.i32(1).string(topic).i32(len(partitions))
    for p in partitions:
        e.i32(p).i64(0).i32(partition_max_bytes)
    return e


def record_sizes(d):
    """Fetch v4 response: {partition: (error, bytes of records)}."""
    d.i32()  # throttle_time_ms
    out = {}
    for _ in range(d.i32()):
        d.string()
        for _ in range(d.i32()):
            partition, error = d.i32(), d.i16()
            d.i64()  # high watermark
            d.i64()  # last stable offset
            aborted = d.i32()
            for _ in range(max(aborted, 0)):
                d.i64()
                d.i64()
            records = d.bytes_()
            out[partition] = (error, len(records or b""))
    return out


class FetchMaxBytes(unittest.TestCase):
    BATCH = 10_000  # one message per batch, about 10 KB each

    def test_broker_fetch_max_bytes_caps_the_response(self):
        from kafka_wire import Conn
        with kgw_harness.Kgw("--set", "fetch.max.bytes=25000") as kgw:
            admin = AdminClient({"bootstrap.servers": kgw.bootstrap})
            admin.create_topics([NewTopic("capped", num_partitions=3, replication_factor=1)])[
                "capped"].result(timeout=TIMEOUT)
            producer = Producer({"bootstrap.servers": kgw.bootstrap, "linger.ms": 0,
                                 "compression.type": "none"})
            for i in range(5):
                for p in range(3):
                    producer.produce("capped", value=os.urandom(self.BATCH), partition=p)
                    self.assertEqual(producer.flush(TIMEOUT), 0)  # one batch each
            c = Conn(kgw.bootstrap)
            # The request asks for 2 GiB; the broker's 25,000 bytes win: two
            # whole batches of partition 0, nothing that would go past it.
            got = record_sizes(c.call(API_FETCH, 4, fetch_v4_body("capped", [0, 1, 2],
                                                                0x7FFFFFFF, 0x7FFFFFFF)))
            self.assertEqual([got[p][0] for p in range(3)], [0, 0, 0])
            total = sum(got[p][1] for p in range(3))
            self.assertGreater(got[0][1], self.BATCH)
            self.assertLessEqual(total, 25000, f"records per partition {got}")
            # A budget smaller than one batch: the first partition still
            # gets one whole batch (Kafka's rule), the others nothing.
            got = record_sizes(c.call(API_FETCH, 4, fetch_v4_body("capped", [0, 1, 2], 100,
                                                                0x7FFFFFFF)))
            self.assertGreater(got[0][1], self.BATCH)
            self.assertLess(got[0][1], 2 * self.BATCH)
            self.assertEqual((got[1][1], got[2][1]), (0, 0))
            # Partition limits under the budget: each partition gets its
            # batches that fit, the total stays within the budget.
            got = record_sizes(c.call(API_FETCH, 4, fetch_v4_body("capped", [0, 1, 2],
                                                                0x7FFFFFFF, 12000)))
            self.assertEqual([got[p][1] > self.BATCH for p in range(3)], [True, True, False])
            c.close()


if __name__ == "__main__":
    kgw_harness.main()
