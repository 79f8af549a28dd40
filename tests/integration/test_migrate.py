"""Migration, first slice (issue 17): `kgw-admin migrate start` makes kgw
mirror a legacy topic (librdkafka's mock cluster, 3 brokers) into its own
store with the same offsets, while clients still go to the legacy cluster.

The legacy topic gets keyed records with headers from an idempotent
producer and, if the mock supports it, an aborted and a committed
transaction. After `migrate start`, `migrate status --json` must show
mirrored_offset == legacy_high_watermark on every partition; kgw is killed
(SIGKILL) and restarted while the legacy topic grows, and must resume from
its local log end. Then kgw is restarted WITHOUT --upstream on the same data
dir, so the topic is read from kgw's own copy, and every offset's record
(key, value, headers, timestamp) must be the mock's; read committed, kgw's
copy stops where the mock's (marker-less) transactions begin."""

import json
import os
import subprocess
import time
import unittest

import kgw_harness
from test_proxy import MockCluster

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (Consumer, KafkaError, KafkaException, OFFSET_BEGINNING,  # noqa: E402
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions  # noqa: E402

TIMEOUT = 60
TOPIC = "legacy"
PARTITIONS = 3
BUILD_DIR = os.path.dirname(kgw_harness.kgw_path())
ADMIN = os.path.join(BUILD_DIR, "tools", "admin", "kgw-admin")
if not os.access(ADMIN, os.X_OK):
    kgw_harness.skip_all(f"{ADMIN} is not built (it needs librdkafka-dev)")


def produce_idempotent(bootstrap, start, count):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(TOPIC, key=f"k{i % 17}".encode(), value=f"v{i}".encode(),
                  partition=i % PARTITIONS, headers=[("h", f"{i}".encode()), ("n", b"")])
    assert p.flush(TIMEOUT) == 0, "records left unsent"


def produce_transactions(bootstrap):
    """An aborted then a committed transaction; False if the mock has no
    transactions."""
    try:
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "mig-txn",
                      "transaction.timeout.ms": 10000})
        p.init_transactions(20)
        p.begin_transaction()
        for i in range(12):
            p.produce(TOPIC, key=b"aborted", value=f"a{i}".encode(), partition=i % PARTITIONS)
        p.flush(TIMEOUT)
        p.abort_transaction(20)
        p.begin_transaction()
        for i in range(12):
            p.produce(TOPIC, key=b"committed", value=f"c{i}".encode(), partition=i % PARTITIONS)
        p.commit_transaction(20)
        return True
    except KafkaException as e:
        print(f"no transactions on the mock cluster: {e}")
        return False


