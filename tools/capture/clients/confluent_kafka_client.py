#!/usr/bin/env python3
"""Drives python3-confluent-kafka (librdkafka) through a broker for capture.

Each step runs on its own and reports failure without stopping the rest:
the mock cluster rejects some APIs, and the frames sent are what we want.

    confluent_kafka_client.py BOOTSTRAP TOPIC
"""

import sys
import time
import traceback

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

FAILED = []


def step(name):
    def wrap(fn):
        def run(*args):
            t0 = time.monotonic()
            try:
                fn(*args)
                print(f"  ok   {name} ({time.monotonic() - t0:.1f}s)", flush=True)
            except Exception as e:  # noqa: BLE001 - any failure is reported, not fatal
                FAILED.append(name)
                print(f"  FAIL {name}: {type(e).__name__}: {e}", flush=True)
                if "-v" in sys.argv:
                    traceback.print_exc()
        return run
    return wrap


def base(bootstrap, **extra):
    conf = {"bootstrap.servers": bootstrap, "client.id": "kgw-capture-confluent",
            "socket.timeout.ms": 5000}
    conf.update(extra)
    return conf


def produce_some(p, topic, n, prefix):
    for i in range(n):
        p.produce(topic, key=f"{prefix}-k{i}".encode(), value=f"{prefix}-value-{i}".encode(),
                  headers=[("h1", b"v1"), ("trace", f"{i}".encode())], partition=i % 2)
        p.poll(0)
    left = p.flush(10)
    if left:
        raise RuntimeError(f"{left} messages not delivered")


@step("producer acks=all, idempotent")
def idempotent_producer(bootstrap, topic):
    p = Producer(base(bootstrap, **{"enable.idempotence": True, "linger.ms": 5}))
    produce_some(p, topic, 6, "idem")


@step("producer acks=1, lz4, batched")
def plain_producer(bootstrap, topic):
    p = Producer(base(bootstrap, **{"acks": 1, "compression.type": "lz4", "linger.ms": 20}))
    produce_some(p, topic, 10, "lz4")


@step("transactional producer commit + abort")
def transactional_producer(bootstrap, topic):
    p = Producer(base(bootstrap, **{"transactional.id": "kgw-capture-txn",
                                    "transaction.timeout.ms": 10000}))
    p.init_transactions(10)
    p.begin_transaction()
    produce_some(p, topic, 3, "txn")
    p.commit_transaction(10)
    p.begin_transaction()
    p.produce(topic, key=b"aborted", value=b"never-visible", partition=0)
    p.flush(5)
    p.abort_transaction(10)


@step("consume-transform-produce (send_offsets_to_transaction)")
def consume_transform_produce(bootstrap, topic):
    group = "kgw-capture-ctp"
    c = Consumer(base(bootstrap, **{"group.id": group, "auto.offset.reset": "earliest",
                                    "enable.auto.commit": False,
                                    "isolation.level": "read_committed"}))
    c.subscribe([topic])
    msgs = poll_until(c, 3, 10)
    p = Producer(base(bootstrap, **{"transactional.id": "kgw-capture-ctp-txn"}))
    p.init_transactions(10)
    p.begin_transaction()
    for m in msgs:
        p.produce(topic, key=m.key(), value=b"transformed:" + (m.value() or b""), partition=1)
    p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 10)
    p.commit_transaction(10)
    c.close()


def poll_until(c, want, seconds):
    msgs = []
    deadline = time.monotonic() + seconds
    while len(msgs) < want and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            msgs.append(m)
    if len(msgs) < want:
        raise RuntimeError(f"got {len(msgs)} of {want} messages")
    return msgs


@step("consumer group, eager assignor, sync commits, offsets queries")
def group_consumer(bootstrap, topic):
    c = Consumer(base(bootstrap, **{"group.id": "kgw-capture-group",
                                    "auto.offset.reset": "earliest",
                                    "enable.auto.commit": False,
                                    "heartbeat.interval.ms": 300,
                                    "session.timeout.ms": 6000}))
    c.subscribe([topic])
    msgs = poll_until(c, 5, 10)
    c.commit(message=msgs[-1], asynchronous=False)
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    c.committed(parts, 5)
    c.get_watermark_offsets(parts[0], 5)
    c.offsets_for_times([TopicPartition(topic, 0, int(time.time() * 1000) - 60000)], 5)
    time.sleep(1.0)  # a few heartbeats
    c.close()


@step("consumer group, cooperative-sticky, static member, auto commit")
def cooperative_consumer(bootstrap, topic):
    c = Consumer(base(bootstrap, **{"group.id": "kgw-capture-coop",
                                    "group.instance.id": "kgw-capture-static-1",
                                    "partition.assignment.strategy": "cooperative-sticky",
                                    "auto.offset.reset": "earliest",
                                    "auto.commit.interval.ms": 200,
                                    "heartbeat.interval.ms": 300,
                                    "session.timeout.ms": 6000}))
    c.subscribe([topic])
    poll_until(c, 3, 10)
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        c.poll(0.1)
    c.close()


@step("assign() consumer without group coordination")
def assigned_consumer(bootstrap, topic):
    c = Consumer(base(bootstrap, **{"group.id": "kgw-capture-assign",
                                    "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    poll_until(c, 2, 10)
    c.close()


def admin_call(fs, timeout=5):
    for _, f in fs.items():
        f.result(timeout)


@step("admin list_topics")
def admin_list_topics(bootstrap, topic):
    a = AdminClient(base(bootstrap))
    md = a.list_topics(timeout=5)
    if topic not in md.topics:
        raise RuntimeError(f"{topic} missing from metadata")
    a.list_topics(topic=topic, timeout=5)


@step("admin list_groups")
def admin_list_groups(bootstrap, _topic):
    a = AdminClient(base(bootstrap))
    a.list_groups(timeout=5)


# The 2.0.2 mock cluster implements no admin API (CreateTopics, DescribeConfigs,
# ListGroups...), so librdkafka fails these locally without sending a frame;
# one call documents that.
@step("admin create_topics (mock lacks CreateTopics)")
def admin_create_topics(bootstrap, _topic):
    a = AdminClient(base(bootstrap))
    admin_call(a.create_topics([NewTopic("kgw-capture-created", 3, 1,
                                         config={"cleanup.policy": "compact"})],
                               operation_timeout=1, request_timeout=2), timeout=4)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, topic = sys.argv[1], sys.argv[2]
    import confluent_kafka
    print(f"confluent-kafka {confluent_kafka.version()[0]}, "
          f"librdkafka {confluent_kafka.libversion()[0]}", flush=True)
    for fn in (admin_list_topics, idempotent_producer, plain_producer, transactional_producer,
               group_consumer, cooperative_consumer, assigned_consumer,
               consume_transform_produce, admin_list_groups, admin_create_topics):
        fn(bootstrap, topic)
    if FAILED:
        print(f"failed steps: {', '.join(FAILED)}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as e:
        print(f"fatal: {e}", file=sys.stderr)
        sys.exit(1)
