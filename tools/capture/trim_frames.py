#!/usr/bin/env python3
"""Trims a raw .frames capture (from record_proxy.py) into a fixture, and
prints a summary table of captured (client, api_key, api_version) pairs.

Trimming keeps requests together with their responses: for each
(api_key, api_version) it keeps at most --per-key request/response pairs,
dropping pairs whose bytes repeat an already kept pair (correlation ids
ignored) and preferring pairs that differ in size from those already kept,
so an empty Fetch and one carrying records both survive. With --schemas,
one pair per distinct kind of record batch (magic, compression codec,
transactional, idempotent, control) is kept as well, up to 3 x --per-key. Kept lines are
written verbatim, in capture order, after the raw file's '#' header.

    trim_frames.py trim --out OUT RAW... [--per-key 5] [--max-bytes 2000000]

With --schemas, every frame is first checked by validate_frames.py against
Kafka's JSON message schemas; a frame that does not decode exactly (in
practice: mock-cluster bugs) is left out, its partner kept, and the header
lists what was dropped and why.

Several raw files (one per capture pass) make one fixture: their '#' headers
are merged in order (lines shared by the passes appear once), and connection
numbers are renumbered so conn=<n> stays unique across passes.
    trim_frames.py summary FILE... [--markdown]
"""

import argparse
import os
import sys

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs",
    35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments",
    46: "ListPartitionReassignments", 47: "OffsetDelete", 48: "DescribeClientQuotas",
    49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 55: "DescribeQuorum", 57: "UpdateFeatures",
    60: "DescribeCluster", 61: "DescribeProducers", 64: "DescribeTransactions",
    65: "ListTransactions", 66: "AllocateProducerIds", 68: "ConsumerGroupHeartbeat",
}


class Frame:
    __slots__ = ("line", "direction", "api_key", "api_version", "corr", "data", "conn", "index",
                 "parts", "batch_kinds")

    def __init__(self, line, index):
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("req", "resp"):
            raise ValueError(f"line {index + 1}: not a frame line")
        self.line = line
        self.index = index
        self.direction = parts[0]
        self.api_key = int(parts[1])
        self.api_version = int(parts[2])
        self.corr = int(parts[3])
        self.data = bytes.fromhex(parts[4])
        self.conn = None
        self.batch_kinds = ()
        self.parts = parts
        for tok in parts[5:]:
            if tok.startswith("conn="):
                self.conn = tok[5:]

    def renumber(self, conn):
        self.conn = str(conn)
        rest = [t for t in self.parts[5:] if not t.startswith("conn=")]
        self.line = " ".join(self.parts[:5] + [f"conn={conn}"] + rest)

    def normalized(self):
        """Bytes with the correlation id zeroed, for duplicate detection."""
        off = 4 if self.direction == "req" else 0
        if len(self.data) < off + 4:
            return self.data
        return self.data[:off] + b"\0\0\0\0" + self.data[off + 4:]


def read_frames(path, first_index=0):
    header, frames = [], []
    with open(path, encoding="ascii") as f:
        for i, raw in enumerate(f):
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                if not frames:
                    header.append(line)
                continue
            frames.append(Frame(line, first_index + i))
    return header, frames


def read_passes(paths):
    """Reads several raw captures as one, with unique connection numbers."""
    header, frames, conn_map = [], [], {}
    for n, path in enumerate(paths):
        h, fs = read_frames(path, first_index=n << 32)
        # Each pass keeps its own date and upstream lines; shared lines
        # (client, scenario, format...) appear once.
        header.extend(line for line in h
                      if line not in header or line.startswith(("# date:", "# upstream:")))
        for fr in fs:
            key = (n, fr.conn)
            if key not in conn_map:
                conn_map[key] = len(conn_map) + 1
            fr.renumber(conn_map[key])
        frames.extend(fs)
    return header, frames


def pair_frames(frames):
    """Returns a list of (request or None, response or None) in capture order."""
    pending = {}  # (conn, corr) -> index into pairs
    pairs = []
    for fr in frames:
        key = (fr.conn, fr.corr)
        if fr.direction == "req":
            pending[key] = len(pairs)
            pairs.append([fr, None])
        else:
            idx = pending.pop(key, None)
            if idx is None:
                pairs.append([None, fr])
            else:
                pairs[idx][1] = fr
    return pairs


