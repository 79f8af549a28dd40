"""The metadata image of a kgw cluster as clients see it, asked of one
broker at a time over the wire (kafka_wire), for tests that compare it
across restarts and between brokers. Stdlib only.

    image = cluster_image.metadata("127.0.0.1:9092")       # Metadata v12
    configs = cluster_image.topic_configs("127.0.0.1:9092", ["t1"])

metadata() returns a dict: cluster_id, controller_id, brokers {id: (host,
port, rack)}, topics {name: {"id": hex, "internal": bool, "partitions":
{index: {"leader", "leader_epoch", "replicas", "isr", "offline"}}}}.
Metadata v12 carries topic ids (v10+), which librdkafka 2.0's Python
binding does not show. topic_configs() is DescribeConfigs v0 asked of that
broker: {topic: {name: value}} of the non-default entries (the defaults are
the broker's static settings, the same on every node here).

Failure modes: a connection refused or closed raises OSError/ConnectionError;
a topic-level error is kept as "error" in the topic's dict (a caller
comparing images sees it).
"""

import kafka_wire
from kafka_wire import Enc


def _i32_array(d):
    return d.array(lambda d: d.i32())


def metadata(bootstrap, timeout=10):
    """Every topic, as broker `bootstrap` answers Metadata v12."""
    c = kafka_wire.Conn(bootstrap, client_id="cluster-image", timeout=timeout)
    try:
        body = Enc(flexible=True)
        body.uvarint(0)  # topics: null (all)
        body.boolean(False)  # allow_auto_topic_creation
        body.boolean(False)  # include_topic_authorized_operations
        body.tags()
        d = c.call(api_key=3, version=12, body=body, flexible=True)
    finally:
        c.close()
    d.i32()  # throttle

    def broker(d):
        b = (d.i32(), d.string(), d.i32(), d.string())
        d.tags()
        return b

    brokers = {b[0]: b[1:] for b in d.array(broker)}
    cluster_id = d.string()
    controller_id = d.i32()

    def partition(d):
        p = {"error": d.i16()}
        index = d.i32()
        p["leader"] = d.i32()
        p["leader_epoch"] = d.i32()
        p["replicas"] = _i32_array(d)
        p["isr"] = _i32_array(d)
        p["offline"] = _i32_array(d)
        d.tags()
        return index, p

    def topic(d):
        error = d.i16()
        name = d.string()
        t = {"id": d.take(16).hex(), "internal": d.boolean()}
        if error:
            t["error"] = error
        t["partitions"] = dict(d.array(partition))
        d.i32()  # authorized operations
        d.tags()
        return name, t

    topics = dict(d.array(topic))
    return {"cluster_id": cluster_id, "controller_id": controller_id, "brokers": brokers,
            "topics": topics}


def topic_configs(bootstrap, names, timeout=10):
    """{topic: {config: value}} of the non-default configs, DescribeConfigs
    v0 asked of broker `bootstrap`; a topic answered with an error maps to
    {"<error>": code}."""
    c = kafka_wire.Conn(bootstrap, client_id="cluster-image", timeout=timeout)
    try:
        body = Enc()
        body.array(list(names), lambda e, n: e.i8(2).string(n).i32(-1))  # TOPIC, all configs
        d = c.call(api_key=32, version=0, body=body)
    finally:
        c.close()
    d.i32()  # throttle

    def entry(d):
        name, value = d.string(), d.string()
        d.boolean()  # read_only
        is_default = d.boolean()
        d.boolean()  # sensitive
        return name, value, is_default

    out = {}

    def result(d):
        error = d.i16()
        d.string()  # message
        d.i8()
        name = d.string()
        entries = d.array(entry)
        out[name] = ({"<error>": error} if error else
                     {n: v for n, v, is_default in entries if not is_default})

    d.array(result)
    return out


def comparable(image, allow=("controller_id",)):
    """The image without what may legitimately differ (see the callers)."""
    return {k: v for k, v in image.items() if k not in allow}
