#!/usr/bin/env python3
"""Capture record batches written by a real client, as test fixtures.

How the fixtures in tests/fixtures/records/librdkafka-*.hex were made:
this script listens on a loopback port as a minimal fake Kafka broker,
runs kcat (which embeds Debian's librdkafka) against it once per
compression codec, and saves the `records` field of the Produce request
it receives, as hex. The fake broker answers only what a producer needs:

  ApiVersions v0-v3  -> a fixed list of APIs (recent enough that librdkafka
                        enables magic 2, lz4 and zstd)
  Metadata v0-v4     -> one broker (this listener), the topic with one
                        partition led by it
  InitProducerId v0-1 -> producer id 4242, epoch 7 (idempotent fixture)
  Produce v3-v7      -> success, base offset 0; the records are saved

Every run produces the same messages (see MESSAGES below): key "k<i>",
value "v<i>", headers h="x" and n=null; the last message has key "knull"
and a null value. Only the timestamps (and so the CRCs) change between
runs. Usage (stdlib only, needs kcat):

  python3 tests/records/capture_librdkafka_batches.py tests/fixtures/records

This is a fixture generator, not a test: the fixtures are committed and
the tests never run it.
"""

import os
import re
import socket
import socketserver
import struct
import subprocess
import sys
import threading

TOPIC = "kgw-fixture"
COUNT = 40  # enough repetition that every codec shrinks the batch
MESSAGES = "".join(f"k{i}:v{i}\n" for i in range(COUNT)) + "knull:\n"

# (api_key, min, max). Metadata and Produce stop before their flexible
# versions, so this script never needs compact encodings for them.
API_VERSIONS = [
    (0, 0, 7),    # Produce (v7 = Kafka 2.1, which librdkafka needs for zstd)
    (1, 0, 11),   # Fetch
    (2, 0, 5),    # ListOffsets
    (3, 0, 4),    # Metadata
    (8, 0, 7),    # OffsetCommit
    (9, 0, 5),    # OffsetFetch
    (10, 0, 2),   # FindCoordinator
    (11, 0, 5),   # JoinGroup
    (12, 0, 3),   # Heartbeat
    (13, 0, 2),   # LeaveGroup
    (14, 0, 3),   # SyncGroup
    (15, 0, 3),   # DescribeGroups
    (16, 0, 2),   # ListGroups
    (17, 0, 1),   # SaslHandshake
    (18, 0, 3),   # ApiVersions
    (19, 0, 4),   # CreateTopics
    (20, 0, 3),   # DeleteTopics
    (22, 0, 1),   # InitProducerId
    (24, 0, 1),   # AddPartitionsToTxn
    (25, 0, 1),   # AddOffsetsToTxn
    (26, 0, 1),   # EndTxn
    (28, 0, 2),   # TxnOffsetCommit
    (32, 0, 2),   # DescribeConfigs
    (36, 0, 1),   # SaslAuthenticate
]


class Buf:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated request")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        v, shift = 0, 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)


def s(v):  # int16-length string
    if v is None:
        return struct.pack(">h", -1)
    b = v.encode()
    return struct.pack(">h", len(b)) + b


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


