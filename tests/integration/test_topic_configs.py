"""Topic and broker configs against a real kgw, through confluent-kafka's
AdminClient (librdkafka 2.0.2) and, for IncrementalAlterConfigs and the
single-node admin APIs the Debian clients lack, requests encoded by hand
(admin_wire.py): values set come back through DescribeConfigs with their
sources and synonyms, survive a restart, and bad values are INVALID_CONFIG
with Kafka's message."""

import unittest

import admin_wire as wire
import kgw_harness

kgw_harness.require_modules("confluent_kafka")

import time  # noqa: E402

from confluent_kafka import KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource, ConfigSource,  # noqa: E402
                                   NewTopic)

TIMEOUT = 60.0

INVALID_CONFIG = 40
INVALID_REQUEST = 42
UNKNOWN_TOPIC_OR_PARTITION = 3
ELECTION_NOT_NEEDED = 84
NO_REASSIGNMENT_IN_PROGRESS = 85
INVALID_REPLICA_ASSIGNMENT = 39


class TopicConfigs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def admin(self):
        # One client per kgw start (the port changes on restart), kept alive
        # while its futures are pending.
        if getattr(self, "_admin_for", None) != self.kgw.bootstrap:
            self._admin = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
            self._admin_for = self.kgw.bootstrap
        return self._admin

    def create(self, name, config=None, partitions=1):
        fs = self.admin().create_topics([NewTopic(name, partitions, 1, config=config or {})],
                                        request_timeout=TIMEOUT)
        return fs[name].result(TIMEOUT)

    def describe(self, name, typ="topic"):
        res = ConfigResource(typ, name)
        return self.admin().describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)

    def alter(self, name, configs, typ="topic"):
        res = ConfigResource(typ, name, set_config=configs)
        return self.admin().alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)

    def expect_invalid(self, fn, message):
        with self.assertRaises(KafkaException) as ctx:
            fn()
        err = ctx.exception.args[0]
        self.assertEqual(err.code(), KafkaError.INVALID_CONFIG, err)
        self.assertIn(message, err.str())

    def test_created_configs_come_back_with_sources_and_synonyms(self):
        self.create("cfg-create", {"cleanup.policy": "compact", "retention.ms": "3600000",
                                   "min.cleanable.dirty.ratio": "0.1"})
        d = self.describe("cfg-create")
        self.assertEqual(d["cleanup.policy"].value, "compact")
        self.assertEqual(d["cleanup.policy"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        self.assertEqual(d["retention.ms"].value, "3600000")
        self.assertEqual(d["min.cleanable.dirty.ratio"].value, "0.1")
        # Not set: Kafka's default, through the broker synonym.
        self.assertEqual(d["segment.bytes"].value, "1073741824")
        self.assertEqual(d["segment.bytes"].source, ConfigSource.DEFAULT_CONFIG.value)
        self.assertTrue(d["segment.bytes"].is_default)
        self.assertIn("log.retention.hours", d["retention.ms"].synonyms)
        for name in ("delete.retention.ms", "min.compaction.lag.ms", "max.message.bytes",
                     "message.timestamp.type", "message.timestamp.difference.max.ms",
                     "min.insync.replicas", "compression.type", "segment.ms", "retention.bytes"):
            self.assertIn(name, d)

    def test_bad_values_are_invalid_config_with_kafkas_message(self):
        self.expect_invalid(lambda: self.create("cfg-bad-1", {"retention.ms": "abc"}),
                            "Invalid value abc for configuration retention.ms: Not a number of type LONG")
        self.expect_invalid(lambda: self.create("cfg-bad-2", {"no.such.config": "1"}),
                            "Unknown topic config name: no.such.config")
        self.expect_invalid(lambda: self.create("cfg-bad-3", {"cleanup.policy": "compress"}),
                            "Invalid value compress for configuration cleanup.policy: String must be "
                            "one of: compact, delete")
        self.create("cfg-bad")
        self.expect_invalid(lambda: self.alter("cfg-bad", {"min.cleanable.dirty.ratio": "2"}),
                            "Invalid value 2 for configuration min.cleanable.dirty.ratio: Value must "
                            "be no more than 1.0")
        self.expect_invalid(lambda: self.alter("cfg-bad", {"retention.ms": "-5"}),
                            "Invalid value -5 for configuration retention.ms: Value must be at least -1")
        self.expect_invalid(lambda: self.alter("cfg-bad", {"compression.type": "brotli"}),
                            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
        self.expect_invalid(lambda: self.alter("cfg-bad", {"message.timestamp.type": "Now"}),
                            "String must be one of: CreateTime, LogAppendTime")
        # Nothing changed.
        self.assertEqual(self.describe("cfg-bad")["retention.ms"].value, "604800000")

    def test_alter_configs_replaces_the_set_and_survives_a_restart(self):
        self.create("cfg-alter", {"segment.bytes": "100000"})
        self.alter("cfg-alter", {"retention.bytes": "123456", "cleanup.policy": "compact,delete"})
        d = self.describe("cfg-alter")
        self.assertEqual(d["retention.bytes"].value, "123456")
        self.assertEqual(d["cleanup.policy"].value, "compact,delete")
        # AlterConfigs replaces: what was left out is back to its default.
        self.assertEqual(d["segment.bytes"].value, "1073741824")
        self.kgw.restart()
        d = self.describe("cfg-alter")
        self.assertEqual(d["retention.bytes"].value, "123456")
        self.assertEqual(d["cleanup.policy"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)

    def test_incremental_alter_configs(self):
        self.create("cfg-incr", {"retention.ms": "1000"})
        ok = wire.incremental_alter_configs(self.kgw.bootstrap, [(wire.TOPIC, "cfg-incr", [
            ("retention.ms", wire.DELETE, None),
            ("retention.bytes", wire.SET, "999999"),
            ("cleanup.policy", wire.APPEND, "compact"),
        ])])
        self.assertEqual(ok[0][0], 0, ok)
        d = self.describe("cfg-incr")
        self.assertEqual(d["retention.ms"].value, "604800000")
        self.assertEqual(d["retention.bytes"].value, "999999")
        self.assertEqual(d["cleanup.policy"].value, "delete,compact")
        ok = wire.incremental_alter_configs(self.kgw.bootstrap, [(wire.TOPIC, "cfg-incr", [
            ("cleanup.policy", wire.SUBTRACT, "delete")])])
        self.assertEqual(ok[0][0], 0, ok)
        self.assertEqual(self.describe("cfg-incr")["cleanup.policy"].value, "compact")

        bad = wire.incremental_alter_configs(self.kgw.bootstrap, [
            (wire.TOPIC, "cfg-incr", [("retention.ms", wire.APPEND, "5")]),
            (wire.TOPIC, "cfg-incr", [("retention.ms", wire.SET, "1"), ("retention.ms", wire.SET, "2")]),
            (wire.TOPIC, "cfg-incr", [("segment.bytes", wire.SET, "1")]),
            (wire.TOPIC, "no-such-topic", [("retention.ms", wire.SET, "1")]),
        ])
        self.assertEqual(bad[0][:2], (INVALID_CONFIG, "Can't APPEND to key retention.ms because its "
                                                      "type is not LIST."))
        self.assertEqual(bad[1][:2], (INVALID_REQUEST, "Error due to duplicate config keys"))
        self.assertEqual(bad[2][:2], (INVALID_CONFIG, "Invalid value 1 for configuration segment.bytes: "
                                                      "Value must be at least 14"))
        self.assertEqual(bad[3][0], UNKNOWN_TOPIC_OR_PARTITION)
        # validate_only changes nothing.
        ok = wire.incremental_alter_configs(self.kgw.bootstrap, [(wire.TOPIC, "cfg-incr", [
            ("retention.ms", wire.SET, "5")])], validate_only=True)
        self.assertEqual(ok[0][0], 0)
        self.assertEqual(self.describe("cfg-incr")["retention.ms"].value, "604800000")

    def test_dynamic_broker_configs_reach_topics_and_survive_a_restart(self):
        self.create("cfg-broker")
        self.alter("1", {"log.retention.ms": "7200000", "log.cleaner.backoff.ms": "1000"}, typ="broker")
        d = self.describe("cfg-broker")
        self.assertEqual(d["retention.ms"].value, "7200000")
        self.assertEqual(d["retention.ms"].source, ConfigSource.DYNAMIC_BROKER_CONFIG.value)
        b = self.describe("1", typ="broker")
        self.assertEqual(b["log.cleaner.backoff.ms"].value, "1000")
        self.assertEqual(b["log.cleaner.backoff.ms"].source, ConfigSource.DYNAMIC_BROKER_CONFIG.value)
        self.kgw.restart()
        self.assertEqual(self.describe("cfg-broker")["retention.ms"].value, "7200000")
        # Read-only at run time: Kafka's message.
        self.expect_invalid(lambda: self.alter("1", {"num.partitions": "3"}, typ="broker"),
                            "Cannot update these configs dynamically: Set(num.partitions)")
        # Another broker's id (librdkafka would wait for broker 7 to exist).
        bad = wire.incremental_alter_configs(self.kgw.bootstrap, [
            (wire.BROKER, "7", [("log.retention.ms", wire.SET, "1")])])
        self.assertEqual(bad[0][:2], (INVALID_REQUEST, "Unexpected broker id, expected 1 or empty "
                                                       "string, but received 7"))
        # An empty set clears the layer.
        self.alter("1", {}, typ="broker")
        self.assertEqual(self.describe("cfg-broker")["retention.ms"].value, "604800000")

    def produce_one(self, topic, **kw):
        """The delivery error (None on success) of one message."""
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": False,
                      "message.send.max.retries": 0})
        result = []
        p.produce(topic, on_delivery=lambda err, msg: result.append(err), **kw)
        p.flush(TIMEOUT)
        self.assertEqual(len(result), 1)
        return result[0]

    def test_topic_configs_are_enforced_on_produce(self):
        # Compacted topics need keys.
        self.create("cfg-keys", {"cleanup.policy": "compact"})
        err = self.produce_one("cfg-keys", value=b"no key")
        self.assertIsNotNone(err)
        self.assertEqual(err.code(), KafkaError.INVALID_RECORD)
        self.assertIsNone(self.produce_one("cfg-keys", key=b"k", value=b"v"))
        # Timestamps within message.timestamp.difference.max.ms.
        self.create("cfg-ts", {"message.timestamp.difference.max.ms": "3600000"})
        err = self.produce_one("cfg-ts", value=b"old", timestamp=int(time.time() * 1000) - 86400000)
        self.assertIsNotNone(err)
        self.assertEqual(err.code(), KafkaError.INVALID_TIMESTAMP)
        self.assertIsNone(self.produce_one("cfg-ts", value=b"now"))
        # compression.type=gzip: the broker recompresses what it stores.
        self.create("cfg-gzip", {"compression.type": "gzip"})
        self.assertIsNone(self.produce_one("cfg-gzip", value=b"x" * 1000))
        err, batches = wire.fetch_batches(self.kgw.bootstrap, "cfg-gzip", 0, 0)
        self.assertEqual(err, 0)
        self.assertEqual(batches, [(0, 1, 1)])  # codec 1: gzip
        # min.insync.replicas above the one replica: acks=all fails.
        self.create("cfg-isr", {"min.insync.replicas": "2"})
        err = self.produce_one("cfg-isr", value=b"v")
        self.assertIsNotNone(err)
        self.assertEqual(err.code(), KafkaError.NOT_ENOUGH_REPLICAS)

    def test_checked_appends_keep_order_and_answer_once(self):
        # Many small produce requests in flight on one connection to a
        # topic whose records are checked on the threadpool: every message
        # lands once, in order, each request answered once, after its write.
        self.create("cfg-order", {"cleanup.policy": "compact", "compression.type": "lz4"})
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": False,
                      "linger.ms": 0, "batch.num.messages": 5, "acks": "all",
                      "max.in.flight.requests.per.connection": 100})
        offsets = {}
        errors = []

        def cb(err, msg):
            if err is not None:
                errors.append(err)
            else:
                offsets[int(msg.value())] = msg.offset()
        for i in range(5000):
            p.produce("cfg-order", key=b"k%d" % (i % 50), value=b"%d" % i, on_delivery=cb)
            if i % 500 == 0:
                p.poll(0)
        p.flush(TIMEOUT)
        self.assertEqual(errors, [])
        self.assertEqual([offsets[i] for i in range(5000)], list(range(5000)))
        with open(self.kgw.stderr_path, errors="replace") as f:
            self.assertNotIn("already answered", f.read())

    def test_single_node_admin_apis(self):
        self.create("cfg-single", partitions=2)
        top, results = wire.elect_leaders(self.kgw.bootstrap, [("cfg-single", [0, 1, 7])])
        self.assertEqual(top, 0)
        self.assertEqual(results[("cfg-single", 0)], ELECTION_NOT_NEEDED)
        self.assertEqual(results[("cfg-single", 7)], UNKNOWN_TOPIC_OR_PARTITION)
        r = wire.alter_partition_reassignments(self.kgw.bootstrap, [
            ("cfg-single", [(0, [1]), (1, [2])])])
        self.assertEqual(r[("cfg-single", 0)][0], 0)  # to its own replica: done at once
        self.assertEqual(r[("cfg-single", 1)][0], INVALID_REPLICA_ASSIGNMENT)
        self.assertIn("no such broker", r[("cfg-single", 1)][1])
        r = wire.alter_partition_reassignments(self.kgw.bootstrap, [("cfg-single", [(0, None)])])
        self.assertEqual(r[("cfg-single", 0)][0], NO_REASSIGNMENT_IN_PROGRESS)
        self.assertEqual(wire.list_partition_reassignments(self.kgw.bootstrap), (0, []))
        dirs = wire.describe_log_dirs(self.kgw.bootstrap, [("cfg-single", [0, 1])])
        self.assertEqual(len(dirs), 1)
        err, path, topics = dirs[0]
        self.assertEqual(err, 0)
        self.assertTrue(path.startswith("/"))
        self.assertEqual(topics["cfg-single"], {0: 0, 1: 0})

    def test_client_quotas_are_validated_and_stored(self):
        ok = wire.alter_client_quotas(self.kgw.bootstrap, [
            ([("user", "alice")], [("producer_byte_rate", 1048576.0, False)]),
            ([("client-id", None)], [("request_percentage", 50.0, False)]),
            ([("ip", "10.0.0.1"), ("user", "bob")], [("connection_creation_rate", 5.0, False)]),
            ([("user", "carol")], [("no_such_quota", 1.0, False)]),
        ])
        self.assertEqual([e for e, _ in ok[:2]], [0, 0])
        self.assertEqual(ok[2][0], INVALID_REQUEST)
        self.assertIn("IP entity should not be combined", ok[2][1])
        self.assertEqual(ok[3], (INVALID_REQUEST, "Invalid configuration key no_such_quota"))
        self.kgw.restart()
        err, msg, entries = wire.describe_client_quotas(self.kgw.bootstrap, [("user", 0, "alice")])
        self.assertEqual(err, 0, msg)
        self.assertEqual(entries, [({"user": "alice"}, {"producer_byte_rate": 1048576.0})])
        err, _, entries = wire.describe_client_quotas(self.kgw.bootstrap, [("client-id", 1, None)])
        self.assertEqual(entries, [({"client-id": None}, {"request_percentage": 50.0})])
        # Removing the last value removes the entity.
        ok = wire.alter_client_quotas(self.kgw.bootstrap, [
            ([("user", "alice")], [("producer_byte_rate", 0.0, True)])])
        self.assertEqual(ok[0][0], 0)
        _, _, entries = wire.describe_client_quotas(self.kgw.bootstrap, [("user", 2, None)])
        self.assertEqual(entries, [])


if __name__ == "__main__":
    kgw_harness.main()
