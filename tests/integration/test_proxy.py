"""Proxy mode (issue 17, first slice): kgw --upstream in front of a legacy
Kafka cluster we did not write (librdkafka's mock cluster, 3 brokers, a
topic with 3 partitions). A real client (confluent_kafka) talks to kgw
only: Metadata names kgw alone as the leader of every partition; keyed
records produced through kgw are read back through kgw (assign + seek, no
group) at the same offsets a direct read from the mock cluster gives; the
watermarks (ListOffsets) through kgw are the mock's. With the legacy
cluster gone, kgw stays up and answers Produce, Fetch and ListOffsets for
its partitions with retriable errors (raw requests, to see the codes).
Topic administration through kgw (CreateTopics, DeleteTopics,
CreatePartitions, Describe/Alter/IncrementalAlterConfigs) acts on the
legacy cluster for its topics (a second kgw as the legacy cluster)."""

import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc, record_batch
# MockCluster is imported from here by test_migrate.py.
from mock_cluster import MockCluster, start_proxy  # noqa: F401
from record_wire import list_offsets, produce

kgw_harness.require_modules("confluent_kafka")

import admin_wire  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import (AdminClient, ConfigResource, NewPartitions,  # noqa: E402
                                   NewTopic)

TIMEOUT = 60
TOPIC = "legacy"
PARTITIONS = 3
RECORDS = 600


def make_consumer(bootstrap):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "kgw-it-unused",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
    })


def read_all(bootstrap, count):
    """Assign every partition from offset 0; (partition, offset, key, value)."""
    consumer = make_consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        out = []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(out)} of {count} records after {TIMEOUT}s")
            for m in consumer.consume(num_messages=10_000, timeout=0.5):
                if m.error() is not None:
                    raise AssertionError(f"consumer error: {m.error()}")
                out.append((m.partition(), m.offset(), m.key(), m.value()))
        return sorted(out)
    finally:
        consumer.close()


def watermarks(bootstrap):
    consumer = make_consumer(bootstrap)
    try:
        return [consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=TIMEOUT)
                for p in range(PARTITIONS)]
    finally:
        consumer.close()


def fetch_error(bootstrap, topic, partition):
    """Fetch v4 (max_wait 100 ms) of one partition from offset 0 -> its error code."""
    e = Enc().i32(-1).i32(100).i32(1).i32(1 << 20).i8(0)
    e.array([0], lambda enc, _: enc.string(topic).array(
        [0], lambda enc2, __: enc2.i32(partition).i64(0).i32(1 << 20)))
    c = Conn(bootstrap)
    try:
        d = c.call(1, 4, e)
    finally:
        c.close()
    d.i32()  # throttle
    errors = []

    def part(dd):
        dd.i32()
        errors.append(dd.i16())
        dd.i64()
        dd.i64()
        dd.array(lambda d3: (d3.i64(), d3.i64()))
        dd.bytes_()

    d.array(lambda dd: (dd.string(), dd.array(part)))
    return errors[0]


# What a client retries after (refreshing its metadata).
RETRIABLE = {6, 7}  # NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT


