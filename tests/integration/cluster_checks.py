"""Helpers shared by the cluster tests (test_cluster*.py): what a client
sees of a kgw cluster (Metadata through librdkafka and, per broker, on the
wire with topic ids), topics created in a background thread with every
answer recorded, records produced and read back, and the Jepsen-style
judgement of what clients were told against what they read afterwards
(lost, duplicated, divergent: all must be zero).

Stdlib, confluent_kafka (librdkafka) and the tests' own kafka_wire.
"""

import threading
import time
import uuid

import kgw_cluster
import kgw_harness
from kafka_wire import Conn, Enc

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import (  # noqa: E402
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

OFFSET_BEGINNING = -2


def admin(bootstrap, timeout_ms=10000):
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": timeout_ms})


def cluster_view(bootstrap):
    """(controller id, {broker id: host:port}, {topic: {partition: leader}})."""
    md = admin(bootstrap).list_topics(timeout=10)
    brokers = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
    topics = {
        name: {p.id: p.leader for p in t.partitions.values()} for name, t in md.topics.items()
    }
    return md.controller_id, brokers, topics


def address(port):
    """A broker's "host:port": `port` itself when it is one (nodes on other
    addresses than loopback, netns_cluster.py), else 127.0.0.1:port."""
    return port if isinstance(port, str) else f"127.0.0.1:{port}"


def describe_controller(port):
    """The controller id one broker names (Metadata asked of that broker only)."""
    md = admin(address(port)).list_topics(timeout=10)
    return md.controller_id


def create_topic(bootstrap, name, partitions, timeout=30):
    client = admin(bootstrap)  # alive until the answer: its futures die with it
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    futures[name].result(timeout=timeout + 5)


def wait_for(what, fn, timeout, every=0.3):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (KafkaException, OSError, ValueError, kgw_cluster.ClusterError) as e:
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


# -- one broker's Metadata on the wire ----------------------------------------

def broker_metadata(port, timeout=10):
    """Metadata v12 asked of the broker on `port` (or "host:port") alone (its own image):
    {"controller": id, "brokers": {id: port}, "racks": {id: rack or None},
     "topics": {name: {"id": hex, "error": code, "partitions": {index: leader},
                       "replicas": {index: (replicas, offline replicas)},
                       "isr": {index: isr}}},
     "names_seen": [every topic name in the answer, repeats kept]}."""
    c = Conn(address(port), timeout=timeout)
    try:
        body = Enc(flexible=True).uvarint(0).boolean(False).boolean(False).tags()  # all topics
        d = c.call(api_key=3, version=12, body=body, flexible=True)
    finally:
        c.close()
    d.i32()  # throttle

    def broker(d):
        node = d.i32()
        d.string()  # host
        bport = d.i32()
        rack = d.string()
        d.tags()
        return node, bport, rack

    listed = d.array(broker)
    brokers = {node: bport for node, bport, _ in listed}
    d.string()  # cluster id
    controller = d.i32()

    def partition(d):
        err, index, leader = d.i16(), d.i32(), d.i32()
        d.i32()  # leader epoch
        replicas = d.array(lambda d: d.i32())
        isr = d.array(lambda d: d.i32())
        offline = d.array(lambda d: d.i32())
        d.tags()
        return index, leader, err, replicas, offline, isr

    def topic(d):
        err, name, tid = d.i16(), d.string(), d.take(16).hex()
        d.boolean()  # internal
        parts = d.array(partition)
        d.i32()  # authorized operations
        d.tags()
        return name, tid, err, parts

    topics = d.array(topic)
    return {
        "controller": controller,
        "brokers": brokers,
        "racks": {node: rack for node, _, rack in listed},
        "topics": {n: {"id": t, "error": e, "partitions": {p[0]: p[1] for p in ps},
                       "replicas": {p[0]: (p[3], p[4]) for p in ps},
                       "isr": {p[0]: p[5] for p in ps}}
                   for n, t, e, ps in topics},
        "names_seen": [n for n, _, _, _ in topics],
    }


def judge_topics(views, acked, unacked, partitions_of):
    """Compares what every broker lists with what CreateTopics answered.
    views: {node: broker_metadata(...)}; acked: names whose create was
    acknowledged; unacked: names whose create failed or timed out;
    partitions_of(name) -> the partition count asked. Returns a list of
    problems (empty: lost = duplicated = divergent = 0) and the counts
    (with how many unacknowledged creates took effect)."""
    problems = []
    lost = duplicated = divergent = unacked_present = 0
    nodes = sorted(views)
    for node in nodes:
        seen = views[node]["names_seen"]
        if len(seen) != len(set(seen)):
            duplicated += len(seen) - len(set(seen))
            problems.append(f"broker {node} lists a topic name twice")
        ids = [t["id"] for t in views[node]["topics"].values()]
        if len(ids) != len(set(ids)):
            duplicated += len(ids) - len(set(ids))
            problems.append(f"broker {node} lists one topic id under two names")
    for name in sorted(acked | unacked):
        per_node = {n: views[n]["topics"].get(name) for n in nodes}
        present = {n for n, t in per_node.items() if t is not None}
        if name in acked and len(present) < len(nodes):
            lost += 1
            problems.append(f"acknowledged topic {name} missing on brokers "
                            f"{sorted(set(nodes) - present)}")
            continue
        if present and len(present) < len(nodes):
            divergent += 1
            problems.append(f"topic {name} (create not acknowledged) exists on {sorted(present)} "
                            f"only of {nodes}")
            continue
        if not present:
            continue
        if name not in acked:
            unacked_present += 1
        shapes = {(t["id"], len(t["partitions"])) for t in per_node.values()}
        if len(shapes) != 1:
            divergent += 1
            problems.append(f"topic {name}: brokers disagree on (id, partitions): {per_node}")
        elif next(iter(shapes))[1] != partitions_of(name):
            divergent += 1
            problems.append(f"topic {name} has {next(iter(shapes))[1]} partitions, "
                            f"{partitions_of(name)} were asked")
    return problems, {"lost": lost, "duplicated": duplicated, "divergent": divergent,
                      "unacknowledged_present": unacked_present}


# -- topics created in the background ------------------------------------------

def create_topic_wire(port, name, partitions, timeout_ms=8000):
    """CreateTopics v4 sent to the broker on `port` itself (librdkafka and
    kafka-python send it to the controller; any kgw broker takes it).
    Returns (error code, message)."""
    body = (Enc().array([name], lambda e, n: e.string(n).i32(partitions).i16(1).i32(0).i32(0))
            .i32(timeout_ms).boolean(False))
    c = Conn(address(port), timeout=timeout_ms / 1000 + 10)
    try:
        d = c.call(api_key=19, version=4, body=body)
    finally:
        c.close()
    d.i32()  # throttle
    results = d.array(lambda d: (d.string(), d.i16(), d.string()))
    if len(results) != 1 or results[0][0] != name:
        raise ValueError(f"CreateTopics answered {results} for {name}")
    return results[0][1], results[0][2]


class TopicCreator(threading.Thread):
    """Creates topics one after another until stop(), one name per
    CreateTopics, never retried under the same name, and records each
    answer: acked (error 0), failed {name: error}. ports given: each create
    goes on the wire to the next of these brokers in turn; else through
    librdkafka's AdminClient on `bootstrap` (which sends it to the
    controller)."""

    def __init__(self, prefix, partitions=2, ports=None, bootstrap=None, timeout=8):
        super().__init__(daemon=True)
        self.prefix = prefix
        self.partitions = partitions
        self.ports = list(ports or [])
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.acked = set()
        self.failed = {}
        self._stop_event = threading.Event()

    def _create(self, client, i, name):
        if self.ports:
            port = self.ports[i % len(self.ports)]
            code, message = create_topic_wire(port, name, self.partitions, self.timeout * 1000)
            if code != 0:
                raise RuntimeError(f"error {code} via {port}: {message}")
            return
        futures = client.create_topics(
            [NewTopic(name, num_partitions=self.partitions, replication_factor=1)],
            operation_timeout=self.timeout, request_timeout=self.timeout)
        futures[name].result(timeout=self.timeout + 5)

    def run(self):
        client = None if self.ports else admin(self.bootstrap, timeout_ms=self.timeout * 1000)
        i = 0
        while not self._stop_event.is_set():
            i += 1
            name = f"{self.prefix}-{i:04d}"
            try:
                self._create(client, i, name)
                self.acked.add(name)
            except Exception as e:  # an error, a timeout, a broken connection: not acknowledged
                self.failed[name] = str(e)[:120]
                time.sleep(0.1)

    def stop(self):
        self._stop_event.set()
        self.join(self.timeout + 30)


# -- records ----------------------------------------------------------------

def produce(bootstrap, topic, partitions, count, acks="all", prefix="v", timeout=30):
    """Produces `count` records spread over the partitions (a count, or a
    list of partition indexes); returns ({value: (partition, offset)}
    acknowledged, [delivery errors])."""
    targets = list(range(partitions)) if isinstance(partitions, int) else list(partitions)
    told, errors = {}, []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            told[msg.value()] = (msg.partition(), msg.offset())

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                         "message.timeout.ms": timeout * 1000})
    for i in range(count):
        producer.produce(topic, value=b"%s-%d" % (prefix.encode(), i), partition=targets[i % len(targets)],
                         on_delivery=delivered)
        producer.poll(0)
    left = producer.flush(timeout + 5)
    if left:
        errors.append(f"{left} records left unflushed")
    return told, errors


