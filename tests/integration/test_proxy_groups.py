"""Proxy mode (issue 17): consumer groups of the legacy cluster, through kgw.

In proxy mode every group lives on the legacy cluster unless kgw already has
it; kgw names itself as the coordinator (FindCoordinator) and forwards the
group's requests to the legacy coordinator.

Against librdkafka's mock cluster (3 brokers; it speaks JoinGroup, SyncGroup,
Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch and FindCoordinator, but no
ListGroups or DescribeGroups): a group of two confluent_kafka consumers,
bootstrapped at kgw, consumes every record of a legacy topic exactly once
across its members and commits; the committed offsets read directly from the
mock equal those read through kgw (and the end offsets); FindCoordinator
through kgw names kgw.

Against a second kgw as the legacy cluster (it speaks every group API): a
group consuming through the proxy is listed and described through the proxy
(ListGroups, DescribeGroups), exists on the legacy kgw (not on the proxy),
and DeleteGroups through the proxy deletes it there. Transactions through
kgw (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
EndTxn forwarded to the legacy coordinators) commit and abort: a
read_committed consumer through kgw sees the committed records only, and
the transaction's group offset is committed on the legacy side (fully
checked against the second kgw; the mock filters no aborted records and
keeps no transactional offsets)."""

import signal
import subprocess
import sys
import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from mock_cluster import start_proxy  # noqa: E402

TIMEOUT = 60
TOPIC = "legacy"
PARTITIONS = 4
RECORDS = 400
GROUP = "proxied-group"


def find_coordinator(bootstrap, group):
    """FindCoordinator v1 for a group -> (error, node, "host:port")."""
    c = Conn(bootstrap)
    try:
        d = c.call(10, 1, Enc().string(group).i8(0))
    finally:
        c.close()
    d.i32()  # throttle
    error = d.i16()
    d.string()  # message
    node = d.i32()
    host = d.string()
    port = d.i32()
    return error, node, f"{host}:{port}"


def describe_cluster(bootstrap):
    """DescribeCluster v0 -> (error, [(node, "host:port")])."""
    c = Conn(bootstrap)
    try:
        d = c.call(60, 0, Enc(flexible=True).boolean(False).tags(), flexible=True)
    finally:
        c.close()
    d.i32()  # throttle
    error = d.i16()
    d.string()  # message
    d.string()  # cluster id
    d.i32()  # controller
    brokers = []

    def broker(dd):
        node = dd.i32()
        host = dd.string()
        port = dd.i32()
        dd.string()  # rack
        dd.tags()
        brokers.append((node, f"{host}:{port}"))

    d.array(broker)
    return error, brokers


def produce_keyed(bootstrap, topic, count):
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False,
                         "linger.ms": 5})
    errors = []
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                         on_delivery=lambda err, _m: err is not None and errors.append(err))
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0
    assert errors == [], errors


def group_consumer(bootstrap, group):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    })


def committed(bootstrap, group, topic, partitions):
    c = group_consumer(bootstrap, group)
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=TIMEOUT)
        return sorted((tp.partition, tp.offset, tp.error) for tp in tps)
    finally:
        c.close()


