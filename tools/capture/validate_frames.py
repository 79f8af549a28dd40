#!/usr/bin/env python3
"""Checks captured frames against Apache Kafka's JSON message schemas.

Every frame of a .frames file is decoded with the schema of its api_key and
version (request header v1/v2, response header v0/v1, tagged fields, compact
types) and must be consumed exactly. Record batches inside `records` fields
are walked too: RecordBatch v2 (length, magic, CRC-32C over the rest) and the
old MessageSet v0/v1 (CRC-32) framing. A frame that fails is either a broker
or client bug, or a schema corner this checker does not know; either way a
codec test built on it would fail, so capture_all.sh drops failing response
frames from the fixtures and lists them.

    validate_frames.py [--schemas DIR] FILE...      (exit 1 if any frame fails)
    validate_frames.py --schemas DIR --list-bad FILE  (prints bad line numbers)

DIR defaults to ../shared/kafka-protocol/messages next to the repository.
"""

import argparse
import binascii
import json
import os
import re
import struct
import sys


class DecodeError(Exception):
    pass


def _strip_comments(text):
    """Removes // comments outside JSON strings."""
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _in_range(spec, v):
    if spec is None or spec == "none":
        return False
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)


class Schemas:
    def __init__(self, directory):
        self.requests, self.responses = {}, {}
        self.request_header = self.response_header = None
        for name in os.listdir(directory):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                msg = json.loads(_strip_comments(f.read()))
            kind = msg.get("type")
            if kind == "request":
                self.requests[msg["apiKey"]] = msg
            elif kind == "response":
                self.responses[msg["apiKey"]] = msg
            elif kind == "header" and msg["name"] == "RequestHeader":
                self.request_header = msg
            elif kind == "header" and msg["name"] == "ResponseHeader":
                self.response_header = msg


class Reader:
    """strict: reject non-minimal uvarints, which a canonical encoder could
    not reproduce byte for byte (protocol fields; record internals are
    opaque bytes to a codec, so they are read leniently)."""

    def __init__(self, data, strict=True):
        self.data = data
        self.pos = 0
        self.strict = strict

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"need {n} bytes at offset {self.pos}, "
                              f"{len(self.data) - self.pos} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def fixed(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def uvarint(self):
        shift, value, start = 0, 0, self.pos
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                if self.strict and self.pos - start > 1 and b == 0:
                    raise DecodeError(f"non-minimal uvarint at offset {start}")
                return value
            shift += 7
            if shift > 35:
                raise DecodeError(f"uvarint too long at offset {self.pos}")

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def varlong(self):
        shift, value = 0, 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return (value >> 1) ^ -(value & 1)
            shift += 7
            if shift > 63:
                raise DecodeError(f"varlong too long at offset {self.pos}")


_FIXED = {"bool": ">?", "int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i",
          "uint32": ">I", "int64": ">q", "float64": ">d"}


class Decoder:
    """Walks one message body; raises DecodeError on malformed input."""

    def __init__(self, common_structs, version, flexible):
        self.structs = {s["name"]: s for s in common_structs}
        self.version = version
        self.flexible = flexible
        self.batches = []  # batch_kind() of every record batch seen

    def struct(self, r, fields):
        out = {}
        for f in fields:
            if not _in_range(f.get("versions"), self.version):
                continue
            if _in_range(f.get("taggedVersions"), self.version):
                continue  # in the tagged section
            out[f["name"]] = self.field(r, f)
        if self.flexible:
            self.tagged(r)
        return out

    def tagged(self, r):
        count = r.uvarint()
        last = -1
        for _ in range(count):
            tag = r.uvarint()
            if tag <= last:
                raise DecodeError(f"tagged fields out of order ({tag} after {last})")
            last = tag
            r.take(r.uvarint())

    def field(self, r, f):
        ftype = f["type"]
        flexible = self.flexible and f.get("flexibleVersions") != "none"
        nullable = _in_range(f.get("nullableVersions"), self.version)
        if ftype.startswith("[]"):
            n = (r.uvarint() - 1) if flexible else r.fixed(">i")
            if n < 0:
                if nullable and n == -1:
                    return None
                raise DecodeError(f"{f['name']}: array length {n}")
            if n > len(r.data) - r.pos:
                raise DecodeError(f"{f['name']}: array length {n} exceeds bytes left")
            elem = ftype[2:]
            return [self.value(r, elem, f, flexible, False) for _ in range(n)]
        return self.value(r, ftype, f, flexible, nullable)

    def value(self, r, ftype, f, flexible, nullable):
        if ftype in _FIXED:
            return r.fixed(_FIXED[ftype])
        if ftype == "uuid":
            return r.take(16)
        if ftype in ("string", "bytes", "records"):
            n = (r.uvarint() - 1) if flexible else (r.fixed(">h") if ftype == "string"
                                                     else r.fixed(">i"))
            if n < 0:
                if nullable and n == -1:
                    return None
                raise DecodeError(f"{f['name']}: length {n} (not nullable here)")
            data = r.take(n)
            if ftype == "string":
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DecodeError(f"{f['name']}: invalid UTF-8") from e
            if ftype == "records":
                self.batches.extend(check_records(data))
            return data
        # A struct: inline fields, or a common struct.
        fields = f.get("fields")
        if fields is None or f["type"].lstrip("[]") != ftype:
            if ftype not in self.structs:
                raise DecodeError(f"unknown type {ftype}")
            fields = self.structs[ftype]["fields"]
        if nullable:
            present = r.fixed(">b")
            if present == -1:
                return None
        return self.struct(r, fields)


