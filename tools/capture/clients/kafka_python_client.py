#!/usr/bin/env python3
"""Drives python3-kafka (kafka-python, a pure-Python client) through a broker
for capture. kafka-python picks one request version per API from the broker
version it detects (or is told), instead of negotiating each API, so forcing
older broker versions yields old encodings (MessageSet v0/v1, Fetch v0..).

Each step runs on its own and reports failure without stopping the rest.

    kafka_python_client.py BOOTSTRAP TOPIC
"""

import logging
import sys
import time
import traceback

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

FAILED = []


def step(name, fn, *args):
    t0 = time.monotonic()
    try:
        note = fn(*args)
        note = f", {note}" if note else ""
        print(f"  ok   {name} ({time.monotonic() - t0:.1f}s{note})", flush=True)
    except Exception as e:  # noqa: BLE001 - any failure is reported, not fatal
        FAILED.append(name)
        print(f"  FAIL {name}: {type(e).__name__}: {e}", flush=True)
        if "-v" in sys.argv:
            traceback.print_exc()


def common(bootstrap, api_version):
    kw = {"bootstrap_servers": bootstrap, "client_id": "kgw-capture-kafka-python",
          "request_timeout_ms": 10000, "api_version_auto_timeout_ms": 5000}
    if api_version is not None:
        kw["api_version"] = api_version
    return kw


def produce(bootstrap, topic, api_version, compression, tag):
    kw = common(bootstrap, api_version)
    p = KafkaProducer(acks="all", compression_type=compression, linger_ms=5, **kw)
    headers_ok = p.config["api_version"] >= (0, 11)
    futures = []
    for i in range(4):
        extra = {"headers": [("h1", b"v1"), ("seq", str(i).encode())]} if headers_ok else {}
        # kafka-python sends a batch uncompressed when compression does not
        # shrink it, so compressed runs get a repetitive value.
        value = f"{tag}-value-{i}" + ("-abcdefgh" * 16 if compression else "")
        futures.append(p.send(topic, key=f"{tag}-k{i}".encode(), value=value.encode(),
                              partition=i % 2, **extra))
    p.flush(10)
    for f in futures:
        f.get(timeout=10)
    detected = p.config["api_version"]
    p.close(5)
    if api_version is None:
        return "detected api_version " + ".".join(map(str, detected))
    return None


def consume_group(bootstrap, topic, api_version, group, want):
    kw = common(bootstrap, api_version)
    c = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, heartbeat_interval_ms=300,
                      session_timeout_ms=6000, **kw)
    got = 0
    deadline = time.monotonic() + 10
    while got < want and time.monotonic() < deadline:
        for _, msgs in c.poll(timeout_ms=300).items():
            got += len(msgs)
    if got < want:
        raise RuntimeError(f"got {got} of {want} messages")
    c.commit()
    parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    for tp in parts:
        c.committed(tp)
    c.beginning_offsets(parts)
    c.end_offsets(parts)
    if c.config["api_version"] >= (0, 10, 1):
        c.offsets_for_times({parts[0]: int(time.time() * 1000) - 60000})
    time.sleep(0.8)  # a few heartbeats
    c.close()


def consume_assigned(bootstrap, topic, api_version, want):
    kw = common(bootstrap, api_version)
    c = KafkaConsumer(group_id=None, auto_offset_reset="earliest", **kw)
    c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    got = 0
    deadline = time.monotonic() + 8
    while got < want and time.monotonic() < deadline:
        for _, msgs in c.poll(timeout_ms=300).items():
            got += len(msgs)
    c.close()
    if got < want:
        raise RuntimeError(f"got {got} of {want} messages")


def admin(bootstrap, topic, api_version):
    kw = common(bootstrap, api_version)
    a = KafkaAdminClient(**kw)
    calls = [
        ("list_topics", lambda: a.list_topics()),
        ("describe_topics", lambda: a.describe_topics([topic])),
        ("describe_cluster", lambda: a.describe_cluster()),
        ("list_consumer_groups", lambda: a.list_consumer_groups()),
        ("describe_consumer_groups", lambda: a.describe_consumer_groups(["kgw-capture-kp"])),
        ("list_consumer_group_offsets",
         lambda: a.list_consumer_group_offsets("kgw-capture-kp")),
        ("create_topics", lambda: a.create_topics(
            [NewTopic("kgw-capture-kp-created", 2, 1, topic_configs={"retention.ms": "60000"})],
            timeout_ms=2000)),
        ("create_partitions", lambda: a.create_partitions(
            {topic: NewPartitions(total_count=4)}, timeout_ms=2000)),
        ("describe_configs", lambda: a.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)])),
        ("delete_topics", lambda: a.delete_topics(["kgw-capture-kp-created"], timeout_ms=2000)),
        ("delete_consumer_groups", lambda: a.delete_consumer_groups(["kgw-capture-kp"])),
    ]
    failed = []
    for name, call in calls:
        try:
            call()
        except Exception as e:  # noqa: BLE001
            failed.append(f"{name} ({type(e).__name__})")
    a.close()
    if failed:
        raise RuntimeError("admin calls failed: " + ", ".join(failed))


def compression_available(codec):
    from kafka import codec as kc
    return {"gzip": kc.has_gzip, "snappy": kc.has_snappy, "lz4": kc.has_lz4,
            "zstd": kc.has_zstd}[codec]()


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, topic = sys.argv[1], sys.argv[2]
    logging.basicConfig(level=logging.CRITICAL)
    print(f"kafka-python {kafka.__version__}", flush=True)

    # Auto-detected broker version first: ApiVersions-based probing.
    step("producer, auto api_version", produce, bootstrap, topic, None, None, "auto")
    step("group consumer + commit, auto api_version", consume_group, bootstrap, topic, None,
         "kgw-capture-kp", 4)
    step("admin calls, auto api_version", admin, bootstrap, topic, None)
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        if compression_available(codec):
            ver = (2, 1, 0) if codec == "zstd" else None
            step(f"producer {codec}", produce, bootstrap, topic, ver, codec, codec)
        else:
            print(f"  skip producer {codec}: Python module missing", flush=True)

    # Forced older broker versions give older request versions and message formats.
    for ver in ((0, 11), (0, 10, 1), (0, 10, 0), (0, 9)):
        label = ".".join(map(str, ver))
        step(f"producer api_version={label}", produce, bootstrap, topic, ver, None, f"v{label}")
        if ver == (0, 10, 1) and compression_available("lz4"):
            step(f"producer lz4 api_version={label}", produce, bootstrap, topic, ver, "lz4",
                 f"lz4v{label}")
        step(f"group consumer api_version={label}", consume_group, bootstrap, topic, ver,
             f"kgw-capture-kp-{label}", 2)
    step("assigned consumer api_version=0.8.2", consume_assigned, bootstrap, topic, (0, 8, 2), 2)
    if FAILED:
        print(f"failed steps: {', '.join(FAILED)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