def wait_for_assignment(consumers, partitions):
    """Polls every member until the group's assignment covers every
    partition, each member with some."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        for c in consumers:
            m = c.poll(0.2)
            assert m is None, f"no records yet: the topic is empty; got {m.error()}"
        owned = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
        if all(owned) and sorted(p for o in owned for p in o) == list(range(partitions)):
            return owned
        assert time.monotonic() < deadline, f"assignment after {TIMEOUT}s: {owned}"


def transactions_through_kgw(test, kgw, legacy, full_txns):
    """A transactional producer through kgw (its coordinator the legacy
    cluster's) commits one transaction, with a group's offsets
    (AddOffsetsToTxn, TxnOffsetCommit), and aborts another; a
    read_committed consumer through kgw sees what it sees reading the
    legacy cluster directly; with `full_txns` (a legacy cluster that
    filters aborted records and keeps transactional offsets) those are the
    committed records only, and the group's offset is committed there."""
    producer = Producer({"bootstrap.servers": kgw, "transactional.id": "proxied-txn",
                         "linger.ms": 5})
    producer.init_transactions(TIMEOUT)
    producer.begin_transaction()
    for i in range(50):
        producer.produce(TOPIC, key=f"k{i}".encode(), value=f"c{i}".encode())
    member = group_consumer(kgw, "txn-group")
    try:
        producer.send_offsets_to_transaction(
            [TopicPartition(TOPIC, 0, 7)], member.consumer_group_metadata(), TIMEOUT)
    finally:
        member.close()
    producer.commit_transaction(TIMEOUT)
    producer.begin_transaction()
    for i in range(20):
        producer.produce(TOPIC, key=f"k{i}".encode(), value=f"a{i}".encode())
    producer.flush(TIMEOUT)
    producer.abort_transaction(TIMEOUT)

    def read_committed(bootstrap):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "txn-reader",
                      "isolation.level": "read_committed", "enable.auto.commit": False,
                      "enable.partition.eof": True, "fetch.wait.max.ms": 100})
        try:
            c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
            values, eof = [], set()
            deadline = time.monotonic() + TIMEOUT
            while len(eof) < PARTITIONS:
                test.assertLess(time.monotonic(), deadline)
                for m in c.consume(num_messages=1000, timeout=0.2):
                    if m.error() is not None:
                        eof.add(m.partition())
                    else:
                        values.append(m.value())
            return sorted(values)
        finally:
            c.close()

    via_kgw = read_committed(kgw)
    test.assertEqual(via_kgw, read_committed(legacy))
    committed_values = sorted(f"c{i}".encode() for i in range(50))
    if not full_txns:
        test.assertTrue(set(committed_values) <= set(via_kgw))
        return
    test.assertEqual(via_kgw, committed_values)
    test.assertEqual(committed(legacy, "txn-group", TOPIC, 1), [(0, 7, None)])
    test.assertEqual(committed(kgw, "txn-group", TOPIC, 1), [(0, 7, None)])


