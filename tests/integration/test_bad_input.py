"""Malformed input over raw sockets against a real kgw: broken frames, bad
sizes, unknown APIs and versions, garbage bodies, huge array counts, and
thousands of seeded random mutations of requests captured from real
clients. After each, kgw must still be alive and serve a good client on
another connection, without its memory running away; during the mutation
run a well-formed client produces and reads metadata beside it all along.

Stdlib only; kcat (if installed) is the good client, else a raw request."""

import os
import random
import selectors
import shutil
import socket
import struct
import subprocess
import threading
import time
import unittest

import kgw_harness
import record_wire as rw
from kafka_wire import crc32c

MAX_REQUEST = 1_048_576  # socket.request.max.bytes for this kgw
RSS_LIMIT_KB = 500 * 1024  # generous: a leak or a huge allocation is far beyond it
# Generous bounds that only keep a broken kgw from hanging the suite.
TIMEOUT = 30.0
# Overridable for longer runs by hand (e.g. against an ASan build).
FUZZ_COUNT = int(os.environ.get("KGW_FUZZ_COUNT", "5000"))
FUZZ_SEED = int(os.environ.get("KGW_FUZZ_SEED", "20240611"))
CAPTURED_DIR = os.path.join(kgw_harness.FIXTURES_DIR, "captured")

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_FIND_COORDINATOR, API_JOIN_GROUP, API_API_VERSIONS = 10, 11, 18
API_CREATE_TOPICS, API_DELETE_TOPICS, API_INIT_PRODUCER_ID = 19, 20, 22
API_DESCRIBE_CONFIGS, API_CREATE_PARTITIONS, API_DESCRIBE_CLUSTER = 32, 37, 60
UNSUPPORTED_VERSION = 35

# The first flexible version (request header v2) of each API we send.
FIRST_FLEXIBLE = {
    API_PRODUCE: 9, API_FETCH: 12, API_LIST_OFFSETS: 6, API_METADATA: 9,
    API_FIND_COORDINATOR: 3, API_JOIN_GROUP: 6, API_API_VERSIONS: 3, API_CREATE_TOPICS: 5,
    API_DELETE_TOPICS: 4, API_INIT_PRODUCER_ID: 2, API_DESCRIBE_CONFIGS: 4,
    API_CREATE_PARTITIONS: 2, API_DESCRIBE_CLUSTER: 0,
}


# -- encoding ---------------------------------------------------------------

def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def string(s):
    b = s.encode()
    return i16(len(b)) + b


def compact_string(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def header(api_key, version, correlation_id=1, client_id="kgw-bad-input"):
    h = i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)
    if version >= FIRST_FLEXIBLE.get(api_key, 1 << 15):
        h += uvarint(0)  # no tagged fields
    return h


def frame(payload, size=None):
    return i32(len(payload) if size is None else size) + payload


def api_versions_v0(correlation_id=1):
    return frame(header(API_API_VERSIONS, 0, correlation_id))


def metadata_v1(topics=None, correlation_id=2):
    if topics is None:
        body = i32(-1)  # all topics
    else:
        body = i32(len(topics)) + b"".join(string(t) for t in topics)
    return frame(header(API_METADATA, 1, correlation_id) + body)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))  # zigzag


def record_batch(values, timestamp=1_700_000_000_000):
    """An uncompressed v2 record batch of non-idempotent records."""
    records = b""
    for i, value in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(value)) + value \
            + varint(0)
        records += varint(len(body)) + body
    after_crc = (i16(0) + i32(len(values) - 1) + struct.pack(">qq", timestamp, timestamp)
                 + struct.pack(">qhi", -1, -1, -1) + i32(len(values)) + records)
    after_length = i32(0) + b"\x02" + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">q", 0) + i32(len(after_length)) + after_length


def produce_v3(topic, partition, values, acks, correlation_id):
    batch = record_batch(values)
    body = (i16(-1) + i16(acks) + i32(10_000) + i32(1) + string(topic) + i32(1)
            + i32(partition) + i32(len(batch)) + batch)
    return frame(header(API_PRODUCE, 3, correlation_id) + body)