class ProxyTest(unittest.TestCase):
    def setUp(self):
        self.mock, self.kgw = start_proxy(self, TOPIC, PARTITIONS)

    def metadata(self):
        a = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        return a.list_topics(timeout=TIMEOUT)

    def wait_for_upstream_topic(self):
        kgw_harness.wait_until(lambda: TOPIC in self.metadata().topics, TIMEOUT,
                               what="the legacy topic in kgw's metadata")

    def test_metadata_names_only_kgw(self):
        self.wait_for_upstream_topic()
        md = self.metadata()
        self.assertEqual([(b.id, f"{b.host}:{b.port}") for b in md.brokers.values()],
                         [(1, self.kgw.bootstrap)])
        t = md.topics[TOPIC]
        self.assertIsNone(t.error)
        self.assertEqual(sorted(t.partitions), list(range(PARTITIONS)))
        for p in t.partitions.values():
            self.assertEqual((p.leader, p.replicas, p.isrs), (1, [1], [1]))

    def test_produce_and_fetch_through_kgw(self):
        self.wait_for_upstream_topic()
        producer = Producer({"bootstrap.servers": self.kgw.bootstrap,
                             "enable.idempotence": False, "linger.ms": 5})
        delivered = []
        errors = []

        def on_delivery(err, msg):
            if err is not None:
                errors.append(err)
            else:
                delivered.append((msg.partition(), msg.offset(), msg.key(), msg.value()))

        for i in range(RECORDS):
            producer.produce(TOPIC, key=f"k{i % 17}".encode(), value=f"v{i}".encode(),
                             on_delivery=on_delivery)
            producer.poll(0)
        self.assertEqual(producer.flush(TIMEOUT), 0)
        self.assertEqual(errors, [])
        self.assertEqual(len(delivered), RECORDS)
        # Keyed: more than one partition got records.
        self.assertGreater(len({p for p, _, _, _ in delivered}), 1)

        through_kgw = read_all(self.kgw.bootstrap, RECORDS)
        direct = read_all(self.mock.bootstrap, RECORDS)
        self.assertEqual(through_kgw, sorted(delivered))
        self.assertEqual(through_kgw, direct)

        # ListOffsets: the mock's watermarks, through kgw.
        self.assertEqual(watermarks(self.kgw.bootstrap), watermarks(self.mock.bootstrap))

    def test_legacy_cluster_down_is_retriable(self):
        self.wait_for_upstream_topic()
        # Up: the raw requests go through.
        self.assertEqual(produce(self.kgw.bootstrap, TOPIC, 0, record_batch([b"up"]))["error"], 0)
        self.assertEqual(list_offsets(self.kgw.bootstrap, TOPIC, 0, -1)[0], 0)
        self.assertEqual(fetch_error(self.kgw.bootstrap, TOPIC, 0), 0)
        self.mock.kill()
        # Down: retriable errors, every time (the connections fail, back off
        # and fail again), and kgw stays up.
        for _ in range(3):
            for p in range(PARTITIONS):
                r = produce(self.kgw.bootstrap, TOPIC, p, record_batch([b"down"]))
                self.assertIn(r["error"], RETRIABLE, r)
                self.assertIn(list_offsets(self.kgw.bootstrap, TOPIC, p, -1)[0], RETRIABLE)
                self.assertIn(fetch_error(self.kgw.bootstrap, TOPIC, p), RETRIABLE)
            time.sleep(0.3)
        self.assertTrue(self.kgw.alive())
        # Local topics are unaffected.
        producer = Producer({"bootstrap.servers": self.kgw.bootstrap,
                             "enable.idempotence": False, "message.timeout.ms": 20000})
        producer.produce("kgw-local-2", value=b"here")
        self.assertEqual(producer.flush(TIMEOUT), 0)
        self.assertTrue(self.kgw.alive())

    def test_a_local_topic_still_works(self):
        # Not upstream: auto-created here as before.
        self.wait_for_upstream_topic()
        producer = Producer({"bootstrap.servers": self.kgw.bootstrap,
                             "enable.idempotence": False})
        producer.produce("kgw-local", value=b"here")
        self.assertEqual(producer.flush(TIMEOUT), 0)
        self.assertNotIn("kgw-local", AdminClient({"bootstrap.servers": self.mock.bootstrap})
                         .list_topics(timeout=TIMEOUT).topics)


class ProxyCreatesUpstreamTest(unittest.TestCase):
    def test_auto_created_topic_lives_upstream(self):
        """upstream.auto.create.topics=upstream: a topic a producer
        auto-creates through kgw is created by the legacy cluster and
        proxied like the others; kgw's store gets no copy of it."""
        mock = MockCluster("--brokers", "3")
        self.addCleanup(mock.close)
        kgw = kgw_harness.Kgw("--upstream", mock.bootstrap,
                              "--set", "upstream.auto.create.topics=upstream")
        kgw.start()
        self.addCleanup(kgw.close)
        topic = "born-upstream"
        producer = Producer({"bootstrap.servers": kgw.bootstrap, "enable.idempotence": False})
        for i in range(100):
            producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
            producer.poll(0)
        self.assertEqual(producer.flush(TIMEOUT), 0)
        legacy = AdminClient({"bootstrap.servers": mock.bootstrap}).list_topics(timeout=TIMEOUT)
        self.assertIn(topic, legacy.topics)
        partitions = sorted(legacy.topics[topic].partitions)

        def ends(bootstrap):
            c = make_consumer(bootstrap)
            try:
                return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)[1]
                        for p in partitions]
            finally:
                c.close()
        self.assertEqual(sum(ends(mock.bootstrap)), 100)
        self.assertEqual(ends(kgw.bootstrap), ends(mock.bootstrap))
        self.assertNotIn(f"created topic {topic}", kgw.stderr_tail(200))
        # Off (local, the default), the same request creates it on kgw:
        # test_a_local_topic_still_works.