class ProxyGroupsMockTest(unittest.TestCase):
    def setUp(self):
        self.mock, self.kgw = start_proxy(self, TOPIC, PARTITIONS)
        kgw_harness.wait_until(
            lambda: TOPIC in AdminClient({"bootstrap.servers": self.kgw.bootstrap})
            .list_topics(timeout=TIMEOUT).topics, TIMEOUT, what="the legacy topic in kgw")

    def test_find_coordinator_names_kgw(self):
        self.assertEqual(find_coordinator(self.kgw.bootstrap, GROUP),
                         (0, 1, self.kgw.bootstrap))

    def test_describe_cluster_names_only_kgw(self):
        self.assertEqual(describe_cluster(self.kgw.bootstrap), (0, [(1, self.kgw.bootstrap)]))

    def test_group_of_two_consumes_exactly_once_and_commits(self):
        members = [group_consumer(self.kgw.bootstrap, GROUP) for _ in range(2)]
        try:
            for c in members:
                c.subscribe([TOPIC])
            wait_for_assignment(members, PARTITIONS)
            produce_keyed(self.kgw.bootstrap, TOPIC, RECORDS)
            seen = []
            deadline = time.monotonic() + TIMEOUT
            while len(seen) < RECORDS:
                self.assertLess(time.monotonic(), deadline, f"{len(seen)} of {RECORDS}")
                for c in members:
                    msgs = c.consume(num_messages=1000, timeout=0.2)
                    for m in msgs:
                        self.assertIsNone(m.error())
                        seen.append((m.partition(), m.offset(), m.value()))
                    if msgs:
                        c.commit(asynchronous=False)
            # Exactly once across the members: no record twice, none missing.
            self.assertEqual(len(seen), len(set(seen)))
            self.assertEqual(sorted(v for _, _, v in seen),
                             sorted(f"v{i}".encode() for i in range(RECORDS)))
            # Each member read only its own partitions.
            self.assertGreater(len({p for p, _, _ in seen}), 1)
        finally:
            for c in members:
                c.close()  # LeaveGroup, through kgw

        ends = {}
        for p, off, _ in seen:
            ends[p] = max(ends.get(p, 0), off + 1)
        via_kgw = committed(self.kgw.bootstrap, GROUP, TOPIC, PARTITIONS)
        direct = committed(self.mock.bootstrap, GROUP, TOPIC, PARTITIONS)
        self.assertEqual(via_kgw, direct)
        self.assertEqual([(p, off) for p, off, _ in direct],
                         [(p, ends.get(p, -1001)) for p in range(PARTITIONS)])
        self.assertTrue(self.kgw.alive())

    def test_transactions_through_kgw(self):
        # The mock 2.0.2 gives aborted records to read_committed consumers
        # too (through kgw: exactly what it gives directly), and keeps no
        # offsets of a TxnOffsetCommit: the full checks run against a kgw
        # as the legacy cluster (ProxyGroupsKgwLegacyTest).
        transactions_through_kgw(self, self.kgw.bootstrap, self.mock.bootstrap,
                                 full_txns=False)

    def test_pipelined_commits_reach_the_legacy_coordinator_in_order(self):
        """A consumer committing asynchronously after every record
        (librdkafka's 0030 does) has many OffsetCommits in flight: kgw sends
        them to the legacy coordinator in the order they came, on one
        connection, so the last one wins there as it would on Kafka."""
        p = Producer({"bootstrap.servers": self.kgw.bootstrap})
        for i in range(100):
            p.produce(TOPIC, value=f"r{i}".encode(), partition=0)
        self.assertEqual(p.flush(TIMEOUT), 0)
        c = Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": "async-committer",
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(TOPIC, 0, 0)])
            last = None
            deadline = time.monotonic() + TIMEOUT
            while (last is None or last < 60) and time.monotonic() < deadline:
                for m in c.consume(10, timeout=1):
                    if m.error() is None:
                        c.commit(message=m, asynchronous=True)
                        last = m.offset()
            self.assertIsNotNone(last)
            kgw_harness.wait_until(
                lambda: c.committed([TopicPartition(TOPIC, 0)], timeout=TIMEOUT)[0].offset
                == last + 1, TIMEOUT, what=f"the committed offset at {last + 1}")
            # And it stays there: no older commit is applied after it.
            time.sleep(0.5)
            self.assertEqual(c.committed([TopicPartition(TOPIC, 0)], timeout=TIMEOUT)[0].offset,
                             last + 1)
        finally:
            c.close()

    def test_legacy_coordinator_down_is_retriable(self):
        self.mock.kill()
        c = Conn(self.kgw.bootstrap)
        try:
            # OffsetFetch v1 of one partition: a partition error, retriable.
            e = Enc().string(GROUP).array([0], lambda enc, _: enc.string(TOPIC).array(
                [0], lambda enc2, p: enc2.i32(p)))
            d = c.call(9, 1, e)
            errors = []
            d.array(lambda dd: (dd.string(), dd.array(
                lambda d3: (d3.i32(), d3.i64(), d3.string(), errors.append(d3.i16())))))
            self.assertEqual(errors, [15])  # COORDINATOR_NOT_AVAILABLE
            # Heartbeat v0: the group error.
            d = c.call(12, 0, Enc().string(GROUP).i32(1).string("m"))
            self.assertEqual(d.i16(), 15)
        finally:
            c.close()
        self.assertTrue(self.kgw.alive())


