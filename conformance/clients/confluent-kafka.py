#!/usr/bin/python3
"""Client matrix: confluent-kafka-python (Debian's python3-confluent-kafka,
on librdkafka) against a live gateway.

    /usr/bin/python3 conformance/clients/confluent-kafka.py HOST:PORT

Creates a 3-partition topic (AdminClient), produces keyed zstd messages with
headers, consumes them in a group, commits, closes; produces more and checks
a new consumer of the group resumes at the committed offsets; checks list
offsets; deletes the topic. Output: "client: ..." then one "ok: ..." line per
step; "FAIL: reason" and exit 1 at the first failure; exit 77 when
confluent-kafka is not installed.
"""
import os
import sys
import time

try:
    import confluent_kafka
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:
    print(f"SKIP: confluent-kafka is not installed ({e}); apt-get install python3-confluent-kafka")
    sys.exit(77)

PARTS = 3
step = "start"  # what is being done, for the failure line of an exception


def doing(what):
    global step
    step = what


def ok(msg):
    print(f"ok: {msg}", flush=True)


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def produce(conf, topic, phase, first, last):
    """Messages first..last: key key-(n % 16), value v-n, two headers, zstd.
    Returns {n: (partition, offset)} as the delivery reports said."""
    doing(f"produce {first}-{last}")
    producer = Producer({**conf, "compression.type": "zstd", "acks": "all"})
    placed, errors = {}, []

    def report(err, msg):
        n = int(msg.value()[2:])
        if err is not None:
            errors.append(f"message {n}: {err}")
        placed[n] = (msg.partition(), msg.offset())

    for n in range(first, last + 1):
        producer.produce(topic, key=f"key-{n % 16}", value=f"v-{n}",
                         headers=[("phase", str(phase).encode()), ("seq", str(n).encode())], on_delivery=report)
        producer.poll(0)
    left = producer.flush(30)
    if errors or left:
        fail(f"produce: {errors[0] if errors else f'{left} messages undelivered after 30 s'}")
    ok(f"produced messages {first}-{last} (keys, headers, zstd)")
    return placed


def consume(conf, topic, group, want):
    """A group consumer (manual commit) until `want` messages, then 2 s more
    to catch extras; commits synchronously, closes. Returns the messages and
    the committed offset of each partition."""
    doing(f"consume {want} messages in group {group}")
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = []
    deadline = time.time() + 60
    quiet_until = None
    while time.time() < deadline and (quiet_until is None or time.time() < quiet_until):
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            fail(f"consumer in group {group}: {m.error()}")
        got.append(m)
        if quiet_until is None and len(got) >= want:
            quiet_until = time.time() + 2
    if len(got) < want:
        fail(f"group {group} consumed {len(got)} of {want} messages within 60 s")
    consumer.commit(asynchronous=False)
    committed = {tp.partition: tp.offset
                 for tp in consumer.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=10)}
    consumer.close()
    return got, committed


def check(msgs, placed, phase):
    """Exactly the produced messages, at the offsets the delivery reports
    gave, with their keys and headers, in produce order per partition."""
    seen = {}
    last = {}
    for m in msgs:
        v = m.value() or b""
        n = int(v[2:]) if v[:2] == b"v-" and v[2:].isdigit() else None
        if n not in placed:
            fail(f"unexpected message {v!r} at partition {m.partition()} offset {m.offset()}")
        if n in seen:
            fail(f"message {n} consumed twice")
        seen[n] = m
        if (m.partition(), m.offset()) != placed[n]:
            fail(f"message {n} at partition {m.partition()} offset {m.offset()}, produced to {placed[n]}")
        if m.key() != f"key-{n % 16}".encode():
            fail(f"message {n} has key {m.key()!r}")
        if m.headers() != [("phase", str(phase).encode()), ("seq", str(n).encode())]:
            fail(f"message {n} has headers {m.headers()!r}")
        if m.offset() <= last.get(m.partition(), -1):
            fail(f"partition {m.partition()}: offset {m.offset()} after {last[m.partition()]}")
        last[m.partition()] = m.offset()
    missing = sorted(set(placed) - set(seen))
    if missing:
        fail(f"{len(missing)} messages missing, first {missing[0]}")


def ends(placed, base):
    """Next offset of each partition after the messages in placed."""
    out = dict(base)
    for p, o in placed.values():
        out[p] = max(out.get(p, 0), o + 1)
    return out


def list_offsets(conf, topic, want_latest):
    """ListOffsets earliest and latest of each partition (uncached watermarks)."""
    doing("list offsets")
    c = Consumer({**conf, "group.id": "kgw-client-unused"})
    marks = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in range(PARTS)}
    c.close()
    earliest = {p: lo for p, (lo, _) in marks.items()}
    latest = {p: hi for p, (_, hi) in marks.items()}
    if earliest != {p: 0 for p in range(PARTS)} or latest != want_latest:
        fail(f"list offsets: earliest {earliest}, latest {latest}, want all 0 and {want_latest}")
    ok(f"list offsets: earliest {earliest}, latest {latest}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    conf = {"bootstrap.servers": sys.argv[1], "broker.address.family": "v4"}
    print(f"client: confluent-kafka {confluent_kafka.version()[0]}, librdkafka {confluent_kafka.libversion()[0]}",
          flush=True)
    topic = f"kgw-client-confluent-kafka-{os.getpid()}-{int(time.time())}"
    group = f"{topic}-group"

    doing(f"create topic {topic}")
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, PARTS, 1)])[topic].result(10)
    parts = set(admin.list_topics(topic, timeout=10).topics[topic].partitions)
    if parts != set(range(PARTS)):
        fail(f"topic {topic} has partitions {parts} after CreateTopics, want 0-{PARTS - 1}")
    ok(f"created topic {topic} with {PARTS} partitions (AdminClient.create_topics)")

    placed1 = produce(conf, topic, 1, 0, 199)
    ends1 = ends(placed1, {p: 0 for p in range(PARTS)})
    if any(ends1[p] == 0 for p in range(PARTS)):
        fail(f"messages not spread over the {PARTS} partitions: next offsets {ends1}")
    msgs, committed = consume(conf, topic, group, 200)
    check(msgs, placed1, 1)
    if committed != ends1:
        fail(f"committed offsets {committed} after consuming everything, want {ends1}")
    ok(f"group {group} consumed 0-199 (keys, values, headers, offsets, order), committed {committed}, closed")
    list_offsets(conf, topic, ends1)

    placed2 = produce(conf, topic, 2, 200, 249)
    msgs, committed = consume(conf, topic, group, 50)
    check(msgs, placed2, 2)
    firsts = {}
    for m in msgs:
        firsts.setdefault(m.partition(), m.offset())
    if any(firsts[p] != ends1[p] for p in firsts):
        fail(f"new consumer started at {firsts}, committed offsets were {ends1}")
    ends2 = ends(placed2, ends1)
    if committed != ends2:
        fail(f"committed offsets {committed} after the second consumer, want {ends2}")
    ok(f"new consumer in {group} resumed at {firsts}: only 200-249, in order; committed {committed}")
    list_offsets(conf, topic, ends2)

    doing(f"delete topic {topic}")
    admin.delete_topics([topic])[topic].result(10)
    deadline = time.time() + 10
    while topic in admin.list_topics(timeout=10).topics:
        if time.time() > deadline:
            fail(f"topic {topic} still listed 10 s after DeleteTopics")
        time.sleep(0.2)
    ok(f"deleted topic {topic}; it is no longer listed")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - report any client error as the failure
        fail(f"{step}: {type(e).__name__}: {e}")
