#!/usr/bin/python3
"""Client matrix: kafka-python (Debian's python3-kafka) against a live gateway.

    /usr/bin/python3 conformance/clients/kafka-python.py HOST:PORT

Creates a 3-partition topic (KafkaAdminClient), produces keyed gzip messages
with headers, consumes them in a group, commits, closes; produces more and
checks a new consumer of the group resumes at the committed offsets; checks
list offsets; deletes the topic. Output: "client: ..." then one "ok: ..."
line per step; "FAIL: reason" and exit 1 at the first failure; exit 77 when
kafka-python is not installed.
"""
import os
import sys
import time

try:
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
except ImportError as e:
    print(f"SKIP: kafka-python is not installed ({e}); apt-get install python3-kafka")
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


def produce(bootstrap, topic, phase, first, last):
    """Messages first..last: key key-(n % 16), value v-n, two headers, gzip.
    Returns {n: (partition, offset)} as the producer was told."""
    doing(f"produce {first}-{last}")
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", acks="all")
    futures = {n: producer.send(topic, key=f"key-{n % 16}".encode(), value=f"v-{n}".encode(),
                                headers=[("phase", str(phase).encode()), ("seq", str(n).encode())])
               for n in range(first, last + 1)}
    producer.flush(30)
    placed = {}
    for n, f in futures.items():
        try:
            md = f.get(timeout=10)
        except Exception as e:  # noqa: BLE001 - any client error is the finding
            fail(f"produce of message {n}: {e!r}")
        placed[n] = (md.partition, md.offset)
    producer.close()
    ok(f"produced messages {first}-{last} (keys, headers, gzip)")
    return placed


def consume(bootstrap, topic, group, want):
    """A group consumer (manual commit) until `want` messages, then 2 s more
    to catch extras; commits synchronously, closes. Returns the records and
    the committed offset of each partition."""
    doing(f"consume {want} messages in group {group}")
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    got = []
    deadline = time.time() + 60
    quiet_until = None
    while time.time() < deadline and (quiet_until is None or time.time() < quiet_until):
        for recs in consumer.poll(timeout_ms=500).values():
            got.extend(recs)
        if quiet_until is None and len(got) >= want:
            quiet_until = time.time() + 2
    if len(got) < want:
        fail(f"group {group} consumed {len(got)} of {want} messages within 60 s")
    consumer.commit()
    committed = {p: consumer.committed(TopicPartition(topic, p)) for p in range(PARTS)}
    consumer.close(autocommit=False)
    return got, committed


def check(records, placed, phase):
    """Exactly the produced messages, at the offsets the producer was told,
    with their keys and headers, in produce order per partition."""
    seen = {}
    last = {}
    for r in records:
        n = int(r.value[2:]) if r.value[:2] == b"v-" and r.value[2:].isdigit() else None
        if n not in placed:
            fail(f"unexpected message {r.value!r} at partition {r.partition} offset {r.offset}")
        if n in seen:
            fail(f"message {n} consumed twice")
        seen[n] = r
        if (r.partition, r.offset) != placed[n]:
            fail(f"message {n} at partition {r.partition} offset {r.offset}, produced to {placed[n]}")
        if r.key != f"key-{n % 16}".encode():
            fail(f"message {n} has key {r.key!r}")
        if list(r.headers) != [("phase", str(phase).encode()), ("seq", str(n).encode())]:
            fail(f"message {n} has headers {r.headers!r}")
        if r.offset <= last.get(r.partition, -1):
            fail(f"partition {r.partition}: offset {r.offset} after {last[r.partition]}")
        last[r.partition] = r.offset
    missing = sorted(set(placed) - set(seen))
    if missing:
        fail(f"{len(missing)} messages missing, first {missing[0]}")


def ends(placed, base):
    """Next offset of each partition after the messages in placed."""
    out = dict(base)
    for p, o in placed.values():
        out[p] = max(out.get(p, 0), o + 1)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    bootstrap = sys.argv[1]
    print(f"client: kafka-python {kafka.__version__}", flush=True)
    topic = f"kgw-client-kafka-python-{os.getpid()}-{int(time.time())}"
    group = f"{topic}-group"

    doing(f"create topic {topic}")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=PARTS, replication_factor=1)], timeout_ms=10000)
    probe = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = probe.partitions_for_topic(topic)
    if parts != set(range(PARTS)):
        fail(f"topic {topic} has partitions {parts} after CreateTopics, want 0-{PARTS - 1}")
    ok(f"created topic {topic} with {PARTS} partitions (KafkaAdminClient.create_topics)")

    placed1 = produce(bootstrap, topic, 1, 0, 199)
    ends1 = ends(placed1, {p: 0 for p in range(PARTS)})
    if any(ends1[p] == 0 for p in range(PARTS)):
        fail(f"messages not spread over the {PARTS} partitions: next offsets {ends1}")
    recs, committed = consume(bootstrap, topic, group, 200)
    check(recs, placed1, 1)
    if committed != ends1:
        fail(f"committed offsets {committed} after consuming everything, want {ends1}")
    ok(f"group {group} consumed 0-199 (keys, values, headers, offsets, order), committed {committed}, closed")

    doing("list offsets")
    tps = [TopicPartition(topic, p) for p in range(PARTS)]
    earliest = {tp.partition: o for tp, o in probe.beginning_offsets(tps).items()}
    latest = {tp.partition: o for tp, o in probe.end_offsets(tps).items()}
    if earliest != {p: 0 for p in range(PARTS)} or latest != ends1:
        fail(f"list offsets: earliest {earliest}, latest {latest}, want all 0 and {ends1}")
    ok(f"list offsets: earliest {earliest}, latest {latest}")

    placed2 = produce(bootstrap, topic, 2, 200, 249)
    recs, committed = consume(bootstrap, topic, group, 50)
    check(recs, placed2, 2)
    firsts = {}
    for r in recs:
        firsts.setdefault(r.partition, r.offset)
    if any(firsts[p] != ends1[p] for p in firsts):
        fail(f"new consumer started at {firsts}, committed offsets were {ends1}")
    ends2 = ends(placed2, ends1)
    if committed != ends2:
        fail(f"committed offsets {committed} after the second consumer, want {ends2}")
    ok(f"new consumer in {group} resumed at {firsts}: only 200-249, in order; committed {committed}")

    doing("list offsets")
    earliest = {tp.partition: o for tp, o in probe.beginning_offsets(tps).items()}
    latest = {tp.partition: o for tp, o in probe.end_offsets(tps).items()}
    if earliest != {p: 0 for p in range(PARTS)} or latest != ends2:
        fail(f"list offsets: earliest {earliest}, latest {latest}, want all 0 and {ends2}")
    ok(f"list offsets: earliest {earliest}, latest {latest}")
    probe.close()

    doing(f"delete topic {topic}")
    admin.delete_topics([topic], timeout_ms=10000)
    deadline = time.time() + 10
    while topic in admin.list_topics():
        if time.time() > deadline:
            fail(f"topic {topic} still listed 10 s after DeleteTopics")
        time.sleep(0.2)
    admin.close()
    ok(f"deleted topic {topic}; it is no longer listed")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - report any client error as the failure
        fail(f"{step}: {type(e).__name__}: {e}")