def drop_invalid(frames, schema_dir):
    """Returns (valid frames, header lines naming the dropped ones)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import validate_frames  # noqa: E402 - same directory, stdlib only

    schemas = validate_frames.Schemas(schema_dir)
    kept, dropped = [], {}
    for fr in frames:
        err = None
        if fr.api_key >= 0:
            err, kinds = validate_frames.inspect(schemas, fr.direction, fr.api_key,
                                                 fr.api_version, fr.data)
            fr.batch_kinds = tuple(kinds)
        if err is None:
            kept.append(fr)
            continue
        key = (fr.direction, fr.api_key, fr.api_version)
        entry = dropped.setdefault(key, [0, err])
        entry[0] += 1
    notes = []
    for (d, k, v), (count, err) in sorted(dropped.items()):
        name = API_NAMES.get(k, "?")
        notes.append(f"# dropped as malformed: {count} x {d} {k} {v} ({name} v{v}): {err}")
    return kept, notes


def select(pairs, per_key):
    groups = {}
    for p in pairs:
        head = p[0] or p[1]
        groups.setdefault((head.direction, head.api_key, head.api_version), []).append(p)
    kept = []
    for _, cands in groups.items():
        seen = set()
        unique = []
        for req, resp in cands:
            sig = (req.normalized() if req else None, resp.normalized() if resp else None)
            if sig not in seen:
                seen.add(sig)
                unique.append((req, resp))

        def size(p):
            return (len(p[0].data) if p[0] else -1, len(p[1].data) if p[1] else -1)

        chosen = []
        shapes = set()

        def take(p, limit=per_key):
            if p not in chosen and len(chosen) < limit:
                chosen.append(p)
                shapes.add(size(p))

        # Every distinct kind of record batch (magic, codec, transactional,
        # idempotent, control) in a request or response is worth a pair,
        # up to three times the usual cap.
        kinds_seen = set()
        for p in unique:
            kinds = tuple(fr.batch_kinds if fr else () for fr in p)
            if kinds != ((), ()) and kinds not in kinds_seen:
                kinds_seen.add(kinds)
                take(p, 3 * per_key)
        take(unique[0])
        take(max(unique, key=lambda p: size(p)[1]))
        take(max(unique, key=lambda p: size(p)[0]))
        for p in unique:
            if size(p) not in shapes:
                take(p)
        for p in unique:
            take(p)
        kept.extend(chosen)
    return kept


def cmd_trim(args):
    header, frames = read_passes(args.raw)
    total = len(frames)
    notes = []
    if args.schemas:
        frames, notes = drop_invalid(frames, args.schemas)
        for line in notes:
            print(f"{args.out}: {line[2:]}")
    pairs = pair_frames(frames)
    kept = select(pairs, args.per_key)
    lines = sorted((fr.index, fr.line) for p in kept for fr in p if fr is not None)
    header = header + notes + [
        f"# trimmed: at most {args.per_key} request/response pairs per (api_key, api_version),"
        " exact repeats dropped; {} of {} frames kept".format(len(lines), total),
    ]
    out = "\n".join(header + [l for _, l in lines]) + "\n"
    if len(out) > args.max_bytes:
        print(f"trim_frames: warning: {args.out} is {len(out)} bytes (> {args.max_bytes})",
              file=sys.stderr)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(out)
    os.replace(tmp, args.out)
    print(f"{args.out}: kept {len(lines)} of {total} frames, {len(out)} bytes")
    return 0


def cmd_summary(args):
    rows = []
    for path in args.files:
        name = os.path.basename(path)
        if name.endswith(".frames"):
            name = name[: -len(".frames")]
        _, frames = read_frames(path)
        counts = {}
        for fr in frames:
            c = counts.setdefault((fr.api_key, fr.api_version), [0, 0])
            c[0 if fr.direction == "req" else 1] += 1
        for (key, ver), (nreq, nresp) in sorted(counts.items()):
            rows.append((name, key, API_NAMES.get(key, "?"), ver, nreq, nresp))
    if args.markdown:
        print("| client | api_key | api | version | requests | responses |")
        print("| --- | ---: | --- | ---: | ---: | ---: |")
        for r in rows:
            print("| {} | {} | {} | {} | {} | {} |".format(*r))
    else:
        w = max([len(r[0]) for r in rows] + [6])
        print(f"{'client':<{w}} {'key':>4} {'api':<22} {'ver':>3} {'req':>4} {'resp':>4}")
        for r in rows:
            print(f"{r[0]:<{w}} {r[1]:>4} {r[2]:<22} {r[3]:>3} {r[4]:>4} {r[5]:>4}")
        pairs = {(r[0], r[1], r[3]) for r in rows}
        distinct = {(r[1], r[3]) for r in rows}
        print(f"{len(pairs)} (client, api_key, version) pairs; "
              f"{len(distinct)} distinct (api_key, version) pairs overall")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("trim", help="trim a raw capture into a fixture")
    t.add_argument("--out", required=True, help="fixture file to write")
    t.add_argument("--schemas", help="Kafka message schema directory; drop frames that do "
                   "not decode exactly (default: no check)")
    t.add_argument("raw", nargs="+", help="raw captures from record_proxy.py, one per pass")
    t.add_argument("--per-key", type=int, default=5,
                   help="pairs kept per (api_key, api_version) (default 5)")
    t.add_argument("--max-bytes", type=int, default=2_000_000,
                   help="warn when the fixture is larger (default 2000000)")
    s = sub.add_parser("summary", help="print (client, api, version, count) table")
    s.add_argument("files", nargs="+")
    s.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args()
    return cmd_trim(args) if args.cmd == "trim" else cmd_summary(args)


if __name__ == "__main__":
    sys.exit(main())
