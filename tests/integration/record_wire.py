"""Record batches with records chosen field by field, and the Produce and
ListOffsets calls that carry them, for the record-validation tests
(test_record_validation.py, test_bad_input.py). Stdlib only.

A record is a dict: key (bytes or None), value (bytes or None), and
optionally offset_delta, timestamp_delta, headers [(key, value)], or raw
(its whole encoded body, for garbage)."""

import struct

from kafka_wire import Conn, Enc, crc32c

INVALID_RECORD, CORRUPT_MESSAGE, INVALID_TIMESTAMP = 87, 2, 32


def varint(v):
    e = Enc()
    e.uvarint((v << 1) ^ (v >> 63))
    return bytes(e.b)


def nullable(b):
    return varint(-1) if b is None else varint(len(b)) + b


def encode_record(i, r):
    if "raw" in r:
        body = r["raw"]
    else:
        body = (b"\x00" + varint(r.get("timestamp_delta", 0)) + varint(r.get("offset_delta", i))
                + nullable(r.get("key")) + nullable(r.get("value", b"v"))
                + varint(len(r.get("headers", []))))
        for hk, hv in r.get("headers", []):
            body += varint(len(hk)) + hk + nullable(hv)
    return varint(len(body)) + body


def batch(records, timestamp=1_700_000_000_000, record_count=None, last_offset_delta=None,
          attributes=0, section=None, max_timestamp=None):
    """One uncompressed v2 batch with a correct CRC over whatever it holds:
    `section` replaces the encoded records, `record_count` and
    `last_offset_delta` the header's counts."""
    if section is None:
        section = b"".join(encode_record(i, r) for i, r in enumerate(records))
    count = len(records) if record_count is None else record_count
    last = count - 1 if last_offset_delta is None else last_offset_delta
    mx = timestamp if max_timestamp is None else max_timestamp
    after_crc = struct.pack(">hiqqqhii", attributes, last, timestamp, mx, -1, -1, -1,
                            count) + section
    head = struct.pack(">ibI", -1, 2, crc32c(after_crc))
    return struct.pack(">qi", 0, len(head) + len(after_crc)) + head + after_crc


def fix_crc(b):
    """Recomputes the CRC of the one batch `b` (bytes) after an edit."""
    b = bytearray(b)
    b[17:21] = struct.pack(">I", crc32c(bytes(b[21:])))
    return bytes(b)


def produce(bootstrap, topic, partition, records_bytes, version=8, acks=1):
    """Produce one partition -> dict(error, base_offset, record_errors
    [(batch_index, message)], error_message)."""
    flexible = version >= 9
    e = Enc(flexible).string(None).i16(acks).i32(10_000)

    def part(enc, _):
        enc.i32(partition).bytes_(records_bytes).tags()

    def top(enc, _):
        enc.string(topic).array([0], part).tags()

    e.array([0], top).tags()
    c = Conn(bootstrap)
    try:
        d = c.call(0, version, e, flexible=flexible)
    finally:
        c.close()
    out = {}

    def p(dd):
        out["index"] = dd.i32()
        out["error"] = dd.i16()
        out["base_offset"] = dd.i64()
        dd.i64()  # log_append_time
        dd.i64()  # log_start_offset

        def rec_err(d3):
            v = (d3.i32(), d3.string())
            d3.tags()
            return v

        out["record_errors"] = dd.array(rec_err)
        out["error_message"] = dd.string()
        dd.tags()

    def t(dd):
        dd.string()
        dd.array(p)
        dd.tags()

    d.array(t)
    return out


def list_offsets(bootstrap, topic, partition, timestamp):
    """ListOffsets v1 -> (error, timestamp, offset); timestamp -1 is the end."""
    e = Enc().i32(-1)
    e.array([0], lambda enc, _: enc.string(topic).array(
        [0], lambda enc2, __: enc2.i32(partition).i64(timestamp)))
    c = Conn(bootstrap)
    try:
        d = c.call(2, 1, e)
    finally:
        c.close()
    result = []
    d.array(lambda dd: (dd.string(), dd.array(
        lambda d3: result.append((d3.i32(), d3.i16(), d3.i64(), d3.i64())))))
    _, err, ts, off = result[0]
    return err, ts, off