def read_all(bootstrap, topic, partitions, expect, timeout=40):
    """Reads every partition (a count, or a list of the partition indexes
    to read) from the start (assigned, no group commits)
    until `expect` records arrived or the timeout; returns
    ({value: (partition, offset)}, duplicates)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "read-" + topic,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    parts = range(partitions) if isinstance(partitions, int) else partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    read, duplicates = {}, 0
    deadline = time.time() + timeout
    try:
        while len(read) < expect and time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if msg.value() in read:
                duplicates += 1
            read[msg.value()] = (msg.partition(), msg.offset())
    finally:
        consumer.close()
    return read, duplicates


def read_to_end(bootstrap, topic, partitions, isolation="read_committed", timeout=10.0,
                raise_errors=True):
    """Every data record of the topic's partitions 0..partitions-1, by
    assign() from the start, until each partition's end offset (for this
    isolation level) or the timeout; returns (messages in arrival order,
    the partitions whose end was not reached). A consumer error other
    than the end of a partition raises KafkaException, or is skipped
    (raise_errors=False: librdkafka retries what it can)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex,
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True, "log.connection.close": False})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        messages, eof = [], set()
        deadline = time.monotonic() + timeout
        while len(eof) < partitions and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                elif raise_errors:
                    raise KafkaException(m.error())
                continue
            eof.discard(m.partition())
            messages.append(m)
        return messages, sorted(set(range(partitions)) - eof)
    finally:
        c.close()


def judge_records(told, read, duplicates):
    """Lost (acknowledged, not read), duplicated, divergent (read at
    another partition/offset than acknowledged) counts."""
    lost = [v for v in told if v not in read]
    divergent = [v for v in told if v in read and read[v] != told[v]]
    return {"lost": len(lost), "duplicated": duplicates, "divergent": len(divergent)}
