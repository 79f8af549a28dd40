"""kgw-admin and its Kafka-named entry points (bin/kafka-topics.sh, ...)
against a real kgw: the commands a user types, their output and exit
status. DeleteRecords goes through librdkafka's admin API this way. The
consumer-group commands run once kgw serves consumer groups (they skip,
saying why, while it does not)."""

import json
import os
import subprocess
import tempfile
import time
import unittest

import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,  # noqa: E402
                             TopicPartition)

TIMEOUT = 60.0
BUILD_DIR = os.path.dirname(kgw_harness.kgw_path())
ADMIN = os.path.join(BUILD_DIR, "tools", "admin", "kgw-admin")
KAFKA_BIN = os.path.join(BUILD_DIR, "tools", "admin", "kafka", "bin")

if not os.access(ADMIN, os.X_OK):
    kgw_harness.skip_all(f"{ADMIN} is not built (it needs librdkafka-dev)")


class AdminTool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw()
        cls.kgw.start()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def run_tool(self, *args, script=None, ok=True):
        cmd = [os.path.join(KAFKA_BIN, script)] if script else [ADMIN]
        cmd += list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        if ok:
            self.assertEqual(p.returncode, 0, f"{cmd}: {p.stdout}{p.stderr}")
        else:
            self.assertNotEqual(p.returncode, 0, f"{cmd} succeeded: {p.stdout}")
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)  # one clear line
        return p

    def topics(self, *args, ok=True):
        return self.run_tool("--bootstrap-server", self.kgw.bootstrap, *args,
                             script="kafka-topics.sh", ok=ok)

    def configs(self, *args, ok=True):
        return self.run_tool("--bootstrap-server", self.kgw.bootstrap, *args,
                             script="kafka-configs.sh", ok=ok)

    def produce(self, topic, count):
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": False})
        for i in range(count):
            p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0)
        p.flush(TIMEOUT)

    def consumer(self, **conf):
        base = {"bootstrap.servers": self.kgw.bootstrap, "group.id": "kgw-it-admin",
                "enable.auto.commit": False, "enable.partition.eof": True,
                "log.connection.close": False}
        base.update(conf)
        return Consumer(base)

    def watermarks(self, topic):
        c = self.consumer()
        try:
            return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
        finally:
            c.close()

    def first_offset(self, topic, start=OFFSET_BEGINNING, **conf):
        """The first offset a consumer gets from `start`, or the error."""
        c = self.consumer(**conf)
        c.assign([TopicPartition(topic, 0, start)])
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is None:
                    continue
                return m.error() if m.error() else m.offset()
        finally:
            c.close()
        self.fail("no message and no error")

    def test_topics_lifecycle_as_kafka_topics_sh(self):
        out = self.topics("--create", "--topic", "tool-t", "--partitions", "2",
                          "--replication-factor", "1", "--config", "cleanup.policy=compact",
                          "--config", "segment.bytes=100000").stdout
        self.assertEqual(out, "Created topic tool-t.\n")
        err = self.topics("--create", "--topic", "tool-t", ok=False).stderr
        self.assertIn("Topic 'tool-t' already exists.", err)
        self.topics("--create", "--topic", "tool-t", "--if-not-exists")
        bad = self.topics("--create", "--topic", "tool-bad", "--config", "retention.ms=soon", ok=False)
        self.assertIn("Invalid value soon for configuration retention.ms: Not a number of type LONG",
                      bad.stderr)
        self.assertIn("tool-t", self.topics("--list").stdout.split())
        desc = self.topics("--describe", "--topic", "tool-t").stdout
        self.assertIn("Topic: tool-t\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: "
                      "cleanup.policy=compact,segment.bytes=100000", desc)
        self.assertIn("\tTopic: tool-t\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1", desc)
        self.topics("--alter", "--topic", "tool-t", "--partitions", "3")
        self.assertIn("PartitionCount: 3", self.topics("--describe", "--topic", "tool-t").stdout)
        # The kgw-admin spelling does the same.
        self.run_tool("topics", "describe", "--bootstrap-server", self.kgw.bootstrap, "--topic", "tool-.*")
        self.topics("--delete", "--topic", "tool-t")
        self.assertNotIn("tool-t", self.topics("--list").stdout.split())
        err = self.topics("--delete", "--topic", "tool-t", ok=False).stderr
        self.assertIn("does not exist", err)
        self.topics("--delete", "--topic", "tool-t", "--if-exists")

    def test_configs_as_kafka_configs_sh(self):
        self.topics("--create", "--topic", "tool-cfg", "--partitions", "1")
        out = self.configs("--alter", "--entity-type", "topics", "--entity-name", "tool-cfg",
                           "--add-config", "retention.ms=3600000,cleanup.policy=[compact,delete]").stdout
        self.assertEqual(out, "Completed updating config for topic tool-cfg.\n")
        desc = self.configs("--describe", "--entity-type", "topics", "--entity-name", "tool-cfg").stdout
        self.assertIn("Dynamic configs for topic tool-cfg are:", desc)
        self.assertIn("  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
                      "retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168}", desc)
        self.assertIn("  cleanup.policy=compact,delete sensitive=false", desc)
        self.configs("--alter", "--entity-type", "topics", "--entity-name", "tool-cfg",
                     "--delete-config", "retention.ms")
        desc = self.configs("--describe", "--entity-type", "topics", "--entity-name", "tool-cfg").stdout
        self.assertNotIn("retention.ms", desc)
        self.assertIn("cleanup.policy", desc)
        bad = self.configs("--alter", "--entity-type", "topics", "--entity-name", "tool-cfg",
                           "--add-config", "min.insync.replicas=0", ok=False)
        self.assertIn("Invalid value 0 for configuration min.insync.replicas: Value must be at least 1",
                      bad.stderr)
        bad = self.configs("--alter", "--entity-type", "topics", "--entity-name", "tool-cfg",
                           "--delete-config", "segment.ms", ok=False)
        self.assertIn("Invalid config(s): segment.ms", bad.stderr)
        # A dynamic broker config reaches the topic through its synonym.
        self.configs("--alter", "--entity-type", "brokers", "--entity-name", "1",
                     "--add-config", "log.retention.ms=7200000")
        all_cfg = self.configs("--describe", "--entity-type", "topics", "--entity-name", "tool-cfg",
                               "--all").stdout
        self.assertIn("  retention.ms=7200000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"
                      "log.retention.ms=7200000", all_cfg)
        self.configs("--alter", "--entity-type", "brokers", "--entity-name", "1",
                     "--delete-config", "log.retention.ms")

    def test_records_delete_moves_the_log_start(self):
        self.topics("--create", "--topic", "tool-rec", "--partitions", "1")
        self.produce("tool-rec", 100)
        out = self.run_tool("records", "delete", "--bootstrap-server", self.kgw.bootstrap,
                            "--topic", "tool-rec", "--partition", "0", "--offset", "40").stdout
        self.assertIn("partition: tool-rec-0\tlow_watermark: 40", out)
        self.assertEqual(self.watermarks("tool-rec"), (40, 100))
        self.assertEqual(self.first_offset("tool-rec"), 40)
        err = self.first_offset("tool-rec", start=10, **{"auto.offset.reset": "error"})
        self.assertIsInstance(err, KafkaError)
        self.assertIn("out of range", err.str().lower())
        # Kafka's JSON file; -1 is the high watermark.
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump({"partitions": [{"topic": "tool-rec", "partition": 0, "offset": -1}], "version": 1}, f)
            f.flush()
            out = self.run_tool("--bootstrap-server", self.kgw.bootstrap, "--offset-json-file", f.name,
                                script="kafka-delete-records.sh").stdout
        self.assertIn("low_watermark: 100", out)
        self.assertEqual(self.watermarks("tool-rec"), (100, 100))
        # Beyond the high watermark, and on a compact-only topic: refused.
        out = self.run_tool("records", "delete", "--bootstrap-server", self.kgw.bootstrap, "--topic",
                            "tool-rec", "--partition", "0", "--offset", "500", ok=False).stdout
        self.assertIn("Offset out of range", out)
        self.topics("--create", "--topic", "tool-rec-c", "--config", "cleanup.policy=compact")
        self.produce("tool-rec-c", 3)
        out = self.run_tool("records", "delete", "--bootstrap-server", self.kgw.bootstrap, "--topic",
                            "tool-rec-c", "--partition", "0", "--offset", "1", ok=False).stdout
        self.assertIn("Policy violation", out)

    def test_acls_answer_as_kafka_without_an_authorizer(self):
        p = self.run_tool("--bootstrap-server", self.kgw.bootstrap, "--add", "--deny-principal", "User:*",
                          "--operation", "All", "--deny-host", "*", "--topic", "tool-acl",
                          script="kafka-acls.sh", ok=False)
        self.assertIn("No Authorizer is configured on the broker", p.stderr)

    def test_bad_usage_is_one_line_and_exit_2(self):
        p = subprocess.run([ADMIN, "topics", "--create", "--bootstrap-server", self.kgw.bootstrap,
                            "--frobnicate"], capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unrecognized option '--frobnicate'", p.stderr)
        p = subprocess.run([ADMIN, "topics", "--list"], capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--bootstrap-server HOST:PORT is required", p.stderr)

    def test_groups_commands(self):
        self.topics("--create", "--topic", "tool-grp", "--partitions", "1")
        self.produce("tool-grp", 10)
        c = self.consumer(**{"group.id": "tool-group"})
        c.commit(offsets=[TopicPartition("tool-grp", 0, 7)], asynchronous=False)
        c.close()
        b = ["--bootstrap-server", self.kgw.bootstrap]
        self.assertIn("tool-group", self.run_tool("groups", "list", *b).stdout.split())
        desc = self.run_tool("groups", "describe", *b, "--group", "tool-group").stdout
        row = [line.split() for line in desc.splitlines() if line.startswith("tool-group")]
        self.assertEqual(row[0][:6], ["tool-group", "tool-grp", "0", "7", "10", "3"])
        out = self.run_tool("groups", "reset-offsets", *b, "--group", "tool-group", "--topic", "tool-grp",
                            "--to-earliest", "--execute").stdout
        self.assertIn("tool-group", out)
        c = self.consumer(**{"group.id": "tool-group"})
        self.assertEqual(c.committed([TopicPartition("tool-grp", 0)], timeout=TIMEOUT)[0].offset, 0)
        c.close()
        out = self.run_tool("groups", "delete", *b, "--group", "tool-group").stdout
        self.assertIn("Deletion of requested consumer groups ('tool-group') was successful.", out)
        self.assertNotIn("tool-group", self.run_tool("groups", "list", *b).stdout.split())


if __name__ == "__main__":
    kgw_harness.main()