def parse_metadata_v1(payload):
    """(correlation_id, [(error_code, topic name, partition count)])."""
    off = 0

    def take(fmt):
        nonlocal off
        vals = struct.unpack_from(fmt, payload, off)
        off += struct.calcsize(fmt)
        return vals if len(vals) > 1 else vals[0]

    def take_string():
        nonlocal off
        n = take(">h")
        s = payload[off:off + max(n, 0)].decode()
        off += max(n, 0)
        return s if n >= 0 else None

    corr = take(">i")
    for _ in range(take(">i")):  # brokers: node id, host, port, rack
        take(">i"), take_string(), take(">i"), take_string()
    take(">i")  # controller id
    topics = []
    for _ in range(take(">i")):
        err, name, _ = take(">h"), take_string(), take(">b")  # _: is_internal
        partitions = take(">i")
        for _ in range(partitions):
            take(">hii")  # error, index, leader
            for _ in range(2):  # replicas, isr
                n = take(">i")
                off += 4 * n
        topics.append((err, name, partitions))
    return corr, topics


# -- a raw connection -------------------------------------------------------

class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def recv_frame(self):
        """The next response frame without its size, or None on close."""
        try:
            size = self.recv_exact(4)
            if size is None:
                return None
            return self.recv_exact(struct.unpack(">i", size)[0])
        except ConnectionResetError:
            return None

    def closed_by_peer(self):
        """True once kgw closed the connection (EOF or reset), reading and
        discarding anything sent before."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_api_versions_v0(payload):
    """(correlation_id, error_code, {api_key: (min, max)}) of a v0 response."""
    corr, err, n = struct.unpack_from(">ihi", payload, 0)
    apis = {}
    for k in range(n):
        key, lo, hi = struct.unpack_from(">hhh", payload, 10 + 6 * k)
        apis[key] = (lo, hi)
    return corr, err, apis


# -- captured requests, the fuzzer's seeds -----------------------------------

def captured_requests():
    """[(api_key, version, payload)] of every request in the fixtures."""
    out = []
    if not os.path.isdir(CAPTURED_DIR):
        return out
    for name in sorted(os.listdir(CAPTURED_DIR)):
        if not name.endswith(".frames"):
            continue
        with open(os.path.join(CAPTURED_DIR, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0] == "req":
                    out.append((int(parts[1]), int(parts[2]), bytes.fromhex(parts[4])))
    return out


INTERESTING_16 = [0, 1, -1, 0x7FFF, -0x8000]
INTERESTING_32 = [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0x7FFFFFFE, 0x10000, 1 << 20]


def mutate(rng, seed, seeds):
    """One mutation (or a few) of `seed`; returns a whole frame."""
    data = bytearray(seed)
    # Keep the request header's api key and version most of the time so the
    # mutations reach the body decoders rather than only the dispatcher.
    lo = 4 if rng.random() < 0.9 and len(data) > 8 else 0
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        if len(data) <= lo:
            break
        kind = rng.randrange(9)
        pos = rng.randrange(lo, len(data))
        if kind == 0:  # bit flips
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a special byte
            data[pos] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01, rng.randrange(256)])
        elif kind == 2 and pos + 2 <= len(data):  # a special int16 (lengths, counts)
            data[pos:pos + 2] = i16(rng.choice(INTERESTING_16))
        elif kind == 3 and pos + 4 <= len(data):  # a special int32 (counts, sizes)
            data[pos:pos + 4] = i32(rng.choice(INTERESTING_32))
        elif kind == 4:  # a varint that never ends, or a huge one
            data[pos:pos] = rng.choice([b"\xff" * 5, b"\xff\xff\xff\xff\x0f", b"\x80" * 10])
        elif kind == 5:  # truncate
            del data[pos:]
        elif kind == 6:  # insert random bytes
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif kind == 7:  # delete a chunk
            del data[pos:pos + rng.randrange(1, 32)]
        else:  # splice in a piece of another seed
            other = rng.choice(seeds)
            a = rng.randrange(len(other))
            data[pos:pos + rng.randrange(0, 64)] = other[a:a + rng.randrange(1, 256)]
    # Mostly an honest size prefix; sometimes one that lies.
    r = rng.random()
    if r < 0.9:
        size = len(data)
    elif r < 0.95:
        size = len(data) + rng.randrange(1, 100)  # kgw waits for bytes that never come
    else:
        size = max(0, len(data) - rng.randrange(1, 8))  # the rest looks like a new frame
    return frame(bytes(data), size)


def batches_in(data):
    """(start, end) of every plausible v2 record batch inside a request."""
    out = []
    p = 0
    while p + 61 <= len(data):
        length = struct.unpack_from(">i", data, p + 8)[0]
        if data[p + 16] == 2 and 49 <= length and p + 12 + length <= len(data):
            crc = struct.unpack_from(">I", data, p + 17)[0]
            if crc == crc32c(bytes(data[p + 21:p + 12 + length])):
                out.append((p, p + 12 + length))
                p += 12 + length
                continue
        p += 1
    return out


def mutate_records(rng, seed):
    """A Produce request whose batches keep a valid header and CRC while
    their records are corrupted: what the batch checks alone let through.
    Returns a whole frame, or None when `seed` holds no batch."""
    data = bytearray(seed)
    found = batches_in(data)
    if not found:
        return None
    start, end = rng.choice(found)
    records_at = start + 61
    if records_at >= end:
        return None
    for _ in range(rng.choice([1, 1, 2, 4])):
        pos = rng.randrange(records_at, end)
        kind = rng.randrange(4)
        if kind == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data[pos] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x7E])
        elif kind == 2:  # a count or delta off by one
            struct.pack_into(">i", data, start + 57,
                             struct.unpack_from(">i", data, start + 57)[0] + rng.choice([-1, 1]))
            struct.pack_into(">i", data, start + 23,
                             struct.unpack_from(">i", data, start + 57)[0] - 1)
        else:  # a varint that never ends, keeping the batch length
            n = min(5, end - pos)
            data[pos:pos + n] = b"\xff" * n
    data[start + 17:start + 21] = struct.pack(">I", crc32c(bytes(data[start + 21:end])))
    return frame(bytes(data))


def good_client_works(bootstrap):
    """A real client on a new connection: kcat -L if installed."""
    if shutil.which("kcat") is None:
        return True
    proc = subprocess.run(["kcat", "-b", bootstrap, "-L", "-m", "10"], capture_output=True,
                          timeout=TIMEOUT)
    return proc.returncode == 0 and f"broker 1 at {bootstrap}".encode() in proc.stdout


class GoodClientWhileFuzzing(threading.Thread):
    """A well-formed client running beside the fuzzer: one connection kept
    open all along, and a new one every round, each producing a message
    (acks=1) and asking for metadata; every answer must come, correct.
    Also samples kgw's RSS, so "memory bounded" covers the whole run, not
    only its end."""

    def __init__(self, test):
        super().__init__(name="good-client", daemon=True)
        self.test = test
        self.stop = threading.Event()
        self.rounds = 0
        self.failures = []
        self.peak_rss_kb = 0

    def round_trip(self, conn, corr):
        conn.send(produce_v3("kgw-good", 0, [b"good %d" % corr], 1, corr)
                  + metadata_v1(["kgw-good"], correlation_id=corr + 1))
        for want in (corr, corr + 1):
            payload = conn.recv_frame()
            if payload is None or struct.unpack_from(">i", payload)[0] != want:
                raise AssertionError(f"no or wrong answer to request {want}")

    def run(self):
        corr = 1000
        try:
            with Conn(self.test.port) as kept:
                while not self.stop.is_set():
                    corr += 2
                    self.round_trip(kept, corr)
                    with Conn(self.test.port) as fresh:
                        corr += 2
                        self.round_trip(fresh, corr)
                    self.rounds += 1
                    self.peak_rss_kb = max(self.peak_rss_kb, self.test.kgw.rss_kb())
                    self.stop.wait(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.failures.append(f"round {self.rounds}: {e!r}")


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", f"socket.request.max.bytes={MAX_REQUEST}")
        cls.kgw.start()
        cls.port = cls.kgw.port
        with Conn(cls.port) as c:
            c.send(api_versions_v0())
            _, err, cls.served = parse_api_versions_v0(c.recv_frame())
        assert err == 0, err

    @classmethod
    def tearDownClass(cls):
        cls.kgw.stop()
        cls.kgw.close()

    def assertHealthy(self):
        self.assertTrue(self.kgw.alive(), "kgw died\n" + self.kgw.stderr_tail())
        with Conn(self.port) as c:
            c.send(api_versions_v0(correlation_id=77))
            corr, err, apis = parse_api_versions_v0(c.recv_frame())
            self.assertEqual((corr, err), (77, 0))
            self.assertIn(API_METADATA, apis)
            c.send(metadata_v1(correlation_id=78))
            payload = c.recv_frame()
            self.assertIsNotNone(payload)
            self.assertEqual(struct.unpack_from(">i", payload)[0], 78)
        self.assertTrue(good_client_works(self.kgw.bootstrap), "kcat -L failed")
        rss = self.kgw.rss_kb()
        self.assertLess(rss, RSS_LIMIT_KB, f"kgw RSS {rss} KiB")

    def assertClosedByKgw(self, conn, what):
        self.assertTrue(conn.closed_by_peer(), f"kgw kept the connection open after {what}")

    # -- framing --------------------------------------------------------

    def test_truncated_frame_then_close(self):
        whole = metadata_v1(["truncated"])
        for cut in (1, 3, 4, 5, 10, len(whole) - 1):
            with Conn(self.port) as c:
                c.send(whole[:cut])
        # And a frame claiming more bytes than ever come.
        with Conn(self.port) as c:
            c.send(i32(100) + b"\x00" * 10)
        self.assertHealthy()

    def test_oversized_size_prefix(self):
        for size in (MAX_REQUEST + 1, 2 * MAX_REQUEST, 0x7FFFFFFF):
            with Conn(self.port) as c:
                c.send(i32(size) + header(API_METADATA, 1) + i32(-1))
                self.assertClosedByKgw(c, f"a size prefix of {size}")
        self.assertHealthy()

    def test_negative_and_tiny_sizes(self):
        for size in (-1, -0x80000000, -4):
            with Conn(self.port) as c:
                c.send(i32(size) + b"\x00" * 16)
                self.assertClosedByKgw(c, f"a size prefix of {size}")
        for payload in (b"", b"\x00", b"\x00\x03\x00"):  # shorter than a header
            with Conn(self.port) as c:
                c.send(frame(payload))
                self.assertClosedByKgw(c, f"a {len(payload)}-byte frame")
        self.assertHealthy()

    def test_max_size_frame_is_accepted_then_refused_as_garbage(self):
        # Exactly at the limit is allowed through framing; the body is junk
        # (a topic count over any cap, then filler).
        start = header(API_METADATA, 1) + i32(0x7FFFFFF0)
        payload = start + b"\xff" * (MAX_REQUEST - len(start))
        with Conn(self.port) as c:
            c.send(frame(payload))
            self.assertClosedByKgw(c, "a junk Metadata body")
        self.assertHealthy()

    # -- api keys and versions ------------------------------------------

    def test_unknown_and_unserved_api_keys(self):
        # Keys Kafka defines that kgw does not serve (yet), from its own
        # ApiVersions answer, so the test follows as APIs land.
        unserved = [k for k in range(75) if k not in self.served][:3]
        self.assertTrue(unserved, "every Kafka api key 0-74 is served?")
        # 76 (ShareGroupHeartbeat) has no schema in kgw; 75 is served now.
        for key in (9999, 76, -1, 0x7FFF, *unserved):
            with Conn(self.port) as c:
                c.send(frame(header(key, 0) + b"\x00" * 8))
                self.assertClosedByKgw(c, f"api key {key}")
        self.assertHealthy()

    def test_unsupported_versions(self):
        cases = [(API_PRODUCE, 99), (API_PRODUCE, -1), (API_FETCH, 3),
                 (API_FETCH, 99), (API_METADATA, 99), (API_LIST_OFFSETS, 0x7FFF)]
        for key, version in cases:
            with Conn(self.port) as c:
                c.send(frame(i16(key) + i16(version) + i32(5) + string("x") + b"\x00" * 8))
                self.assertClosedByKgw(c, f"api {key} v{version}")
        self.assertHealthy()

    def test_api_versions_unknown_version_answers_v0(self):
        for version in (99, 4, 0x7FFF):
            if version <= self.served[API_API_VERSIONS][1]:
                continue
            with Conn(self.port) as c:
                # Whatever the newer version's header and body look like.
                c.send(frame(i16(API_API_VERSIONS) + i16(version) + i32(4242) +
                             b"\x00\x09new-thing\x00\xde\xad\xbe\xef"))
                payload = c.recv_frame()
                self.assertIsNotNone(payload, f"no answer to ApiVersions v{version}")
                corr, err, apis = parse_api_versions_v0(payload)
                self.assertEqual(corr, 4242)
                self.assertEqual(err, UNSUPPORTED_VERSION)
                self.assertEqual(apis, self.served)
                self.assertIn(API_API_VERSIONS, apis)
                # The connection stays usable, as with Kafka.
                c.send(api_versions_v0(correlation_id=4243))
                self.assertEqual(parse_api_versions_v0(c.recv_frame())[:2], (4243, 0))
        self.assertHealthy()

    # -- pipelining -------------------------------------------------------

    def test_pipelined_requests_answer_in_order_around_acks_zero(self):
        # Many requests in one write, acks=0 produces among them: every
        # other request is answered, in request order, and nothing is
        # answered for acks=0.
        with Conn(self.port) as c:
            c.send(metadata_v1(["pipelined"], correlation_id=1))
            self.assertEqual(parse_metadata_v1(c.recv_frame())[1][0][0], 0)
            frames, want = [], []
            for n in range(2, 302):
                kind = n % 4
                if kind == 0:
                    frames.append(produce_v3("pipelined", 0, [b"z%d" % n], 0, n))
                    continue
                if kind == 1:
                    frames.append(produce_v3("pipelined", 0, [b"o%d" % n, b"p%d" % n], 1, n))
                elif kind == 2:
                    frames.append(api_versions_v0(n))
                else:
                    frames.append(metadata_v1(["pipelined"], correlation_id=n))
                want.append(n)
            c.send(b"".join(frames))
            got = [struct.unpack_from(">i", c.recv_frame())[0] for _ in want]
            self.assertEqual(got, want)
            # Everything, acks=0 or not, was appended: 75 x 1 + 75 x 2.
            c.send(frame(header(API_LIST_OFFSETS, 1, 999) + i32(-1) + i32(1)
                         + string("pipelined") + i32(1) + i32(0) + struct.pack(">q", -1)))
            payload = c.recv_frame()
            corr, = struct.unpack_from(">i", payload)
            self.assertEqual(corr, 999)
            # v1: topics[1]: name, partitions[1]: index, error, timestamp, offset
            err, _ts, offset = struct.unpack_from(">hqq", payload, len(payload) - 18)
            self.assertEqual((err, offset), (0, 225))
        self.assertHealthy()

    # -- bodies -----------------------------------------------------------

    def test_metadata_with_illegal_topic_names(self):
        # Auto-creation refuses an illegal name at once; the answer must
        # still come once, name every topic asked for, in order, and be
        # followed by the answer to the next request.
        INVALID_TOPIC_EXCEPTION = 17
        asked = ["bad name!", "legal-after-bad", "also bad?", "x" * 250, "legal-last"]
        with Conn(self.port) as c:
            c.send(metadata_v1(asked, correlation_id=31) + api_versions_v0(correlation_id=32))
            corr, topics = parse_metadata_v1(c.recv_frame())
            self.assertEqual(corr, 31)
            self.assertEqual([t[1] for t in topics], asked)
            errors = {name: err for err, name, _ in topics}
            for name in ("bad name!", "also bad?", "x" * 250):
                self.assertEqual(errors[name], INVALID_TOPIC_EXCEPTION, name)
            for name in ("legal-after-bad", "legal-last"):
                self.assertEqual(errors[name], 0, name)
            self.assertEqual(parse_api_versions_v0(c.recv_frame())[:2], (32, 0))
        self.assertNotIn("already answered", self.kgw.stderr_tail(1000))
        self.assertHealthy()

    def test_garbage_body_after_valid_header(self):
        rng = random.Random(FUZZ_SEED)
        bodies = [b"", b"\x00", b"\xff" * 3, b"\x7f\xff\xff\xff" * 4,
                  bytes(rng.randrange(256) for _ in range(100)),
                  bytes(rng.randrange(256) for _ in range(5000))]
        answered = closed = 0
        for key, (lo, hi) in sorted(self.served.items()):
            for version in sorted({lo, hi, FIRST_FLEXIBLE.get(key, lo)}):
                if not lo <= version <= hi:
                    continue
                for body in bodies:
                    with Conn(self.port) as c:
                        c.send(frame(header(key, version, correlation_id=99) + body))
                        # Either an answer (a body that happens to decode,
                        # e.g. empty ApiVersions) or a closed connection;
                        # a body that decodes as a long-polling fetch may
                        # also just wait.
                        c.sock.settimeout(5.0)
                        try:
                            payload = c.recv_frame()
                        except socket.timeout:
                            continue
                        if payload is None:
                            closed += 1
                        else:
                            answered += 1
                            self.assertEqual(struct.unpack_from(">i", payload)[0], 99)
        self.assertGreater(closed, 0)
        self.assertHealthy()

    def test_huge_array_counts(self):
        cases = {
            "Metadata v1 topics": header(API_METADATA, 1) + i32(0x7FFFFFFF),
            "Metadata v1 topics, some names": header(API_METADATA, 1) + i32(0x7FFFFFFF)
            + string("a") * 100,
            "Metadata v9 compact topics": header(API_METADATA, 9) + uvarint(0x80000000),
            "Metadata v12 compact topics": header(API_METADATA, 12) + uvarint(0xFFFFFFFF),
            "Produce v3 topics": header(API_PRODUCE, 3) + i16(-1) + i16(-1) + i32(1000)
            + i32(0x7FFFFFFF),
            "Produce v3 records": header(API_PRODUCE, 3) + i16(-1) + i16(1) + i32(1000)
            + i32(1) + string("t") + i32(1) + i32(0) + i32(0x7FFFFFFF),
            "Fetch v4 partitions": header(API_FETCH, 4) + i32(-1) + i32(0) + i32(1)
            + i32(1 << 20) + b"\x00" + i32(1) + string("t") + i32(0x7FFFFFFF),
            "CreateTopics v4 topics": header(API_CREATE_TOPICS, 4) + i32(0x7FFFFFFF),
            "client id length": i16(API_METADATA) + i16(1) + i32(1) + i16(0x7FFF) + b"ab",
            "topic name length": header(API_METADATA, 1) + i32(1) + i16(0x7FFF) + b"ab",
        }
        for name, payload in cases.items():
            key, version = struct.unpack_from(">hh", payload)
            lo, hi = self.served.get(key, (0, -1))
            if not lo <= version <= hi:
                continue
            with self.subTest(name):
                with Conn(self.port) as c:
                    c.send(frame(payload))
                    self.assertClosedByKgw(c, name)
                self.assertHealthy()

    # -- records under a valid CRC --------------------------------------

    def create_topic(self, topic):
        with Conn(self.port) as c:  # Metadata creates it
            c.send(metadata_v1([topic]))
            self.assertEqual(parse_metadata_v1(c.recv_frame())[1][0][0], 0)

    def test_garbage_records_under_a_valid_crc_are_refused(self):
        # Before kgw checked records, this batch was stored: every later
        # reader of the partition then failed on it (ListOffsets by
        # timestamp answered "the store is damaged", consumers could not
        # decode it, compaction stopped).
        topic = "records-garbage"
        self.create_topic(topic)
        rng = random.Random(7)
        section = bytes(rng.randrange(256) for _ in range(200))
        r = rw.produce(self.kgw.bootstrap, topic, 0, rw.batch([{}] * 3, section=section))
        if r["error"] == 0:
            broken = rw.list_offsets(self.kgw.bootstrap, topic, 0, 0)
            self.fail(f"garbage records stored at offset {r['base_offset']}; ListOffsets by "
                      f"timestamp then answers (error, ts, offset) {broken}; kgw says: "
                      + self.kgw.stderr_tail(3))
        self.assertIn(r["error"], (rw.CORRUPT_MESSAGE, rw.INVALID_RECORD), r)
        self.assertEqual(rw.list_offsets(self.kgw.bootstrap, topic, 0, -1), (0, -1, 0))
        self.assertHealthy()

    def test_record_mutations_under_a_valid_crc(self):
        topic = "records-mutated"
        self.create_topic(topic)
        good = [{"key": b"k%d" % i, "value": b"value %d" % i} for i in range(5)]
        encoded = [rw.encode_record(i, r) for i, r in enumerate(good)]
        section = b"".join(encoded)
        cases = {
            "record_count one above the records": rw.batch(good, record_count=6),
            "record_count one below the records": rw.batch(good, record_count=4),
            "offset deltas 0 1 1 3 4": rw.batch([dict(r, offset_delta=d) for r, d in
                                                 zip(good, [0, 1, 1, 3, 4])]),
            "offset deltas from 5": rw.batch([dict(r, offset_delta=i + 5)
                                              for i, r in enumerate(good)]),
            "key length -5": rw.batch(good[:2] + [{"raw": b"\x00" + rw.varint(0) + rw.varint(2)
                                                   + rw.varint(-5) + rw.varint(0)
                                                   + rw.varint(0)}] + good[3:]),
            "value length beyond its record": rw.batch(good[:1] + [{"raw": b"\x00" + rw.varint(0)
                                                       + rw.varint(1) + rw.varint(-1)
                                                       + rw.varint(100) + b"x" + rw.varint(0)}]
                                                       + good[2:]),
            "a varint that never ends": rw.batch(good[:4] + [{"raw": b"\x00" + b"\xff" * 10}]),
            "header count 1,000,000": rw.batch(good[:4] + [{"raw": b"\x00" + rw.varint(0)
                                                            + rw.varint(4) + rw.varint(-1)
                                                            + rw.varint(-1)
                                                            + rw.varint(1_000_000)}]),
            "record longer than its fields": rw.batch(good[:4] + [{"raw": encoded[4][1:]
                                                                   + b"\x00\x00"}]),
            "record length beyond the section": rw.batch(good, section=section[:-3]),
            "bytes after the last record": rw.batch(good, section=section + b"\x00\x01"),
            "no records at all": rw.batch(good, section=b""),
        }
        for name, batch in cases.items():
            with self.subTest(name):
                r = rw.produce(self.kgw.bootstrap, topic, 0, batch)
                self.assertIn(r["error"], (rw.CORRUPT_MESSAGE, rw.INVALID_RECORD), r)
                self.assertEqual(rw.list_offsets(self.kgw.bootstrap, topic, 0, -1), (0, -1, 0))
        self.assertHealthy()
        # A well-formed producer after them is stored from offset 0, and
        # readers of the partition work.
        r = rw.produce(self.kgw.bootstrap, topic, 0, rw.batch(good))
        self.assertEqual((r["error"], r["base_offset"]), (0, 0), r)
        self.assertEqual(rw.list_offsets(self.kgw.bootstrap, topic, 0, 0)[0::2], (0, 0))
        self.assertEqual(rw.list_offsets(self.kgw.bootstrap, topic, 0, -1), (0, -1, 5))

    # -- memory held for peers that left --------------------------------

    @unittest.skipIf(os.environ.get("KGW_SANITIZED") == "1",
                     "ASan keeps freed memory in its quarantine: RSS says nothing there")
    def test_parked_fetches_of_closed_connections_do_not_hold_memory(self):
        # A fetch parked in FetchWaiters holds its whole request frame (here
        # 1 MiB of trailing padding) until max_wait_ms, which may be days;
        # when its connection closes, the wait must be dropped with it.
        with Conn(self.port) as c:
            c.send(metadata_v1(["parked"]))
            self.assertIsNotNone(c.recv_frame())
        before = self.kgw.rss_kb()
        padding = b"\x00" * ((1 << 20) - 4096)  # under socket.request.max.bytes
        for n in range(100):
            # Fetch v4 for parked-0 at its end: waits up to 10 minutes.
            body = (i32(-1) + i32(600_000) + i32(1) + i32(1 << 20) + b"\x00" + i32(1)
                    + string("parked") + i32(1) + i32(0) + struct.pack(">q", 0) + i32(1 << 20))
            with Conn(self.port) as c:
                c.send(frame(header(API_FETCH, 4, n) + body + padding))
        self.assertHealthy()  # also: a request after them, so all were read
        grown_mb = (self.kgw.rss_kb() - before) / 1024
        self.assertLess(grown_mb, 50, f"RSS grew {grown_mb:.0f} MiB for requests of gone peers")

    # -- fuzzing ----------------------------------------------------------

    def fuzz_seeds(self):
        by_api = {}
        for key, version, payload in captured_requests():
            lo, hi = self.served.get(key, (0, -1))
            if lo <= version <= hi:
                by_api.setdefault((key, version), payload)
        seeds = [by_api[k] for k in sorted(by_api)]
        # Requests of our own, so the fuzzer has seeds even without fixtures.
        seeds.append(metadata_v1(["kgw-capture", "kgw-capture-b"])[4:])
        seeds.append(api_versions_v0()[4:])
        return seeds

    def test_fuzz_mutated_captured_requests(self):
        # The topics the captured requests name, so produce and fetch
        # mutations reach the store.
        with Conn(self.port) as c:
            c.send(metadata_v1(["kgw-capture", "kgw-capture-b"]))
            self.assertIsNotNone(c.recv_frame())
        seeds = self.fuzz_seeds()
        self.assertGreaterEqual(len(seeds), 3)
        rng = random.Random(FUZZ_SEED)
        fds_before = len(os.listdir(f"/proc/{self.kgw.pid}/fd"))

        good = GoodClientWhileFuzzing(self)
        good.start()
        sel = selectors.DefaultSelector()
        sent = answered = closed_by_kgw = 0
        open_conns = {}  # socket -> deadline

        def finish(sock):
            sel.unregister(sock)
            del open_conns[sock]
            sock.close()

        def pump(max_open):
            nonlocal answered, closed_by_kgw
            while len(open_conns) > max_open:
                for key, _ in sel.select(timeout=0.2):
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)
                    except (ConnectionResetError, BrokenPipeError):
                        data = b""
                    if data:
                        answered += 1
                        # Answered: linger briefly for a close, then go.
                        open_conns[sock] = min(open_conns[sock], time.monotonic() + 0.3)
                    else:
                        closed_by_kgw += 1
                        finish(sock)
                now = time.monotonic()
                for sock, deadline in list(open_conns.items()):
                    if now > deadline:
                        finish(sock)  # e.g. a fetch parked for its max wait

        produce_seeds = [s for s in seeds if struct.unpack_from(">h", s)[0] == API_PRODUCE
                         and batches_in(s)]
        self.assertTrue(produce_seeds, "no captured Produce request holds a record batch")
        for n in range(FUZZ_COUNT):
            seed = rng.choice(seeds)
            frames = [mutate(rng, seed, seeds)]
            if rng.random() < 0.2:  # records corrupted under a recomputed CRC
                frames = [mutate_records(rng, rng.choice(produce_seeds))]
            if rng.random() < 0.2:  # pipelined with good requests around it
                frames = [api_versions_v0(n)] + frames + [metadata_v1(correlation_id=n)]
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
            try:
                sock.sendall(b"".join(frames))
                if rng.random() < 0.5:
                    sock.shutdown(socket.SHUT_WR)  # the peer goes away mid-request
            except (ConnectionResetError, BrokenPipeError):
                pass
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
            open_conns[sock] = time.monotonic() + 2.0
            sent += 1
            pump(64)
            if n % 1000 == 999:
                self.assertTrue(self.kgw.alive(), f"kgw died after {n + 1} mutated frames\n"
                                + self.kgw.stderr_tail())
        pump(0)
        sel.close()
        good.stop.set()
        good.join(TIMEOUT)
        print(f"fuzz: {sent} connections, {answered} with answers, "
              f"{closed_by_kgw} closed by kgw, RSS {self.kgw.rss_kb()} KiB (peak "
              f"{good.peak_rss_kb} KiB); the good client did {good.rounds} rounds beside it",
              flush=True)
        self.assertEqual(good.failures, [], "a well-formed client failed while fuzzing")
        self.assertGreater(good.rounds, 0)
        self.assertLess(good.peak_rss_kb, RSS_LIMIT_KB, "kgw's RSS while fuzzing")
        self.assertHealthy()
        # No handler answered a request twice (net logs and drops those).
        self.assertNotIn("already answered", self.kgw.stderr_tail(100_000))
        # Every connection we dropped is gone on kgw's side too.
        kgw_harness.wait_until(
            lambda: len(os.listdir(f"/proc/{self.kgw.pid}/fd")) <= fds_before + 5,
            TIMEOUT, what="kgw to close the fuzzed connections")


if __name__ == "__main__":
    kgw_harness.main()
