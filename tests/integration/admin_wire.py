"""A few Kafka requests encoded by hand, for APIs the client libraries on
Debian bookworm do not expose (librdkafka 2.0.2, confluent-kafka 1.7 and
kafka-python 2.0.2 have no IncrementalAlterConfigs, DescribeLogDirs,
ElectLeaders, partition reassignment or client quota calls). Stdlib only.

Each call opens a connection, sends one request at a non-flexible version
(or the first, flexible one where that is all there is) and returns the
decoded response as dicts and lists. Field layouts are Kafka's
(protocol/schema/*.schema)."""

import socket
import struct


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        b = self.data[self.pos:self.pos + n]
        if len(b) != n:
            raise ValueError("response truncated")
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def f64(self):
        return struct.unpack(">d", self.take(8))[0]

    def boolean(self):
        return self.i8() != 0

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def array(self, item):
        n = self.i32()
        return None if n < 0 else [item() for _ in range(n)]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def compact_string(self):
        n = self.uvarint() - 1
        return None if n < 0 else self.take(n).decode()

    def compact_array(self, item):
        n = self.uvarint() - 1
        return None if n < 0 else [item() for _ in range(n)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def f64(v):
    return struct.pack(">d", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def array(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def compact_array(items, enc):
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


TAGS = uvarint(0)


def call(bootstrap, api_key, version, body, flexible=False, timeout=30.0):
    """Sends one request, returns a Reader over the response body."""
    host, port = bootstrap.rsplit(":", 1)
    header = i16(api_key) + i16(version) + i32(7) + string("kgw-it-wire")
    if flexible:
        header += TAGS
    frame = header + body
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(i32(len(frame)) + frame)
        size = struct.unpack(">i", _recv(s, 4))[0]
        r = Reader(_recv(s, size))
    if r.i32() != 7:
        raise ValueError("correlation id mismatch")
    if flexible:
        r.tags()
    return r


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("kgw closed the connection")
        buf += chunk
    return buf


def api_versions(bootstrap):
    """{api_key: (min, max)} that the broker advertises."""
    r = call(bootstrap, 18, 0, b"")
    err = r.i16()
    if err:
        raise ValueError(f"ApiVersions error {err}")
    return {k: (lo, hi) for k, lo, hi in r.array(lambda: (r.i16(), r.i16(), r.i16()))}


SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC, BROKER = 2, 4


def incremental_alter_configs(bootstrap, resources, validate_only=False):
    """resources: [(type, name, [(config, op, value)])] ->
    [(error_code, error_message, type, name)] (v0)."""
    body = array(resources, lambda res: i8(res[0]) + string(res[1]) + array(
        res[2], lambda c: string(c[0]) + i8(c[1]) + string(c[2]))) + i8(1 if validate_only else 0)
    r = call(bootstrap, 44, 0, body)
    r.i32()  # throttle
    return r.array(lambda: (r.i16(), r.string(), r.i8(), r.string()))


def describe_log_dirs(bootstrap, topics=None):
    """topics: None (all) or [(topic, [partitions])] -> [(error, dir,
    {topic: {partition: size}})] (v1)."""
    body = array(topics, lambda t: string(t[0]) + array(t[1], i32))
    r = call(bootstrap, 35, 1, body)
    r.i32()

    def partition():
        p, size, _lag, _future = r.i32(), r.i64(), r.i64(), r.boolean()
        return p, size

    def topic():
        name = r.string()
        return name, dict(r.array(partition))

    def result():
        err, d = r.i16(), r.string()
        return err, d, dict(r.array(topic))

    return r.array(result)


def elect_leaders(bootstrap, topic_partitions, election_type=0):
    """[(topic, [partitions])] -> (top error, {(topic, p): error}) (v1)."""
    body = i8(election_type) + array(topic_partitions, lambda t: string(t[0]) + array(t[1], i32)) + i32(10000)
    r = call(bootstrap, 43, 1, body)
    r.i32()
    top = r.i16()
    out = {}
    for topic, parts in r.array(lambda: (r.string(), r.array(lambda: (r.i32(), r.i16(), r.string())))):
        for p, err, _msg in parts:
            out[(topic, p)] = err
    return top, out


def alter_partition_reassignments(bootstrap, topics):
    """[(topic, [(partition, replicas or None)])] -> {(topic, p): (error, message)} (v0, flexible)."""
    body = i32(10000) + compact_array(topics, lambda t: compact_string(t[0]) + compact_array(
        t[1], lambda p: i32(p[0]) + compact_array(p[1], i32) + TAGS) + TAGS) + TAGS
    r = call(bootstrap, 45, 0, body, flexible=True)
    r.i32()
    r.i16()
    r.compact_string()
    out = {}

    def partition():
        p, err, msg = r.i32(), r.i16(), r.compact_string()
        r.tags()
        return p, err, msg

    def topic():
        name = r.compact_string()
        parts = r.compact_array(partition)
        r.tags()
        return name, parts

    for name, parts in r.compact_array(topic):
        for p, err, msg in parts:
            out[(name, p)] = (err, msg)
    return out


def list_partition_reassignments(bootstrap):
    """-> (error, [topic names with reassignments]) (v0, flexible)."""
    body = i32(10000) + uvarint(0) + TAGS  # topics: null = all
    r = call(bootstrap, 46, 0, body, flexible=True)
    r.i32()
    err = r.i16()
    r.compact_string()

    def partition():
        p = r.i32()
        for _ in range(3):
            r.compact_array(r.i32)
        r.tags()
        return p

    def topic():
        name = r.compact_string()
        r.compact_array(partition)
        r.tags()
        return name

    return err, r.compact_array(topic)


def describe_topic_partitions(bootstrap, topics=(), limit=2000, cursor=None):
    """DescribeTopicPartitions v0 (flexible). topics: names ([] = all);
    cursor: None or (topic, partition) -> (topics, next_cursor), each topic
    a dict with error, name, internal, partitions (dicts with error,
    partition, leader, leader_epoch, replicas, isr, elr, last_known_elr,
    offline) and next_cursor None or (topic, partition)."""
    body = compact_array(list(topics), lambda t: compact_string(t) + TAGS) + i32(limit)
    body += i8(-1) if cursor is None else i8(1) + compact_string(cursor[0]) + i32(cursor[1]) + TAGS
    body += TAGS
    r = call(bootstrap, 75, 0, body, flexible=True)
    r.i32()

    def partition():
        p = {"error": r.i16(), "partition": r.i32(), "leader": r.i32(), "leader_epoch": r.i32(),
             "replicas": r.compact_array(r.i32), "isr": r.compact_array(r.i32),
             "elr": r.compact_array(r.i32), "last_known_elr": r.compact_array(r.i32),
             "offline": r.compact_array(r.i32)}
        r.tags()
        return p

    def topic():
        t = {"error": r.i16(), "name": r.compact_string(), "id": r.take(16)}
        t["internal"] = r.boolean()
        t["partitions"] = r.compact_array(partition)
        t["authorized_operations"] = r.i32()
        r.tags()
        return t

    out = r.compact_array(topic)
    next_cursor = None
    if r.i8() >= 0:
        next_cursor = (r.compact_string(), r.i32())
        r.tags()
    r.tags()
    return out, next_cursor


def alter_client_quotas(bootstrap, entries, validate_only=False):
    """entries: [([(type, name)], [(key, value, remove)])] -> [(error, message)] (v0)."""
    body = array(entries, lambda e: array(e[0], lambda p: string(p[0]) + string(p[1])) + array(
        e[1], lambda op: string(op[0]) + f64(op[1]) + i8(1 if op[2] else 0))) + i8(1 if validate_only else 0)
    r = call(bootstrap, 49, 0, body)
    r.i32()

    def entry():
        err, msg = r.i16(), r.string()
        r.array(lambda: (r.string(), r.string()))
        return err, msg

    return r.array(entry)


def describe_client_quotas(bootstrap, components, strict=False):
    """components: [(entity_type, match_type, match)] -> (error, message,
    [({type: name}, {key: value})]) (v0)."""
    body = array(components, lambda c: string(c[0]) + i8(c[1]) + string(c[2])) + i8(1 if strict else 0)
    r = call(bootstrap, 48, 0, body)
    r.i32()
    err, msg = r.i16(), r.string()

    def entry():
        entity = dict(r.array(lambda: (r.string(), r.string())))
        values = dict(r.array(lambda: (r.string(), r.f64())))
        return entity, values

    return err, msg, r.array(entry)


def fetch_batches(bootstrap, topic, partition, offset, max_bytes=1 << 20):
    """Fetch v4 of one partition -> (error, [(base_offset, codec, record_count)])."""
    body = (i32(-1) + i32(100) + i32(1) + i32(max_bytes) + i8(0) +
            array([topic], lambda t: string(t) + array(
                [partition], lambda p: i32(p) + struct.pack(">q", offset) + i32(max_bytes))))
    r = call(bootstrap, 1, 4, body)
    r.i32()
    result = None
    for _name, parts in r.array(lambda: (r.string(), r.array(lambda: (
            r.i32(), r.i16(), r.i64(), r.i64(),
            r.array(lambda: (r.i64(), r.i64())), r.take(max(r.i32(), 0)))))):
        for _p, err, _hw, _lso, _aborted, records in parts:
            batches = []
            pos = 0
            while pos + 61 <= len(records):
                base, length = struct.unpack(">qi", records[pos:pos + 12])
                if pos + 12 + length > len(records):
                    break
                attributes = struct.unpack(">h", records[pos + 21:pos + 23])[0]
                count = struct.unpack(">i", records[pos + 57:pos + 61])[0]
                batches.append((base, attributes & 7, count))
                pos += 12 + length
            result = (err, batches)
    return result
