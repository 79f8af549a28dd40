"""A tiny Kafka wire client for tests that need exact requests and error
codes (versions clients libraries do not let us choose). Stdlib only.

Requests are built with Enc (classic or flexible encodings), sent on a
Conn, and the response body is read back with Dec in the same style:

    c = Conn(bootstrap)
    body = Enc().string("g").i32(6000)...            # the request body
    d = c.call(api_key=12, version=3, body=body)      # Dec over the response body
    error = d.i16()
"""

import socket
import struct


class Enc:
    def __init__(self, flexible=False):
        self.b = bytearray()
        self.flexible = flexible

    def raw(self, data):
        self.b += data
        return self

    def i8(self, v):
        return self.raw(struct.pack(">b", v))

    def i16(self, v):
        return self.raw(struct.pack(">h", v))

    def i32(self, v):
        return self.raw(struct.pack(">i", v))

    def i64(self, v):
        return self.raw(struct.pack(">q", v))

    def boolean(self, v):
        return self.i8(1 if v else 0)

    def uvarint(self, v):
        while v >= 0x80:
            self.b.append((v & 0x7F) | 0x80)
            v >>= 7
        self.b.append(v)
        return self

    def string(self, s):
        if s is None:
            return self.uvarint(0) if self.flexible else self.i16(-1)
        data = s.encode()
        if self.flexible:
            self.uvarint(len(data) + 1)
        else:
            self.i16(len(data))
        return self.raw(data)

    def bytes_(self, data):
        if data is None:
            return self.uvarint(0) if self.flexible else self.i32(-1)
        if self.flexible:
            self.uvarint(len(data) + 1)
        else:
            self.i32(len(data))
        return self.raw(data)

    def array(self, items, fn):
        """fn(enc, item) writes one element; items None writes null."""
        if items is None:
            return self.uvarint(0) if self.flexible else self.i32(-1)
        if self.flexible:
            self.uvarint(len(items) + 1)
        else:
            self.i32(len(items))
        for item in items:
            fn(self, item)  # a struct element ends with its own tags()
        return self

    def tags(self):
        """An empty tagged-field section (flexible versions)."""
        return self.uvarint(0) if self.flexible else self


class Dec:
    def __init__(self, data, flexible=False):
        self.d = memoryview(data)
        self.p = 0
        self.flexible = flexible

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("response truncated")
        v = bytes(self.d[self.p:self.p + n])
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def boolean(self):
        return self.i8() != 0

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def string(self):
        if self.flexible:
            n = self.uvarint() - 1
        else:
            n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        if self.flexible:
            n = self.uvarint() - 1
        else:
            n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, fn):
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            return None
        out = []
        for _ in range(n):
            out.append(fn(self))
        return out

    def tags(self):
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


class Conn:
    """One TCP connection; requests may be sent ahead and read later."""

    def __init__(self, bootstrap, client_id="kgw-wire-test", timeout=60.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.client_id = client_id
        self.correlation = 0
        self.pending = []  # (correlation, flexible_response)

    def send(self, api_key, version, body, flexible=False):
        self.correlation += 1
        h = Enc().i16(api_key).i16(version).i32(self.correlation).string(self.client_id)
        if flexible:
            h.uvarint(0)  # request header v2: tagged fields
        payload = bytes(h.b) + bytes(body.b)
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        self.pending.append((self.correlation, flexible))

    def recv(self):
        correlation, flexible = self.pending.pop(0)
        size = struct.unpack(">i", self._read(4))[0]
        data = self._read(size)
        d = Dec(data, flexible)
        got = d.i32()
        if got != correlation:
            raise ValueError(f"correlation id {got}, expected {correlation}")
        d.tags()  # response header v1
        return d

    def call(self, api_key, version, body, flexible=False):
        self.send(api_key, version, body, flexible)
        return self.recv()

    def _read(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by kgw")
            buf += chunk
        return bytes(buf)

    def close(self):
        self.sock.close()


# -- requests more than one test sends ----------------------------------------

def list_offsets_latest(bootstrap, topic, partition=0, current_leader_epoch=-1):
    """ListOffsets v4 LATEST of one partition, with the client's leader
    epoch as a KIP-320 client sends it: (error, offset, leader epoch)."""
    e = Enc().i32(-1).i8(0)
    e.array([0], lambda enc, _: enc.string(topic).array(
        [0], lambda enc2, __: enc2.i32(partition).i32(current_leader_epoch).i64(-1)))
    c = Conn(bootstrap)
    try:
        d = c.call(2, 4, e)
    finally:
        c.close()
    d.i32()  # throttle
    out = []
    d.array(lambda dd: (dd.string(), dd.array(
        lambda d3: out.append((d3.i32(), d3.i16(), d3.i64(), d3.i64(), d3.i32())))))
    _, err, _, offset, epoch = out[0]
    return err, offset, epoch


def offset_for_leader_epoch(bootstrap, version, asks, topic):
    """OffsetForLeaderEpoch (API 23) at `version`, as a consumer (replica
    -1) asks it. asks: [(partition, current leader epoch, leader epoch)] ->
    [(partition, error, leader epoch or None for v0, end offset)]."""
    flexible = version >= 4
    e = Enc(flexible)
    if version >= 3:
        e.i32(-1)  # a consumer

    def part(enc, a):
        enc.i32(a[0])
        if version >= 2:
            enc.i32(a[1])
        enc.i32(a[2])
        if flexible:
            enc.tags()

    def top(enc, _):
        enc.string(topic).array(asks, part)
        if flexible:
            enc.tags()

    e.array([0], top)
    if flexible:
        e.tags()
    c = Conn(bootstrap)
    try:
        d = c.call(23, version, e, flexible)
    finally:
        c.close()
    if version >= 2:
        d.i32()  # throttle
    out = []

    def presult(dd):
        err, partition = dd.i16(), dd.i32()
        epoch = dd.i32() if version >= 1 else None
        out.append((partition, err, epoch, dd.i64()))
        if flexible:
            dd.tags()

    def tresult(dd):
        dd.string()
        dd.array(presult)
        if flexible:
            dd.tags()

    d.array(tresult)
    return out

# -- record batches ----------------------------------------------------------

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(v):
    e = Enc()
    e.uvarint((v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1)
    return bytes(e.b)


def record_batch(values, producer_id=-1, epoch=-1, base_sequence=-1, transactional=False,
                 timestamp=1_700_000_000_000):
    """One uncompressed record batch v2 (magic 2) holding `values` (bytes)."""
    records = bytearray()
    for i, v in enumerate(values):
        body = bytes([0]) + _varint(0) + _varint(i) + _varint(-1) + _varint(len(v)) + v + _varint(0)
        records += _varint(len(body)) + body
    attributes = 0x10 if transactional else 0
    after_crc = (struct.pack(">hiqqqhii", attributes, len(values) - 1, timestamp, timestamp,
                             producer_id, epoch, base_sequence, len(values)) + bytes(records))
    crc = crc32c(after_crc)
    head = struct.pack(">ibI", -1, 2, crc)  # partition leader epoch, magic, crc
    batch_length = len(head) + len(after_crc)
    return struct.pack(">qi", 0, batch_length) + head + after_crc