class FakeBroker(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.captured = []  # (produce version, records bytes)
        self.lock = threading.Lock()


class Handler(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def handle(self):
        while True:
            size = self.recv_exact(4)
            if size is None:
                return
            frame = self.recv_exact(struct.unpack(">i", size)[0])
            if frame is None:
                return
            req = Buf(frame)
            api_key, version, corr = req.i16(), req.i16(), req.i32()
            req.string()  # client_id
            if api_key == 18 and version >= 3:
                # Flexible request header: tagged fields. (ApiVersions answers
                # with a v0 response header whatever the version.)
                for _ in range(req.uvarint()):
                    req.uvarint()
                    req.take(req.uvarint())
            body = self.dispatch(api_key, version, req)
            if body is None:
                print(f"fake broker: ignoring api {api_key} v{version}", file=sys.stderr)
                continue
            resp = struct.pack(">i", corr) + body
            self.request.sendall(struct.pack(">i", len(resp)) + resp)

    def dispatch(self, api_key, version, req):
        if api_key == 18:
            return self.api_versions(version)
        if api_key == 3:
            return self.metadata(version, req)
        if api_key == 22:
            # throttle, error, producer id, epoch
            return struct.pack(">ihqh", 0, 0, 4242, 7)
        if api_key == 0:
            return self.produce(version, req)
        return None

    def api_versions(self, version):
        if version >= 3:
            out = struct.pack(">h", 0) + uvarint(len(API_VERSIONS) + 1)
            for k, lo, hi in API_VERSIONS:
                out += struct.pack(">hhh", k, lo, hi) + uvarint(0)
            return out + struct.pack(">i", 0) + uvarint(0)
        out = struct.pack(">hi", 0, len(API_VERSIONS))
        for k, lo, hi in API_VERSIONS:
            out += struct.pack(">hhh", k, lo, hi)
        if version >= 1:
            out += struct.pack(">i", 0)
        return out

    def metadata(self, version, req):
        n = req.i32()
        topics = [req.string() for _ in range(max(n, 0))] or [TOPIC]
        out = b""
        if version >= 3:
            out += struct.pack(">i", 0)  # throttle
        out += struct.pack(">i", 1) + struct.pack(">i", 0) + s("127.0.0.1")
        out += struct.pack(">i", self.server.port)
        if version >= 1:
            out += s(None)  # rack
        if version >= 2:
            out += s("kgw-fixture-cluster")
        if version >= 1:
            out += struct.pack(">i", 0)  # controller
        out += struct.pack(">i", len(topics))
        for t in topics:
            out += struct.pack(">h", 0) + s(t)
            if version >= 1:
                out += b"\x00"  # is_internal
            # one partition: error, id, leader, replicas [0], isr [0]
            out += struct.pack(">ihiiiiii", 1, 0, 0, 0, 1, 0, 1, 0)
        return out

    def produce(self, version, req):
        req.string()  # transactional_id
        req.i16()     # acks
        req.i32()     # timeout
        results = []
        for _ in range(req.i32()):
            name = req.string()
            parts = []
            for _ in range(req.i32()):
                index = req.i32()
                records = req.bytes_()
                with self.server.lock:
                    self.server.captured.append((version, records))
                parts.append(index)
            results.append((name, parts))
        out = struct.pack(">i", len(results))
        for name, parts in results:
            out += s(name) + struct.pack(">i", len(parts))
            for index in parts:
                out += struct.pack(">ihq", index, 0, 0)
                if version >= 2:
                    out += struct.pack(">q", -1)  # log_append_time
                if version >= 5:
                    out += struct.pack(">q", 0)  # log_start_offset
        return out + struct.pack(">i", 0)  # throttle


def kcat_version():
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    kcat = re.search(r"^Version (\S+)", out, re.M)
    rdkafka = re.search(r"librdkafka (\S+)", out)
    return (f"kcat {kcat.group(1) if kcat else '?'} "
            f"(librdkafka {rdkafka.group(1) if rdkafka else '?'})")


def capture(outdir, codec, idempotent):
    server = FakeBroker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cmd = ["kcat", "-b", f"127.0.0.1:{server.port}", "-P", "-t", TOPIC, "-p", "0",
               "-K", ":", "-Z", "-H", "h=x", "-H", "n",
               "-X", f"compression.codec={codec}",
               "-X", f"enable.idempotence={'true' if idempotent else 'false'}",
               "-X", "linger.ms=200", "-X", "message.timeout.ms=10000"]
        subprocess.run(cmd, input=MESSAGES, text=True, check=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    if len(server.captured) != 1:
        raise SystemExit(f"{codec}: expected one Produce partition, got {len(server.captured)}")
    version, records = server.captured[0]
    name = f"librdkafka-2.0.2-{codec}{'-idempotent' if idempotent else ''}.hex"
    with open(os.path.join(outdir, name), "w") as f:
        f.write(f"# records field of a Produce v{version} request from {kcat_version()}\n")
        f.write(f"# compression.codec={codec} enable.idempotence={str(idempotent).lower()}\n")
        f.write(f"# {COUNT + 1} records: key k<i> value v<i> for i < {COUNT}, then key knull "
                "with a null value; headers h=x, n=null\n")
        f.write("# made by tests/records/capture_librdkafka_batches.py\n")
        hexed = records.hex()
        for i in range(0, len(hexed), 64):
            f.write(hexed[i:i + 64] + "\n")
    print(f"wrote {name}: {len(records)} bytes")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/records"
    os.makedirs(outdir, exist_ok=True)
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        capture(outdir, codec, idempotent=False)
    capture(outdir, "zstd", idempotent=True)


if __name__ == "__main__":
    main()
