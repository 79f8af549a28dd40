"""Migration, cutover (issue 17): a topic of the legacy cluster
(librdkafka's mock cluster, 3 brokers) moves to kgw while an idempotent
acks=all producer with keys and a consumer group run through kgw from
before `migrate start` to after `migrate finalize`.

The checker asserts what the clients were told against what the logs
hold: every acknowledged record is in kgw's log exactly once, at the offset
its acknowledgement gave (0 lost, 0 duplicated); every offset the legacy
cluster has is, record for record, the same in kgw's log; the consumer's
(partition, offset) sequence is gap-free and without repeats across the
cutover. The producer's longest wait for an acknowledgement around the
cutover is printed (the pause), not asserted: timings are the benchmarks'.

Also: a cutover that cannot finish within migration.cutover.max.pause.ms
(a transaction left open on the legacy cluster) goes back to mirroring and
produce flows to the legacy cluster again; rollback drops kgw's copy
before the cutover, and after it copies kgw's records back (live, and
across a kill -9); the steps out of order are refused with the reason."""

import json
import os
import signal
import subprocess
import threading
import time
import unittest

import kgw_harness
from mock_cluster import MockCluster

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (Consumer, KafkaException, OFFSET_BEGINNING, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka_wire import Conn, Enc, list_offsets_latest, offset_for_leader_epoch  # noqa: E402

TIMEOUT = 60
PARTITIONS = 3
BUILD_DIR = os.path.dirname(kgw_harness.kgw_path())
ADMIN = os.path.join(BUILD_DIR, "tools", "admin", "kgw-admin")
if not os.access(ADMIN, os.X_OK):
    kgw_harness.skip_all(f"{ADMIN} is not built (it needs librdkafka-dev)")


def migrate(*args, check=True):
    r = subprocess.run([ADMIN, "migrate", *args], capture_output=True, text=True,
                       timeout=TIMEOUT + 30)
    if check and r.returncode != 0:
        raise AssertionError(f"kgw-admin migrate {' '.join(args)}: exit {r.returncode}\n"
                             f"{r.stdout}{r.stderr}")
    return r


def read_all(bootstrap, topic, committed=False):
    """Every record of every partition up to its end (with `committed`, as
    a read_committed consumer, up to the last stable offset):
    {(partition, offset): (key, value)}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cutover-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "fetch.wait.max.ms": 100,
                  "isolation.level": "read_committed" if committed else "read_uncommitted"})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        out, eof = {}, set()
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
                out[(m.partition(), m.offset())] = (m.key(), m.value())
        return out
    finally:
        c.close()


class LoadProducer(threading.Thread):
    """Idempotent acks=all producer through kgw: keyed records v0, v1, ...
    at about `rate` per second; keeps what each acknowledgement said."""

    def __init__(self, bootstrap, topic, rate=400):
        super().__init__(daemon=True)
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                           "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})
        self.topic = topic
        self.rate = rate
        self.stop_flag = threading.Event()
        self.acked = {}  # value -> (partition, offset)
        self.errors = []
        self.sent_at = {}
        self.waits = []  # (sent at, waited for the acknowledgement)
        self.count = 0

    def on_delivery(self, err, msg):
        v = msg.value().decode()
        if err is not None:
            self.errors.append((v, str(err)))
            return
        self.acked[v] = (msg.partition(), msg.offset())
        sent = self.sent_at.pop(v)
        self.waits.append((sent, time.monotonic() - sent))

    def run(self):
        while not self.stop_flag.is_set():
            v = f"v{self.count}"
            self.sent_at[v] = time.monotonic()
            self.p.produce(self.topic, key=f"k{self.count % 29}".encode(), value=v.encode(),
                           on_delivery=self.on_delivery)
            self.count += 1
            self.p.poll(0)
            time.sleep(1.0 / self.rate)
        assert self.p.flush(TIMEOUT) == 0, "records left unsent"

    def finish(self):
        self.stop_flag.set()
        self.join(TIMEOUT + 10)


class GroupConsumer(threading.Thread):
    """A consumer group member through kgw, committing as it goes; keeps
    the (partition, offset) sequence it was given."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cutover-group",
                           "auto.offset.reset": "earliest", "enable.auto.commit": True,
                           "auto.commit.interval.ms": 200, "fetch.wait.max.ms": 100,
                           # A JoinGroup lost with a killed kgw holds the
                           # legacy coordinator's rebalance until these.
                           "session.timeout.ms": 6000, "max.poll.interval.ms": 10000})
        self.c.subscribe([topic])
        self.stop_flag = threading.Event()
        self.seen = []
        self.errors = []

    def run(self):
        while not self.stop_flag.is_set():
            for m in self.c.consume(num_messages=1000, timeout=0.2):
                if m.error() is not None:
                    self.errors.append(str(m.error()))
                    continue
                self.seen.append((m.partition(), m.offset(), m.value().decode()))
        self.c.close()

    def finish(self):
        self.stop_flag.set()
        self.join(TIMEOUT)