class ProxyAdminTest(unittest.TestCase):
    """The admin APIs on topics only the legacy cluster has go there (a
    second kgw as the legacy cluster: librdkafka's mock never answers
    CreateTopics). The client talks to the proxy alone."""

    def setUp(self):
        self.legacy = kgw_harness.Kgw(name="legacy")
        self.legacy.start()
        self.addCleanup(self.legacy.close)
        legacy_admin = AdminClient({"bootstrap.servers": self.legacy.bootstrap})
        for f in legacy_admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
            f.result(TIMEOUT)
        self.kgw = kgw_harness.Kgw("--upstream", self.legacy.bootstrap,
                                   "--set", "upstream.auto.create.topics=upstream")
        self.kgw.start()
        self.addCleanup(self.kgw.close)
        self.admin = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        kgw_harness.wait_until(lambda: TOPIC in self.admin.list_topics(timeout=TIMEOUT).topics,
                               TIMEOUT, what="the legacy topic in kgw")

    def legacy_topics(self):
        return AdminClient({"bootstrap.servers": self.legacy.bootstrap}) \
            .list_topics(timeout=TIMEOUT).topics

    def legacy_config(self, topic, name):
        legacy_admin = AdminClient({"bootstrap.servers": self.legacy.bootstrap})
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        return legacy_admin.describe_configs([res])[res].result(TIMEOUT)[name].value

    def test_topic_admin_reaches_the_legacy_cluster(self):
        topic = "made-through-kgw"
        # CreateTopics: created by the legacy cluster, with its configs.
        f = self.admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "3600000"})])
        f[topic].result(TIMEOUT)
        self.assertEqual(len(self.legacy_topics()[topic].partitions), 2)
        self.assertEqual(self.legacy_config(topic, "retention.ms"), "3600000")
        self.assertNotIn(f"created topic {topic}", self.kgw.stderr_tail(400))
        kgw_harness.wait_until(
            lambda: topic in self.admin.list_topics(timeout=TIMEOUT).topics, TIMEOUT,
            what="the new legacy topic proxied by kgw")
        # A name the legacy cluster has is not created again on kgw; in the
        # same request, a new one is (on the legacy cluster): each answer
        # at its place.
        f = self.admin.create_topics([NewTopic(TOPIC, 1, 1), NewTopic("second-new", 1, 1)])
        with self.assertRaises(KafkaException) as cm:
            f[TOPIC].result(TIMEOUT)
        self.assertEqual(cm.exception.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)
        f["second-new"].result(TIMEOUT)
        self.assertIn("second-new", self.legacy_topics())
        self.assertNotIn(f"created topic {TOPIC}", self.kgw.stderr_tail(400))

        # DescribeConfigs through kgw shows the legacy topic's configs.
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        got = self.admin.describe_configs([res])[res].result(TIMEOUT)
        self.assertEqual(got["retention.ms"].value, "3600000")
        # ... and kgw's own: the topic's migration state.
        self.assertEqual(got["kgw.migration.state"].value, "upstream")
        # AlterConfigs and IncrementalAlterConfigs change them there.
        res = ConfigResource(ConfigResource.Type.TOPIC, topic,
                             set_config={"retention.ms": "7200000"})
        self.admin.alter_configs([res])[res].result(TIMEOUT)
        self.assertEqual(self.legacy_config(topic, "retention.ms"), "7200000")
        answer = admin_wire.incremental_alter_configs(
            self.kgw.bootstrap, [(2, "on-neither-side", [("retention.ms", 0, "1")]),
                                 (2, topic, [("retention.ms", 0, "1800000")])])
        self.assertEqual(answer[0][0], 3)  # UNKNOWN_TOPIC_OR_PARTITION, from kgw
        self.assertEqual(answer[1], (0, None, 2, topic))
        self.assertEqual(self.legacy_config(topic, "retention.ms"), "1800000")
        # An unknown config: the legacy cluster's own error, passed through.
        answer = admin_wire.incremental_alter_configs(
            self.kgw.bootstrap, [(2, topic, [("no.such.config", 0, "1")])])
        self.assertEqual(answer[0][0], 40)  # INVALID_CONFIG
        self.assertIn("no.such.config", answer[0][1])

        # CreatePartitions grows it there.
        self.admin.create_partitions([NewPartitions(topic, 5)])[topic].result(TIMEOUT)
        self.assertEqual(len(self.legacy_topics()[topic].partitions), 5)

        # DeleteTopics deletes it there; kgw stops proxying it.
        self.admin.delete_topics([topic])[topic].result(TIMEOUT)
        self.assertNotIn(topic, self.legacy_topics())
        kgw_harness.wait_until(
            lambda: topic not in self.admin.list_topics(timeout=TIMEOUT).topics, TIMEOUT,
            what="the deleted legacy topic gone from kgw's metadata")
        self.assertTrue(self.kgw.alive())


if __name__ == "__main__":
    kgw_harness.main()