def check_records(data):
    """Walks a records blob: RecordBatch v2 batches or MessageSet v0/v1.

    Returns one (magic, codec, transactional, idempotent, control) tuple per
    batch or message.
    """
    kinds = []
    r = Reader(data, strict=False)
    while r.pos < len(data):
        if len(data) - r.pos < 17:
            return kinds  # a partial trailing batch is legal in Fetch responses
        base = r.pos
        r.fixed(">q")  # base offset
        length = r.fixed(">i")
        if length < 0 or r.pos + length > len(data):
            return kinds  # partial (truncated by max_bytes)
        body = data[r.pos:r.pos + length]
        magic = body[4]
        if magic == 2:
            if len(body) < 49:
                raise DecodeError(f"record batch at {base}: {length} bytes is too short")
            crc = struct.unpack_from(">I", body, 5)[0]
            if _crc32c(body[9:]) != crc:
                raise DecodeError(f"record batch at {base}: CRC-32C mismatch")
            attrs = struct.unpack_from(">h", body, 9)[0]
            producer_id = struct.unpack_from(">q", body, 31)[0]
            count = struct.unpack_from(">i", body, 45)[0]
            kinds.append((2, attrs & 0x07, bool(attrs & 0x10), producer_id >= 0,
                          bool(attrs & 0x20)))
            if attrs & 0x07 == 0 and not attrs & 0x20:  # uncompressed, not control
                _check_plain_records(body[49:], count, base)
        elif magic in (0, 1):
            crc = struct.unpack_from(">I", body, 0)[0]
            if binascii.crc32(body[4:]) & 0xFFFFFFFF != crc:
                raise DecodeError(f"message at {base}: CRC-32 mismatch")
            kinds.append((magic, body[5] & 0x07, False, False, False))
        else:
            raise DecodeError(f"batch at {base}: unknown magic {magic}")
        r.pos += length
    return kinds


def _check_plain_records(data, count, base):
    r = Reader(data, strict=False)
    for i in range(count):
        length = r.varint()
        start = r.pos
        r.take(1)  # attributes
        r.varlong()  # timestamp delta
        r.varint()  # offset delta
        for _ in range(2):  # key, value
            n = r.varint()
            if n > 0:
                r.take(n)
        for _ in range(r.varint()):  # headers
            r.take(r.varint())
            n = r.varint()
            if n > 0:
                r.take(n)
        if r.pos - start != length:
            raise DecodeError(f"batch at {base}: record {i} length {length} != {r.pos - start}")
    if r.pos != len(data):
        raise DecodeError(f"batch at {base}: {len(data) - r.pos} bytes after {count} records")


def _make_crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _make_crc32c_table()


def _crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def validate(schemas, direction, api_key, version, frame):
    """Returns None if the frame decodes exactly, else a message."""
    return inspect(schemas, direction, api_key, version, frame)[0]


def inspect(schemas, direction, api_key, version, frame):
    """Returns (error or None, sorted distinct record batch kinds)."""
    body = None
    table = schemas.requests if direction == "req" else schemas.responses
    msg = table.get(api_key)
    if msg is None:
        return f"unknown api_key {api_key}", []
    if not _in_range(msg["validVersions"], version):
        return f"version {version} not in {msg['validVersions']} of the schema", []
    flexible = _in_range(msg.get("flexibleVersions"), version)
    r = Reader(frame)
    try:
        if direction == "req":
            hdr_version = 2 if flexible else 1
            if api_key == 7 and version == 0:
                hdr_version = 0  # ControlledShutdown v0
            Decoder([], hdr_version, hdr_version >= 2).struct(r, schemas.request_header["fields"])
        else:
            # ApiVersions responses always use header v0 (clients parse them
            # before they know what the broker supports).
            hdr_flexible = flexible and api_key != 18
            Decoder([], 1 if hdr_flexible else 0, hdr_flexible).struct(
                r, schemas.response_header["fields"])
            if api_key == 18 and len(frame) >= 6 and struct.unpack_from(">h", frame, 4)[0] == 35:
                # UNSUPPORTED_VERSION: brokers answer in the v0 body format.
                version, flexible = 0, False
        body = Decoder(msg.get("commonStructs", []), version, flexible)
        body.struct(r, msg["fields"])
    except DecodeError as e:
        return str(e), []
    if r.pos != len(frame):
        return f"{len(frame) - r.pos} bytes left over after offset {r.pos}", []
    return None, sorted(set(body.batches))


def default_schema_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "kafka-protocol",
                                         "messages"))


def check_file(schemas, path):
    """Yields (line_number, direction, api_key, version, error) for bad frames."""
    with open(path, encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            p = line.split()
            d, key, ver = p[0], int(p[1]), int(p[2])
            if key < 0:
                yield n, d, key, ver, "unlabelled frame"
                continue
            err = validate(schemas, d, key, ver, bytes.fromhex(p[4]))
            if err:
                yield n, d, key, ver, err


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schemas", default=default_schema_dir(),
                    help="directory of Kafka's message JSON files")
    ap.add_argument("--list-bad", action="store_true",
                    help="print only the line numbers of failing frames")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    if not os.path.isdir(args.schemas):
        print(f"validate_frames: schema directory {args.schemas} not found", file=sys.stderr)
        return 2
    schemas = Schemas(args.schemas)
    bad = 0
    for path in args.files:
        for n, d, key, ver, err in check_file(schemas, path):
            bad += 1
            if args.list_bad:
                print(n)
            else:
                print(f"{os.path.basename(path)}:{n}: {d} api {key} v{ver}: {err}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