class TxnPipeline(threading.Thread):
    """Consume-transform-produce through kgw, exactly once: reads `src` in
    group `group` (read_committed), writes each record to `dst` and commits
    its input offsets in the same transaction. Any error is kept (and
    fails the test): none is expected across the cutover."""

    def __init__(self, bootstrap, src, dst, group="ctp"):
        super().__init__(daemon=True)
        self.dst = dst
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                           "isolation.level": "read_committed", "enable.auto.commit": False,
                           "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50,
                           "session.timeout.ms": 10000})
        self.p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{group}-txn",
                           "transaction.timeout.ms": 30000, "linger.ms": 5})
        self.p.init_transactions(TIMEOUT)
        self.c.subscribe([src])
        self.stop_flag = threading.Event()
        self.transactions = 0
        self.errors = []

    def run(self):
        try:
            while not self.stop_flag.is_set():
                msgs = self.c.consume(num_messages=50, timeout=0.1)
                self.errors += [str(m.error()) for m in msgs if m.error() is not None]
                msgs = [m for m in msgs if m.error() is None]
                if not msgs:
                    continue
                self.p.begin_transaction()
                for m in msgs:
                    self.p.produce(self.dst, key=m.key(), value=m.value(), partition=m.partition())
                self.p.send_offsets_to_transaction(self.c.position(self.c.assignment()),
                                                   self.c.consumer_group_metadata(), TIMEOUT)
                self.p.commit_transaction(TIMEOUT)
                self.transactions += 1
        except KafkaException as e:
            self.errors.append(str(e))
        finally:
            self.c.close()

    def finish(self):
        self.stop_flag.set()
        self.join(TIMEOUT + 10)