def read_all(bootstrap, isolation):
    """Every record of every partition up to its end:
    [(partition, offset, key, value, headers, timestamp)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "mig-unused",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": isolation, "fetch.wait.max.ms": 100})
    try:
        # From each log start (a fetch below it would jump to the end).
        c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        out, eof = [], set()
        deadline = time.monotonic() + TIMEOUT
        while len(eof) < PARTITIONS:
            if time.monotonic() > deadline:
                raise AssertionError(f"{bootstrap}: only {len(out)} records, eof {eof}")
            for m in c.consume(num_messages=10_000, timeout=0.5):
                if m.error() is not None:
                    if m.error().code() == -191:  # _PARTITION_EOF
                        eof.add(m.partition())
                        continue
                    raise AssertionError(f"consumer error: {m.error()}")
                out.append((m.partition(), m.offset(), m.key(), m.value(),
                            tuple(m.headers() or ()), m.timestamp()))
        return sorted(out)
    finally:
        c.close()


def admin(*args, check=True):
    r = subprocess.run([ADMIN, "migrate", *args], capture_output=True, text=True, timeout=TIMEOUT)
    if check and r.returncode != 0:
        raise AssertionError(f"kgw-admin migrate {' '.join(args)}: exit {r.returncode}\n"
                             f"{r.stdout}{r.stderr}")
    return r


class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.mock = MockCluster("--brokers", "3", "--topic", f"{TOPIC}:{PARTITIONS}")
        self.addCleanup(self.mock.close)
        self.kgw = kgw_harness.Kgw("--upstream", self.mock.bootstrap)
        self.addCleanup(self.kgw.close)

    def start_kgw(self):
        self.kgw.start()
        a = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        kgw_harness.wait_until(lambda: TOPIC in a.list_topics(timeout=TIMEOUT).topics, TIMEOUT,
                               what="the legacy topic in kgw's metadata")

    def status(self):
        r = admin("status", "--bootstrap-server", self.kgw.bootstrap, "--topic", TOPIC, "--json",
                  "--interval", "0")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def wait_mirrored(self):
        last = []

        def caught_up():
            nonlocal last
            last = self.status()
            return len(last) == PARTITIONS and all(
                s["state"] == "mirroring" and s["legacy_high_watermark"] > 0
                and s["mirrored_offset"] == s["legacy_high_watermark"] for s in last)
        try:
            kgw_harness.wait_until(caught_up, TIMEOUT, interval=0.2, what="the mirror caught up")
        except Exception:
            print("last status:", last)
            raise
        return last

    def test_mirror_is_offset_identical_and_resumes(self):
        produce_idempotent(self.mock.bootstrap, 0, 300)
        txns = produce_transactions(self.mock.bootstrap)
        self.start_kgw()

        before = self.status()
        self.assertEqual([s["state"] for s in before], ["upstream"] * PARTITIONS)
        self.assertTrue(all(s["mirrored_offset"] == -1 for s in before), before)

        admin("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", TOPIC)
        # Again: no error, nothing changes.
        again = admin("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", TOPIC)
        self.assertIn("already mirroring", again.stdout)
        # The state is a topic config of kgw's copy, which keeps no
        # retention of its own (its log start follows the legacy one).
        described = subprocess.run(
            [ADMIN, "configs", "describe", "--bootstrap-server", self.kgw.bootstrap,
             "--entity-type", "topics", "--entity-name", TOPIC],
            capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
        for config in ("kgw.migration.state=mirroring", "retention.ms=-1", "retention.bytes=-1"):
            self.assertIn(config, described)
        # The state moves only with kgw-admin migrate, never by AlterConfigs.
        alter = subprocess.run(
            [ADMIN, "configs", "alter", "--bootstrap-server", self.kgw.bootstrap,
             "--entity-type", "topics", "--entity-name", TOPIC,
             "--add-config", "kgw.migration.state=local"],
            capture_output=True, text=True, timeout=TIMEOUT)
        self.assertNotEqual(alter.returncode, 0, alter.stdout)
        self.assertIn("kgw-admin migrate", alter.stdout + alter.stderr)
        # A full replace (the legacy AlterConfigs) that leaves kgw's
        # migration configs out keeps them: the topic stays mirroring.
        a = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        replaced = ConfigResource(ConfigResource.Type.TOPIC, TOPIC,
                                  set_config={"retention.ms": "-1", "retention.bytes": "-1",
                                              "max.message.bytes": "2000000"})
        a.alter_configs([replaced])[replaced].result(timeout=TIMEOUT)
        described = {c.name: c.value for c in a.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, TOPIC)])[replaced].result(
                timeout=TIMEOUT).values()}
        self.assertEqual(described.get("kgw.migration.state"), "mirroring", described)
        self.assertEqual(described.get("max.message.bytes"), "2000000", described)
        # Deleting it or adding partitions through kgw would act on kgw's
        # copy alone while clients still use the legacy topic: refused.
        with self.assertRaises(KafkaException) as cm:
            a.delete_topics([TOPIC])[TOPIC].result(TIMEOUT)
        self.assertEqual(cm.exception.args[0].code(), KafkaError.POLICY_VIOLATION)
        with self.assertRaises(KafkaException) as cm:
            a.create_partitions([NewPartitions(TOPIC, PARTITIONS + 1)])[TOPIC].result(TIMEOUT)
        self.assertEqual(cm.exception.args[0].code(), KafkaError.POLICY_VIOLATION)
        self.assertIn("migrate rollback", cm.exception.args[0].str())  # what to do
        first = self.wait_mirrored()
        human = admin("status", "--bootstrap-server", self.kgw.bootstrap, "--topic", TOPIC)
        self.assertIn("mirroring", human.stdout)
        self.assertIn("BEHIND", human.stdout)

        # Clients still go to the legacy cluster: a record produced through
        # kgw lands on the mock (its high watermark moves), and the mirror
        # follows.
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": True})
        p.produce(TOPIC, key=b"via-kgw", value=b"x", partition=0)
        self.assertEqual(p.flush(TIMEOUT), 0)
        c = Consumer({"bootstrap.servers": self.mock.bootstrap, "group.id": "mig-unused"})
        low, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=TIMEOUT)
        c.close()
        self.assertEqual(high, first[0]["legacy_high_watermark"] + 1)
        self.wait_mirrored()

        # Killed while the legacy topic grows: resumes at its local log end.
        self.kgw.kill()
        produce_idempotent(self.mock.bootstrap, 300, 150)
        self.start_kgw()
        produce_idempotent(self.mock.bootstrap, 450, 150)
        after = self.wait_mirrored()
        self.assertGreater(sum(s["legacy_high_watermark"] for s in after),
                           sum(s["legacy_high_watermark"] for s in first) + 300)

        # kgw's own copy, read as a local topic (no --upstream): every
        # offset's record is the legacy one's.
        self.kgw.stop()
        self.kgw.extra_args = []
        self.kgw.start()
        legacy = read_all(self.mock.bootstrap, "read_uncommitted")
        local = read_all(self.kgw.bootstrap, "read_uncommitted")
        self.assertEqual(len(local), len(legacy))
        for a, b in zip(legacy, local):
            self.assertEqual(a, b)
        if txns:
            # librdkafka's mock writes no transaction markers (its EndTxn
            # leaves the partitions as they are) and has no last stable
            # offset: its transactional batches are open transactions that
            # never end. Copied with their producer ids and transactional
            # flag, they are open transactions in kgw too: read_committed
            # stops at the first of them on every partition.
            committed = read_all(self.kgw.bootstrap, "read_committed")
            first_txn = {}
            for r in legacy:
                if r[2] in (b"aborted", b"committed") and r[0] not in first_txn:
                    first_txn[r[0]] = r[1]
            self.assertEqual(committed, [r for r in legacy if r[1] < first_txn[r[0]]])
            self.assertEqual(sum(1 for r in local if r[2] == b"aborted"), 12)

    def test_start_refuses_a_topic_the_legacy_cluster_does_not_have(self):
        self.start_kgw()
        r = admin("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", "nope",
                  check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("nope", r.stderr)


class MigrateFromKgwTest(MigrateTest):
    """The same with a second kgw as the legacy cluster, which writes
    transaction markers and lets records be deleted: the copy starts at the
    legacy log start, and read committed too every offset is the legacy
    one's (aborted data and markers copied). kgw is killed while the copy
    is still going."""

    def setUp(self):
        self.legacy = kgw_harness.Kgw(name="legacy")
        self.legacy.start()
        self.addCleanup(self.legacy.close)
        subprocess.run([ADMIN, "topics", "create", "--bootstrap-server", self.legacy.bootstrap,
                        "--topic", TOPIC, "--partitions", str(PARTITIONS)], check=True,
                       capture_output=True, timeout=TIMEOUT)
        self.kgw = kgw_harness.Kgw("--upstream", self.legacy.bootstrap)
        self.addCleanup(self.kgw.close)

    def test_mirror_is_offset_identical_and_resumes(self):
        legacy = self.legacy.bootstrap
        produce_idempotent(legacy, 0, 3000)
        self.assertTrue(produce_transactions(legacy))
        produce_idempotent(legacy, 3000, 300)
        subprocess.run([ADMIN, "records", "delete", "--bootstrap-server", legacy, "--topic", TOPIC,
                        "--partition", "1", "--offset", "57"], check=True, capture_output=True,
                       timeout=TIMEOUT)
        self.start_kgw()
        admin("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", TOPIC)
        # Killed as soon as the copy has begun (if it was not done already).
        kgw_harness.wait_until(
            lambda: any(s["mirrored_offset"] > 0 for s in self.status()), TIMEOUT,
            what="the copy begun")
        self.kgw.kill()
        produce_idempotent(legacy, 3300, 150)
        self.start_kgw()
        self.wait_mirrored()

        self.kgw.stop()
        self.kgw.extra_args = []
        self.kgw.start()
        c = Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": "mig-unused"})
        d = Consumer({"bootstrap.servers": legacy, "group.id": "mig-unused"})
        for p in range(PARTITIONS):
            self.assertEqual(c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=TIMEOUT),
                             d.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=TIMEOUT))
        self.assertEqual(c.get_watermark_offsets(TopicPartition(TOPIC, 1), timeout=TIMEOUT)[0],
                         57)
        c.close()
        d.close()
        for isolation in ("read_uncommitted", "read_committed"):
            want = read_all(legacy, isolation)
            got = read_all(self.kgw.bootstrap, isolation)
            self.assertEqual(len(got), len(want), isolation)
            for a, b in zip(want, got):
                self.assertEqual(a, b, isolation)
        committed = read_all(self.kgw.bootstrap, "read_committed")
        self.assertEqual(min(r[1] for r in committed if r[0] == 1), 57)
        self.assertEqual(sum(1 for r in committed if r[2] == b"aborted"), 0)
        self.assertEqual(sum(1 for r in committed if r[2] == b"committed"), 12)

    def test_start_refuses_a_topic_the_legacy_cluster_does_not_have(self):
        pass  # as MigrateTest's


if __name__ == "__main__":
    kgw_harness.main()