class ProxyGroupsKgwLegacyTest(unittest.TestCase):
    """A second kgw as the legacy cluster: it speaks every group API."""

    def setUp(self):
        self.legacy = kgw_harness.Kgw(name="legacy")
        self.legacy.start()
        self.addCleanup(self.legacy.close)
        admin = AdminClient({"bootstrap.servers": self.legacy.bootstrap})
        for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
            f.result(TIMEOUT)
        self.kgw = kgw_harness.Kgw("--upstream", self.legacy.bootstrap)
        self.kgw.start()
        self.addCleanup(self.kgw.close)
        kgw_harness.wait_until(
            lambda: TOPIC in AdminClient({"bootstrap.servers": self.kgw.bootstrap})
            .list_topics(timeout=TIMEOUT).topics, TIMEOUT, what="the legacy topic in kgw")

    def test_transactions_through_kgw(self):
        transactions_through_kgw(self, self.kgw.bootstrap, self.legacy.bootstrap,
                                 full_txns=True)

    def test_a_transaction_writes_legacy_and_kgw_topics_at_once(self):
        """A transactional id the legacy cluster coordinates writes a legacy
        topic and one of kgw's own in the same transactions: kgw keeps its
        partitions out of the legacy transaction (the legacy coordinator
        would answer UNKNOWN_TOPIC_OR_PARTITION) and marks them itself when
        the legacy coordinator has decided, for commits and aborts alike;
        one of kgw's topics alone is a transaction too. A new producer with
        the id aborts what the old one left open on kgw's topic."""
        own = "kgw-own"
        a = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        a.create_topics([NewTopic(own, PARTITIONS, 1)])[own].result(TIMEOUT)
        p = Producer({"bootstrap.servers": self.kgw.bootstrap, "transactional.id": "both",
                      "transaction.timeout.ms": 30000})
        p.init_transactions(TIMEOUT)
        for i in range(6):
            p.begin_transaction()
            p.produce(TOPIC, value=f"legacy{i}".encode(), partition=i % PARTITIONS)
            if i != 4:  # one transaction with the legacy topic alone
                p.produce(own, value=f"own{i}".encode(), partition=i % PARTITIONS)
            if i % 3 == 2:
                p.abort_transaction(TIMEOUT)
            else:
                p.commit_transaction(TIMEOUT)
        p.begin_transaction()  # kgw's topic alone
        p.produce(own, value=b"own-alone", partition=0)
        p.commit_transaction(TIMEOUT)
        p.begin_transaction()  # left open: the next producer aborts it
        p.produce(own, value=b"own-left-open", partition=1)
        p.flush(TIMEOUT)
        successor = Producer({"bootstrap.servers": self.kgw.bootstrap, "transactional.id": "both"})
        successor.init_transactions(TIMEOUT)

        def committed_values(topic):
            c = Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": "reader",
                          "isolation.level": "read_committed", "enable.partition.eof": True,
                          "auto.offset.reset": "earliest", "enable.auto.commit": False})
            c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in range(PARTITIONS)])
            values, eof = [], set()
            deadline = time.monotonic() + TIMEOUT
            while len(eof) < PARTITIONS and time.monotonic() < deadline:
                for m in c.consume(100, timeout=0.5):
                    if m.error() is None:
                        values.append(m.value().decode())
                    elif m.error().code() == -191:
                        eof.add(m.partition())
            c.close()
            self.assertEqual(len(eof), PARTITIONS, f"{topic}: a partition never reached its end")
            return sorted(values)

        self.assertEqual(committed_values(TOPIC), ["legacy0", "legacy1", "legacy3", "legacy4"])
        self.assertEqual(committed_values(own), ["own-alone", "own0", "own1", "own3"])
        # The legacy cluster never heard of kgw's topic.
        legacy = AdminClient({"bootstrap.servers": self.legacy.bootstrap})
        self.assertNotIn(own, legacy.list_topics(timeout=TIMEOUT).topics)

    def test_an_abandoned_transaction_ends_on_kgw_too(self):
        """A producer killed mid-transaction (a legacy topic and one of
        kgw's) sends no EndTxn: the legacy coordinator aborts the
        transaction when its timeout passes, and kgw, asking it with
        DescribeTransactions, aborts its part, so that its topic's last
        stable offset moves on (before: stuck for good, read_committed
        consumers stalled)."""
        own = "kgw-own-abandoned"
        a = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        a.create_topics([NewTopic(own, 1, 1)])[own].result(TIMEOUT)
        script = (
            "import sys, time\n"
            "from confluent_kafka import Producer\n"
            f"p = Producer({{'bootstrap.servers': '{self.kgw.bootstrap}', "
            "'transactional.id': 'abandoned', 'transaction.timeout.ms': 3000})\n"
            "p.init_transactions(30)\n"
            "p.begin_transaction()\n"
            f"p.produce('{TOPIC}', value=b'legacy-left-open', partition=0)\n"
            f"p.produce('{own}', value=b'own-left-open', partition=0)\n"
            "p.flush(30)\n"
            "print('written', flush=True)\n"
            "time.sleep(600)\n")
        producer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                    text=True)
        self.addCleanup(producer.kill)
        self.assertEqual(producer.stdout.readline().strip(), "written")
        producer.send_signal(signal.SIGKILL)
        producer.wait()

        def ends(isolation):
            c = Consumer({"bootstrap.servers": self.kgw.bootstrap, "group.id": "ends",
                          "isolation.level": isolation})
            try:
                return c.get_watermark_offsets(TopicPartition(own, 0), timeout=TIMEOUT)[1]
            finally:
                c.close()
        self.assertEqual(ends("read_uncommitted"), 1)
        self.assertEqual(ends("read_committed"), 0)  # the transaction is open
        # The legacy timeout (3 s), then kgw's sweep (every 5 s): within 30 s.
        kgw_harness.wait_until(lambda: ends("read_committed") == 2, TIMEOUT,
                               what="kgw's topic stable again (its abort marker written)")
        self.assertEqual(ends("read_uncommitted"), 2)
        self.assertIn("ended on the legacy cluster without its producer's EndTxn",
                      self.kgw.stderr_tail(200))
        self.assertIn("aborting its part here", self.kgw.stderr_tail(200))

    def test_idempotent_producer_ids_come_from_the_legacy_cluster(self):
        """InitProducerId without a transactional id is the legacy
        cluster's: an id kgw handed out itself could be one the legacy
        cluster also gives a producer writing to it directly (their
        sequences would then clash there, and in a migrated topic's
        producer state here). The legacy kgw hands ids out in order."""
        def init_producer_id(bootstrap):
            c = Conn(bootstrap)
            try:
                d = c.call(22, 1, Enc().string(None).i32(60000))
                d.i32()  # throttle
                error, pid = d.i16(), d.i64()
                d.i16()  # epoch
                self.assertEqual(error, 0)
                return pid
            finally:
                c.close()
        first = init_producer_id(self.legacy.bootstrap)
        through_kgw = init_producer_id(self.kgw.bootstrap)
        last = init_producer_id(self.legacy.bootstrap)
        self.assertEqual((through_kgw, last), (first + 1, first + 2))

    def groups(self, bootstrap):
        admin = AdminClient({"bootstrap.servers": bootstrap})
        return {g.id: g for g in admin.list_groups(timeout=TIMEOUT)}

    def test_list_describe_delete_through_the_proxy(self):
        produce_keyed(self.kgw.bootstrap, TOPIC, 50)
        c = group_consumer(self.kgw.bootstrap, GROUP)
        try:
            c.subscribe([TOPIC])
            got = 0
            deadline = time.monotonic() + TIMEOUT
            while got < 50:
                self.assertLess(time.monotonic(), deadline)
                got += len(c.consume(num_messages=100, timeout=0.2))
            c.commit(asynchronous=False)
            # ListGroups + DescribeGroups through the proxy: the group, Stable,
            # one member.
            through = self.groups(self.kgw.bootstrap)
            self.assertIn(GROUP, through)
            self.assertEqual(through[GROUP].state, "Stable")
            self.assertEqual(len(through[GROUP].members), 1)
            # It lives on the legacy kgw.
            self.assertIn(GROUP, self.groups(self.legacy.bootstrap))
            self.assertEqual(find_coordinator(self.kgw.bootstrap, GROUP),
                             (0, 1, self.kgw.bootstrap))
        finally:
            c.close()
        self.assertEqual(committed(self.kgw.bootstrap, GROUP, TOPIC, PARTITIONS),
                         committed(self.legacy.bootstrap, GROUP, TOPIC, PARTITIONS))
        # DeleteGroups through the proxy deletes it on the legacy kgw.
        admin = AdminClient({"bootstrap.servers": self.kgw.bootstrap})
        if hasattr(admin, "delete_consumer_groups"):
            for f in admin.delete_consumer_groups([GROUP]).values():
                f.result(TIMEOUT)
            self.assertNotIn(GROUP, self.groups(self.legacy.bootstrap))


if __name__ == "__main__":
    kgw_harness.main()