class TxnWriter(threading.Thread):
    """A transactional producer through kgw writing three records per
    transaction to `topic`, committing two transactions of three and
    aborting the third."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.topic = topic
        self.p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "writer-txn",
                           "transaction.timeout.ms": 30000, "linger.ms": 2})
        self.p.init_transactions(TIMEOUT)
        self.stop_flag = threading.Event()
        self.committed, self.aborted, self.errors = set(), set(), []

    def run(self):
        i = 0
        try:
            while not self.stop_flag.is_set():
                values = {f"t{i}-{j}" for j in range(3)}
                self.p.begin_transaction()
                for j, v in enumerate(sorted(values)):
                    self.p.produce(self.topic, value=v.encode(), partition=(i + j) % PARTITIONS)
                if i % 3 == 2:
                    self.p.abort_transaction(TIMEOUT)
                    self.aborted |= values
                else:
                    self.p.commit_transaction(TIMEOUT)
                    self.committed |= values
                i += 1
                time.sleep(0.01)
        except KafkaException as e:
            self.errors.append(str(e))

    def finish(self):
        self.stop_flag.set()
        self.join(TIMEOUT + 10)


class CutoverTest(unittest.TestCase):
    def start(self, topic, *extra, legacy_kgw=False, legacy_configs=None, more_topics=()):
        """The legacy cluster (`self.mock`): librdkafka's mock cluster, or
        with `legacy_kgw` a second kgw (a broker whose idempotence
        deduplicates retried batches as Kafka's does, with `more_topics`
        too), and kgw in front."""
        if legacy_kgw:
            self.mock = kgw_harness.Kgw(name="legacy")
            self.mock.start()
            self.addCleanup(self.mock.close)
            admin = AdminClient({"bootstrap.servers": self.mock.bootstrap})
            topics = [NewTopic(topic, PARTITIONS, 1, config=legacy_configs or {})]
            topics += [NewTopic(t, PARTITIONS, 1) for t in more_topics]
            for f in admin.create_topics(topics).values():
                f.result(TIMEOUT)
        else:
            self.mock = MockCluster("--brokers", "3", "--topic", f"{topic}:{PARTITIONS}")
            self.addCleanup(self.mock.close)
        self.kgw = kgw_harness.Kgw("--upstream", self.mock.bootstrap, *extra)
        self.addCleanup(self.kgw.close)
        self.kgw.start()
        a = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        kgw_harness.wait_until(lambda: topic in a.list_topics(timeout=TIMEOUT).topics, TIMEOUT,
                               what="the legacy topic in kgw's metadata")

    def status(self, topic):
        r = migrate("status", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic, "--json",
                    "--interval", "0")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def legacy_ends(self, topic):
        """The legacy cluster's high watermarks, asked of it directly."""
        c = Consumer({"bootstrap.servers": self.mock.bootstrap, "group.id": "cutover-unused"})
        try:
            return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)[1]
                    for p in range(PARTITIONS)]
        finally:
            c.close()

    def wait_behind(self, topic, most):
        def close_enough():
            s = self.status(topic)
            return len(s) == PARTITIONS and all(
                p["mirrored_offset"] >= 0 and
                p["legacy_high_watermark"] - p["mirrored_offset"] <= most for p in s)
        kgw_harness.wait_until(close_enough, TIMEOUT, interval=0.2,
                               what=f"the mirror of {topic} within {most} offsets")

    def check(self, topic, producer, consumer, legacy_end, what, pause_waits):
        """The checker: what the clients were told against both logs."""
        local = read_all(self.kgw.bootstrap, topic)
        legacy = read_all(self.mock.bootstrap, topic)
        by_value = {}
        for (p, o), (k, v) in local.items():
            by_value.setdefault(v.decode(), []).append((p, o))
        lost = [v for v in producer.acked if v not in by_value]
        duplicated = [v for v, where in by_value.items() if len(where) > 1]
        misplaced = [v for v, at in producer.acked.items() if by_value.get(v, [at])[0] != at]
        diverged = [po for po, rec in legacy.items() if local.get(po) != rec]
        pause = f"{max(pause_waits) * 1000:.0f} ms" if pause_waits else "-"
        print(f"acknowledged {len(producer.acked)} records ({what}); kgw holds {len(local)}, "
              f"the legacy cluster {len(legacy)}; longest wait for an acknowledgement of a "
              f"record sent during the cutover (the producer's pause): {pause}; over the whole "
              f"run (the producer's start included): "
              f"{max(w for _, w in producer.waits) * 1000:.0f} ms")
        self.assertEqual((len(lost), len(duplicated), len(misplaced), len(diverged)), (0, 0, 0, 0),
                         f"lost {lost[:5]} duplicated "
                         f"{[(v, by_value[v], producer.acked.get(v)) for v in duplicated[:5]]} "
                         f"misplaced {misplaced[:5]} diverged {diverged[:5]}; the legacy log "
                         f"ends at {legacy_end}")
        # The legacy log stopped where kgw took over.
        self.assertEqual(self.legacy_ends(topic), legacy_end)
        # The consumer: per partition, offsets follow each other from its
        # first one, none skipped; none twice unless it re-read after a
        # kgw restart (its last commit), and then the same record.
        for p in range(PARTITIONS):
            offsets = sorted({o for q, o, _ in consumer.seen if q == p})
            self.assertTrue(offsets, f"partition {p}: nothing consumed")
            self.assertEqual(offsets, list(range(offsets[0], offsets[0] + len(offsets))),
                             f"partition {p}: gap in the consumed offsets")
        for q, o, v in consumer.seen:
            self.assertEqual(local[(q, o)][1].decode(), v, f"{q}/{o} read as another record")

    def test_live_cutover_loses_and_duplicates_nothing(self):
        topic = "live"
        self.start(topic)
        producer = LoadProducer(self.kgw.bootstrap, topic)
        consumer = GroupConsumer(self.kgw.bootstrap, topic)
        producer.start()
        consumer.start()
        self.addCleanup(producer.finish)
        self.addCleanup(consumer.finish)
        kgw_harness.wait_until(lambda: len(producer.acked) > 300, TIMEOUT,
                               what="the producer under way")

        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 400)
        # Live progress: rates over two looks --interval apart while copying.
        r = migrate("status", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic,
                    "--json", "--interval", "300")
        # (Present and not negative; how fast is the benchmarks' business, and
        # on a loaded machine a partition may not move in 300 ms.)
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        self.assertEqual(len(rows), PARTITIONS)
        for row in rows:
            self.assertGreaterEqual(row["offsets_per_s"], 0, row)
            self.assertGreaterEqual(row["bytes_per_s"], 0, row)
        human = migrate("status", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic,
                        "--interval", "300")
        self.assertIn("OFFSETS/S", human.stdout)
        self.assertIn("ETA", human.stdout)
        time.sleep(1)  # the cutover's pause, apart from the start's
        # Out of order: finalize before the cutover is refused.
        early = migrate("finalize", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic,
                        check=False)
        self.assertNotEqual(early.returncode, 0)
        self.assertIn("finalize comes after the cutover", early.stderr)

        before_cutover = producer.count
        cutover_at = time.monotonic()
        cut = migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        cutover_done = time.monotonic()
        print(cut.stdout, end="")
        self.assertIn("done in", cut.stdout)
        legacy_end = self.legacy_ends(topic)
        status = self.status(topic)
        self.assertEqual({s["state"] for s in status}, {"local"}, status)
        self.assertEqual({s["finalized"] for s in status}, {False}, status)
        # Producing and consuming go on, now against kgw's copy.
        kgw_harness.wait_until(lambda: producer.count > before_cutover + 800, TIMEOUT,
                               what="more records produced after the cutover")
        producer.finish()
        self.assertEqual(producer.errors, [])
        kgw_harness.wait_until(
            lambda: {(p, o) for p, o, _ in consumer.seen} >= set(producer.acked.values()),
            TIMEOUT, what="the consumer read every acknowledged record")
        consumer.finish()
        migrate("finalize", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.assertEqual({s["finalized"] for s in self.status(topic)}, {True})
        # Finalized: the legacy copy is written off, no rollback any more.
        late = migrate("rollback", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic,
                       check=False)
        self.assertNotEqual(late.returncode, 0)
        self.assertIn("written off", late.stderr)

        self.check(topic, producer, consumer, legacy_end,
                   f"{before_cutover} sent before the cutover",
                   [w for t, w in producer.waits if cutover_at - 0.5 < t < cutover_done + 0.5])
        self.assertEqual(consumer.errors, [])

    def test_kill_during_mirroring_and_cutover(self):
        """kill -9 of kgw while it mirrors, and again right after the
        cutover was asked: the mirror resumes, the cutover finishes after
        the restart (or, abandoned, is asked again), still 0 lost and 0
        duplicated; the clients ride through the restarts. The legacy
        cluster is a second kgw: a produce in flight when kgw dies is
        retried by the client, and librdkafka's mock cluster wrote such a
        retry a second time in 2 of 4 runs (the duplicate sat in its own
        log, at consecutive offsets: it did not deduplicate the retry),
        which no proxy can undo; a second kgw deduplicates it, as Kafka."""
        topic = "killed"
        self.start(topic, legacy_kgw=True)
        producer = LoadProducer(self.kgw.bootstrap, topic)
        consumer = GroupConsumer(self.kgw.bootstrap, topic)
        producer.start()
        consumer.start()
        self.addCleanup(producer.finish)
        self.addCleanup(consumer.finish)
        kgw_harness.wait_until(lambda: len(producer.acked) > 300, TIMEOUT,
                               what="the producer under way")
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        time.sleep(0.3)
        self.kgw.restart(kill=True, same_port=True)
        self.wait_behind(topic, 400)
        acked = len(producer.acked)
        kgw_harness.wait_until(lambda: len(producer.acked) > acked + 200, TIMEOUT,
                               what="the producer going on after the restart")

        # The cutover asked (the state written), then kgw killed at once.
        subprocess.run(
            [ADMIN, "configs", "alter", "--bootstrap-server", self.kgw.bootstrap,
             "--entity-type", "topics", "--entity-name", topic,
             "--add-config", "kgw.migration.state=cutover"],
            capture_output=True, text=True, timeout=TIMEOUT, check=True)
        self.kgw.restart(kill=True, same_port=True)
        state = None

        def settled():
            nonlocal state
            state = {s["state"] for s in self.status(topic)}
            return state in ({"local"}, {"mirroring"})
        kgw_harness.wait_until(settled, TIMEOUT, interval=0.1, what="the cutover settled")
        print(f"after the restart the cutover left the topic {state}")
        if state == {"mirroring"}:
            migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        legacy_end = self.legacy_ends(topic)
        count = producer.count
        kgw_harness.wait_until(lambda: producer.count > count + 400, TIMEOUT,
                               what="more records produced after the cutover")
        producer.finish()
        self.assertEqual(producer.errors, [])
        kgw_harness.wait_until(
            lambda: {(p, o) for p, o, _ in consumer.seen} >= set(producer.acked.values()),
            TIMEOUT, what="the consumer read every acknowledged record")
        consumer.finish()
        self.check(topic, producer, consumer, legacy_end, "kgw killed twice", [])

    def test_cutover_held_by_an_open_transaction_goes_back_to_mirroring(self):
        topic = "held"
        self.start(topic, "--set", "migration.cutover.max.pause.ms=300")
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": True})
        for i in range(30):
            p.produce(topic, value=f"r{i}".encode(), partition=i % PARTITIONS)
        self.assertEqual(p.flush(TIMEOUT), 0)
        try:
            txn = Producer({"bootstrap.servers": self.mock.bootstrap,
                            "transactional.id": "held-open", "transaction.timeout.ms": 60000})
            txn.init_transactions(20)
            txn.begin_transaction()
            txn.produce(topic, value=b"open", partition=1)
            self.assertEqual(txn.flush(TIMEOUT), 0)
        except KafkaException as e:
            self.skipTest(f"no transactions on the mock cluster: {e}")
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 0)

        held = migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic,
                       check=False)
        self.assertNotEqual(held.returncode, 0, held.stdout)
        self.assertIn("abandoned", held.stderr)
        self.assertIn("a transaction is open", self.kgw.stderr_tail(80))
        self.assertEqual({s["state"] for s in self.status(topic)}, {"mirroring"})
        # Produce flows to the legacy cluster again.
        p.produce(topic, value=b"after", partition=0)
        self.assertEqual(p.flush(TIMEOUT), 0)

        legacy = read_all(self.mock.bootstrap, topic)
        self.assertIn(b"after", [v for _, v in legacy.values()])
        # (librdkafka's mock writes no transaction markers, so its
        # transactions never end in the log: the cutover after the commit
        # is the real-Kafka test's, not this one's.)
        txn.abort_transaction(20)
        out = migrate("rollback", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.assertIn("Rolled back", out.stdout)

    def test_an_abort_kgw_held_back_during_a_cutover_is_no_error(self):
        """While a cutover holds its topic, kgw answers a new
        transaction's AddPartitionsToTxn for it CONCURRENT_TRANSACTIONS
        (clients retry) without asking the legacy coordinator. A producer
        that aborts then sends EndTxn for a transaction the legacy
        coordinator never heard of: INVALID_TXN_STATE there, which
        librdkafka makes fatal (a CI run of the test below died of it).
        Aborting nothing is done: kgw answers it without error."""
        topic = "held-back"
        self.start(topic, "--set", "migration.cutover.max.pause.ms=4000", legacy_kgw=True)
        # A transaction open on the legacy cluster itself holds the cutover.
        holder = Producer({"bootstrap.servers": self.mock.bootstrap,
                           "transactional.id": "holder", "transaction.timeout.ms": 60000})
        holder.init_transactions(TIMEOUT)
        holder.begin_transaction()
        holder.produce(topic, value=b"open", partition=1)
        self.assertEqual(holder.flush(TIMEOUT), 0)
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 0)

        c = Conn(self.kgw.bootstrap)
        self.addCleanup(c.close)
        txn_id = "aborts-while-held"

        def init_producer_id():
            d = c.call(22, 1, Enc().string(txn_id).i32(60000))
            d.i32()  # throttle
            return d.i16(), d.i64(), d.i16()
        kgw_harness.wait_until(lambda: init_producer_id()[0] == 0, TIMEOUT,
                               what="InitProducerId through kgw")
        _, pid, epoch = init_producer_id()

        cutover = subprocess.Popen([ADMIN, "migrate", "cutover", "--bootstrap-server",
                                    self.kgw.bootstrap, "--topic", topic],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(cutover.kill)
        kgw_harness.wait_until(
            lambda: f"cutover of {topic}: produce fenced" in self.kgw.stderr_tail(50), TIMEOUT,
            what="the cutover holding the topic")
        d = c.call(24, 1, Enc().string(txn_id).i64(pid).i16(epoch).array(
            [topic], lambda e, t: e.string(t).array([0], lambda e2, q: e2.i32(q))))
        d.i32()  # throttle
        added = d.array(lambda d2: (d2.string(), d2.array(lambda d3: (d3.i32(), d3.i16()))))
        self.assertEqual(added, [(topic, [(0, 51)])])  # CONCURRENT_TRANSACTIONS
        d = c.call(26, 1, Enc().string(txn_id).i64(pid).i16(epoch).boolean(False))
        d.i32()  # throttle
        self.assertEqual(d.i16(), 0)  # was INVALID_TXN_STATE (48)
        cutover.communicate(timeout=TIMEOUT)
        self.assertNotEqual(cutover.returncode, 0)  # abandoned: the holder's transaction
        holder.abort_transaction(TIMEOUT)

    def test_transactions_ride_through_the_cutover(self):
        """A read_committed consume-transform-produce (its input topic stays
        on the legacy cluster, its output topic moves; the group's offsets
        go with each transaction to the legacy coordinator) and a second
        transactional producer that commits and aborts run through kgw
        across the output topic's cutover: the cutover lets their open
        transactions end and then switches, every output is in kgw's log
        exactly once, nothing aborted is visible, no transaction is left
        open, and the legacy copy stays where it ended."""
        src, dst = "txn-in", "txn-out"
        # A second kgw as the legacy cluster: it writes transaction markers
        # (librdkafka's mock does not).
        self.start(dst, legacy_kgw=True, more_topics=[src])
        feed = LoadProducer(self.kgw.bootstrap, src)
        pipeline = TxnPipeline(self.kgw.bootstrap, src, dst)
        writer = TxnWriter(self.kgw.bootstrap, dst)
        for t in (feed, pipeline, writer):
            t.start()
            self.addCleanup(t.finish)
        kgw_harness.wait_until(lambda: pipeline.transactions > 20 and len(writer.committed) > 30,
                               TIMEOUT, what="both transactional producers under way")

        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", dst)
        self.wait_behind(dst, 300)
        time.sleep(0.5)
        cut = migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", dst)
        print(cut.stdout, end="")
        self.assertIn("done in", cut.stdout)
        legacy_end = self.legacy_ends(dst)
        self.assertEqual({s["state"] for s in self.status(dst)}, {"local"})
        before = (pipeline.transactions, len(writer.committed))
        kgw_harness.wait_until(
            lambda: pipeline.transactions > before[0] + 20 and
            len(writer.committed) > before[1] + 30,
            TIMEOUT, what="transactions committed after the cutover")
        feed.finish()
        self.assertEqual(feed.errors, [])
        writer.finish()
        self.assertEqual(writer.errors, [])
        out = {}
        def caught_up():
            out.clear()
            out.update(read_all(self.kgw.bootstrap, dst, committed=True))
            return {v.decode() for _, v in out.values()} >= set(feed.acked)
        kgw_harness.wait_until(caught_up, TIMEOUT, interval=0.5,
                               what="every input record transformed and committed")
        pipeline.finish()
        self.assertEqual(pipeline.errors, [])

        values = [v.decode() for _, v in out.values()]
        outputs = [v for v in values if v.startswith("v")]
        written = [v for v in values if v.startswith("t")]
        print(f"{pipeline.transactions} pipeline transactions, {len(outputs)} records through "
              f"it; the writer committed {len(writer.committed)} records and aborted "
              f"{len(writer.aborted)}")
        self.assertEqual(sorted(outputs), sorted(set(outputs)), "a record transformed twice")
        self.assertEqual(set(outputs), set(feed.acked))
        self.assertEqual(sorted(written), sorted(writer.committed))
        # Nothing left open: the last stable offset (what a read_committed
        # consumer's ListOffsets answers) is the high watermark.
        def ends(isolation):
            c = Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": "lso-check",
                          "isolation.level": isolation})
            try:
                return [c.get_watermark_offsets(TopicPartition(dst, p), timeout=TIMEOUT)[1]
                        for p in range(PARTITIONS)]
            finally:
                c.close()
        self.assertEqual(ends("read_committed"), ends("read_uncommitted"))
        # The legacy copy stopped where kgw took over; nothing reached it
        # around kgw (no marker of a transaction either).
        self.assertEqual(self.legacy_ends(dst), legacy_end)
        self.assertEqual({s["diverged"] for s in self.status(dst)}, {None})

    def test_write_around_kgw_after_the_cutover_is_reported(self):
        topic = "around"
        self.start(topic)
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": True})
        for i in range(30):
            p.produce(topic, value=f"r{i}".encode(), partition=i % PARTITIONS)
        self.assertEqual(p.flush(TIMEOUT), 0)
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 0)
        migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        status = self.status(topic)
        self.assertEqual([s["legacy_high_watermark"] for s in status], [10, 10, 10])
        self.assertEqual({s["diverged"] for s in status}, {None})
        # A client still bootstrapped to the legacy cluster writes there.
        direct = Producer({"bootstrap.servers": self.mock.bootstrap})
        direct.produce(topic, value=b"around kgw", partition=1)
        self.assertEqual(direct.flush(TIMEOUT), 0)
        kgw_harness.wait_until(lambda: self.status(topic)[1]["diverged"] is not None, TIMEOUT,
                               interval=0.2, what="the divergence reported")
        status = self.status(topic)
        self.assertIn("partition 1: the legacy high watermark is 11, 10 when kgw took over",
                      status[1]["diverged"])
        human = migrate("status", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.assertIn("WARNING: around", human.stderr)
        self.assertIn("diverged", self.kgw.stderr_tail(40))
        # kgw's log is its own: the record is not in it.
        self.assertNotIn(b"around kgw", [v for _, v in read_all(self.kgw.bootstrap,
                                                                topic).values()])

    def test_cutover_copies_the_legacy_topic_configs(self):
        """The copy mirrors with retention.ms=-1 (its log start follows the
        legacy one); at the switch it takes the legacy topic's own configs,
        so the topic behaves as it did there."""
        topic = "configured"
        self.start(topic, legacy_kgw=True)
        subprocess.run(
            [ADMIN, "configs", "alter", "--bootstrap-server", self.mock.bootstrap,
             "--entity-type", "topics", "--entity-name", topic,
             "--add-config", "retention.ms=3600000,max.message.bytes=2000000"],
            capture_output=True, text=True, timeout=TIMEOUT, check=True)
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)

        def configs():
            out = subprocess.run(
                [ADMIN, "configs", "describe", "--bootstrap-server", self.kgw.bootstrap,
                 "--entity-type", "topics", "--entity-name", topic],
                capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
            return out
        self.assertIn("retention.ms=-1", configs())
        self.wait_behind(topic, 0)
        migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        after = configs()
        self.assertIn("retention.ms=3600000", after)
        self.assertIn("max.message.bytes=2000000", after)
        self.assertNotIn("retention.ms=-1", after)

    def test_rollback_drops_the_copy(self):
        topic = "back"
        self.start(topic)
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": True})
        for i in range(20):
            p.produce(topic, value=f"r{i}".encode(), partition=i % PARTITIONS)
        self.assertEqual(p.flush(TIMEOUT), 0)
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 0)
        # The steps only kgw takes, or out of order, are refused.
        for config in ("kgw.migration.state=local", "kgw.migration.finalized=false",
                       "kgw.migration.leader.epoch=9"):
            r = subprocess.run(
                [ADMIN, "configs", "alter", "--bootstrap-server", self.kgw.bootstrap,
                 "--entity-type", "topics", "--entity-name", topic, "--add-config", config],
                capture_output=True, text=True, timeout=TIMEOUT)
            self.assertNotEqual(r.returncode, 0, config)
        out = migrate("rollback", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.assertIn("Rolled back", out.stdout)
        self.assertEqual({s["state"] for s in self.status(topic)}, {"upstream"})
        # Clients are served by the legacy cluster, as before the start.
        p.produce(topic, value=b"after", partition=2)
        self.assertEqual(p.flush(TIMEOUT), 0)
        legacy = read_all(self.mock.bootstrap, topic)
        self.assertEqual(len(legacy), 21)
        self.assertEqual(read_all(self.kgw.bootstrap, topic), legacy)

    def test_rollback_after_the_cutover_hands_back_every_record(self):
        """After the cutover kgw takes writes the legacy cluster never saw;
        a rollback copies them back at the same offsets while kgw serves,
        holds produce for the last ones, and hands the topic back: the
        producer and the consumer group ride through both switches, 0 lost,
        0 duplicated, every acknowledged record at the offset it was given."""
        topic = "handback"
        # A second kgw as the legacy cluster: it checks the leader epochs
        # clients send (the mock does not), and clients hold kgw's. Its
        # topic recompresses (the cutover copies that to kgw's): kgw's
        # appends then wait for the threadpool before they take their
        # offsets, which the rollback's switch must wait out.
        self.start(topic, legacy_kgw=True, legacy_configs={"compression.type": "gzip"})
        producer = LoadProducer(self.kgw.bootstrap, topic)
        consumer = GroupConsumer(self.kgw.bootstrap, topic)
        producer.start()
        consumer.start()
        self.addCleanup(producer.finish)
        self.addCleanup(consumer.finish)
        kgw_harness.wait_until(lambda: len(producer.acked) > 300, TIMEOUT,
                               what="the producer under way")
        # A legacy partition's epoch, asked through kgw as a consumer
        # validating its position does: the legacy leader answers.
        [(_, err, epoch, end)] = offset_for_leader_epoch(self.kgw.bootstrap, 3, [(0, -1, 0)], topic)
        self.assertEqual((err, epoch), (0, 0))
        self.assertGreater(end, 0)
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 400)
        time.sleep(0.5)
        migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        at_cutover = self.legacy_ends(topic)
        # The leader epoch clients learn from kgw, above the legacy one.
        err, _, kgw_epoch = list_offsets_latest(self.kgw.bootstrap, topic)
        self.assertEqual(err, 0)
        self.assertGreaterEqual(kgw_epoch, 1)
        count = producer.count
        kgw_harness.wait_until(lambda: producer.count > count + 800, TIMEOUT,
                               what="records produced to kgw after the cutover")

        back_at = time.monotonic()
        out = migrate("rollback", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        back_done = time.monotonic()
        print(out.stdout, end="")
        self.assertIn("Rolled back", out.stdout)
        self.assertEqual({s["state"] for s in self.status(topic)}, {"upstream"})
        # A client still holding kgw's epoch is served (the legacy leader
        # would answer UNKNOWN_LEADER_EPOCH to it). The producer goes on
        # writing to the legacy cluster meanwhile: the answer lies between
        # the legacy ends asked before and after.
        before = self.legacy_ends(topic)[0]
        err, offset, _ = list_offsets_latest(self.kgw.bootstrap, topic,
                                             current_leader_epoch=kgw_epoch)
        self.assertEqual(err, 0)
        self.assertLessEqual(before, offset)
        self.assertLessEqual(offset, self.legacy_ends(topic)[0])
        # kgw's epoch ends where the rollback switched (kgw's copy says so;
        # the legacy cluster never had that epoch).
        [(_, err, epoch, end)] = offset_for_leader_epoch(self.kgw.bootstrap, 3,
                                                          [(0, kgw_epoch, kgw_epoch)], topic)
        self.assertEqual((err, epoch), (0, kgw_epoch))
        self.assertGreater(end, at_cutover[0])
        self.assertLessEqual(end, self.legacy_ends(topic)[0])
        # The legacy log holds what kgw took.
        self.assertGreater(sum(self.legacy_ends(topic)), sum(at_cutover) + 800)
        count = producer.count
        kgw_harness.wait_until(lambda: producer.count > count + 400, TIMEOUT,
                               what="records produced to the legacy cluster after the rollback")
        producer.finish()
        self.assertEqual(producer.errors, [])
        kgw_harness.wait_until(
            lambda: {(p, o) for p, o, _ in consumer.seen} >= set(producer.acked.values()),
            TIMEOUT, what="the consumer read every acknowledged record")
        consumer.finish()
        self.check(topic, producer, consumer, self.legacy_ends(topic),
                   "through a cutover and a rollback",
                   [w for t, w in producer.waits if back_at - 0.5 < t < back_done + 0.5])
        self.assertEqual(consumer.errors, [])
        self.assertIn("rollback of handback: the legacy cluster serves it again",
                      self.kgw.stderr_tail(400))

    def test_kill_during_the_rollback_resumes_it(self):
        """kill -9 of kgw while it copies its records back: after the
        restart the copy checks what already reached the legacy log (the
        same batches, compared) and goes on from there; the legacy log ends
        up holding every record once, at its offset, and the idempotent
        producer goes on there. The legacy cluster is a second kgw (its
        idempotence checks sequences as Kafka's does)."""
        topic = "handback-killed"
        self.start(topic, legacy_kgw=True)
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": True,
                      "linger.ms": 0, "batch.num.messages": 1})
        acked = {}

        def produce(n, prefix):
            def done(err, msg):
                self.assertIsNone(err)
                acked[msg.value().decode()] = (msg.partition(), msg.offset())
            for i in range(n):
                p.produce(topic, value=f"{prefix}{i}".encode(), partition=i % PARTITIONS,
                          on_delivery=done)
                p.poll(0)
            self.assertEqual(p.flush(TIMEOUT), 0)

        produce(30, "before-")
        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 0)
        migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        produce(1500, "kgw-")  # one record per batch: 1500 batches to copy back
        watch = Consumer({"bootstrap.servers": self.mock.bootstrap, "group.id": "unused"})
        self.addCleanup(watch.close)

        def legacy_total():
            return sum(watch.get_watermark_offsets(TopicPartition(topic, q), timeout=TIMEOUT)[1]
                       for q in range(PARTITIONS))
        at_cutover = legacy_total()
        subprocess.run(
            [ADMIN, "configs", "alter", "--bootstrap-server", self.kgw.bootstrap,
             "--entity-type", "topics", "--entity-name", topic,
             "--add-config", "kgw.migration.state=rollback"],
            capture_output=True, text=True, timeout=TIMEOUT, check=True)
        # Killed mid-copy: the legacy cluster stopped (SIGSTOP) as soon as
        # the copy reached it, so kgw dies with batches sent and not
        # answered, past the progress it recorded.
        kgw_harness.wait_until(lambda: legacy_total() > at_cutover, TIMEOUT, interval=0.002,
                               what="the copy back under way")
        os.kill(self.mock.pid, signal.SIGSTOP)
        try:
            # A cutover while rolling back is refused, saying what to do.
            early = migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic",
                            topic, check=False)
            self.kgw.kill()
        finally:
            os.kill(self.mock.pid, signal.SIGCONT)
        self.assertNotEqual(early.returncode, 0, early.stdout)
        self.assertIn("rolling back to the legacy cluster", early.stderr)
        killed_at = legacy_total()
        print(f"legacy log: {at_cutover} records at the cutover, {killed_at} when kgw was "
              f"killed, of {at_cutover + 1500}")
        self.assertLess(killed_at, at_cutover + 1500)
        self.kgw.start(self.kgw.port)
        out = migrate("rollback", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.assertIn("Rolled back", out.stdout)
        # The restart compared what had reached the legacy log before going on.
        self.assertIn("compared", self.kgw.stderr_tail(400))
        produce(30, "after-")
        legacy = read_all(self.mock.bootstrap, topic)
        self.assertEqual(len(legacy), 1560)
        self.assertEqual(read_all(self.kgw.bootstrap, topic), legacy)
        where = {v.decode(): po for po, (_, v) in legacy.items()}
        self.assertEqual(where, acked)
        # Migrating it again: kgw's stub mirrors on from where it was.
        out = migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.assertIn("again", out.stdout)
        self.wait_behind(topic, 0)
        migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        produce(30, "again-")
        self.assertEqual({s["state"] for s in self.status(topic)}, {"local"})
        local = read_all(self.kgw.bootstrap, topic)
        self.assertEqual(len(local), 1590)
        self.assertEqual({po: rec for po, rec in local.items() if po in legacy}, legacy)
        self.assertEqual({v.decode(): po for po, (_, v) in local.items()}, acked)

    def test_group_moves_to_kgw_at_its_next_rebalance(self):
        """A group whose topics are all kgw's after the cutover moves to
        kgw's coordinator at its next JoinGroup: its committed offsets are
        copied (the same numbers), the new member resumes exactly there,
        and its commits go to kgw while the legacy group keeps the offsets
        it had (before, the group stayed on the legacy coordinator)."""
        topic, group, records = "moving", "moving-group", 90
        self.start(topic)
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "enable.idempotence": True})
        for i in range(records):
            p.produce(topic, value=f"m{i}".encode(), partition=i % PARTITIONS)
        self.assertEqual(p.flush(TIMEOUT), 0)

        def member():
            return Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": group,
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "fetch.wait.max.ms": 100})

        def committed(bootstrap):
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
            try:
                return [tp.offset for tp in c.committed(
                    [TopicPartition(topic, q) for q in range(PARTITIONS)], timeout=TIMEOUT)]
            finally:
                c.close()

        def consume(c, want):
            got = []
            deadline = time.monotonic() + TIMEOUT
            while len(got) < want and time.monotonic() < deadline:
                for m in c.consume(num_messages=want - len(got), timeout=0.5):
                    self.assertIsNone(m.error())
                    got.append((m.partition(), m.offset()))
            return got

        # On the legacy coordinator (through kgw): a third read, committed.
        c = member()
        c.subscribe([topic])
        first = consume(c, records // 3)
        c.commit(asynchronous=False)
        c.close()
        before = committed(self.mock.bootstrap)
        start_at = [max(o, 0) for o in before]  # none committed (-1001): earliest
        self.assertEqual(sum(start_at), len(first), f"legacy offsets {before}")

        migrate("start", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)
        self.wait_behind(topic, 0)
        migrate("cutover", "--bootstrap-server", self.kgw.bootstrap, "--topic", topic)

        # The next member's JoinGroup moves the group: it resumes at the
        # copied offsets and reads the rest, each record once.
        c = member()
        c.subscribe([topic])
        rest = consume(c, records - len(first))
        c.commit(asynchronous=False)
        c.close()
        self.assertEqual(len(rest), records - len(first))
        self.assertEqual(sorted(set(first) | set(rest)),
                         sorted((q, o) for q in range(PARTITIONS) for o in range(records // PARTITIONS)))
        for q in range(PARTITIONS):
            mine = sorted(o for r, o in rest if r == q)
            self.assertEqual(mine, list(range(start_at[q], records // PARTITIONS)),
                             f"partition {q}: resumed at its committed offset")
        # kgw coordinates it now; the legacy group kept its offsets.
        self.assertEqual(committed(self.kgw.bootstrap), [records // PARTITIONS] * PARTITIONS)
        self.assertEqual(committed(self.mock.bootstrap), before)
        self.assertIn(f"group {group} moved to kgw", self.kgw.stderr_tail(400))


if __name__ == "__main__":
    kgw_harness.main()
