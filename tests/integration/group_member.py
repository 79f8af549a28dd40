"""One consumer-group member (confluent_kafka / librdkafka) as its own
process, so that tests can kill it with SIGKILL like a crashed consumer.

    python3 group_member.py BOOTSTRAP GROUP TOPIC OUTFILE [--assignor NAME]
                            [--instance-id ID] [--session-timeout-ms N]

It subscribes, and for every message commits that message's offset
synchronously and only then writes a line for it, so a message is in some
member's file exactly when its offset is committed. Each event is one JSON
line, flushed at once:
    {"ev": "assign", "partitions": [..]}     partitions it now owns (all of them)
    {"ev": "revoke", "partitions": [..]}     partitions taken away
    {"ev": "msg", "p": P, "o": OFFSET, "v": VALUE}
    {"ev": "commit_failed", "p": P, "o": OFFSET, "err": "..."}
    {"ev": "closed"}                          after a clean close (SIGTERM)
SIGTERM closes the consumer cleanly (LeaveGroup, unless static) and exits 0.
"""

import argparse
import json
import signal
import sys

from confluent_kafka import Consumer, KafkaException


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("group")
    ap.add_argument("topic")
    ap.add_argument("outfile")
    ap.add_argument("--assignor", default="range")
    ap.add_argument("--instance-id")
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    args = ap.parse_args()

    out = open(args.outfile, "a", buffering=1)

    def emit(**event):
        out.write(json.dumps(event) + "\n")
        out.flush()

    owned = set()

    def on_assign(consumer, partitions):
        owned.update(p.partition for p in partitions)
        emit(ev="assign", partitions=sorted(owned))

    def on_revoke(consumer, partitions):
        owned.difference_update(p.partition for p in partitions)
        emit(ev="revoke", partitions=sorted(p.partition for p in partitions))

    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": args.assignor,
        "session.timeout.ms": args.session_timeout_ms,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
        "log.connection.close": False,
    }
    if args.instance_id:
        conf["group.instance.id"] = args.instance_id
    consumer = Consumer(conf)
    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while not stopping:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            emit(ev="error", err=str(msg.error()))
            continue
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            # Not committed (e.g. the partition moved in a rebalance): its
            # next owner gets it again, so it is not recorded here.
            emit(ev="commit_failed", p=msg.partition(), o=msg.offset(), err=str(e))
            continue
        emit(ev="msg", p=msg.partition(), o=msg.offset(), v=msg.value().decode())
    consumer.close()
    emit(ev="closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
