"""What clients were told and what they read during one Jepsen-style run,
and the checker that judges it (issue 16, "Tests").

Stdlib only: the checker runs on a history recorded by real clients
(jepsen/workload.py) or on one a unit test writes by hand
(test_jepsen_checker.py), or on a history saved as JSON:

    python3 -m jepsen.history run.json      # PYTHONPATH=tests/integration

A history holds:
- acknowledged writes: the unique value, and the (topic, partition,
  offset) an idempotent acks=all producer was told it was written at;
- unacknowledged writes: sent, then failed or timed out (outcome unknown:
  present or absent afterwards, both are fine, but once only);
- reads: (topic, partition, offset) -> (key, value), by which reader
  (group members across restarts, the final reader), in the order they
  arrived; the final read is the complete one, from each partition's start
  to its high watermark once the cluster converged (a partition whose end
  it did not reach within its deadline is marked unfinished);
- committed group offsets: each commit a consumer was told succeeded, and
  each committed offset observed by OffsetFetch later on, placed at the
  moment its request was sent;
- transactions: their writes, and what the producer was told (committed,
  aborted, or unknown when the commit or abort failed);
- client errors (the faults' verdict on "only retriable errors") and the
  faults themselves (for the report).

The checker's counts, every one of which must be zero:
- lost: an acknowledged write the final read does not contain;
- moved: an acknowledged write the final read has at another offset than
  the one the producer was told (when it was told one);
- duplicates: one value at two offsets (reads of the whole run);
- divergent: one offset read with two different contents;
- truncated: an offset read during the run whose content the final read
  does not have there (a read above the high watermark, later truncated);
- offsets_backwards: a committed offset observed below one acknowledged or
  observed before its OffsetFetch was sent, for the same group and
  partition;
- txn_partial: a transaction some but not all of whose writes the final
  read_committed read shows (a value that a committed transaction wrote
  too, as a transform does when it redoes a failed one, counts as that
  transaction's);
- txn_aborted_visible: an aborted transaction with a write visible to it;
- txn_lost: a transaction told committed with none of its writes visible;
- eos_missing: consume-transform-produce (a transform): a source record
  below the offset its group committed last whose output the final read
  does not show (an output shown twice counts as a duplicate);
- nothing_acknowledged: 1 when no write was acknowledged (nothing judged).
"""

import json
import sys
import threading
from collections import defaultdict

COUNTS = ("lost", "moved", "duplicates", "divergent", "truncated", "offsets_backwards",
          "txn_partial", "txn_aborted_visible", "txn_lost", "eos_missing",
          "nothing_acknowledged")
DETAILS_PER_COUNT = 10  # details printed per count; the counts are exact


def _text(b):
    if b is None:
        return None
    return b.decode(errors="replace") if isinstance(b, (bytes, bytearray)) else str(b)


class History:
    """Appended to from client threads (callbacks included); judged after."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seq = 0
        self.writes = {}  # value -> (topic, partition, offset), acknowledged
        self.unacked = {}  # value -> error text
        self.reads = []  # (seq, reader, topic, partition, offset, key, value, final)
        self.commits = []  # (seq, kind "acked"/"observed", group, topic, partition, offset)
        self.txns = {}  # txn name -> {"status": ..., "values": [...], "topic": ...}
        self.errors = []  # (who, error name, retriable)
        self.events = []  # (seq, text): faults, heals, restarts
        self.unfinished = set()  # (topic, partition) whose final read missed the end
        self.transforms = []  # (group, source topic, output topic, prefix)

    def _next(self):
        self._seq += 1
        return self._seq

    def acked(self, value, topic, partition, offset):
        with self._lock:
            self.writes[_text(value)] = (topic, partition, offset)

    def unacknowledged(self, value, error):
        with self._lock:
            self.unacked[_text(value)] = str(error)

    def read(self, reader, topic, partition, offset, key, value, final=False):
        with self._lock:
            self.reads.append((self._next(), reader, topic, partition, offset, _text(key),
                               _text(value), final))

    def final_unfinished(self, topic, partition):
        """The final read did not reach this partition's end: its
        acknowledged writes not read count as lost, but reads during the
        run above what it got are not judged truncated."""
        with self._lock:
            self.unfinished.add((topic, partition))

    def now(self):
        """A point in the history: what was recorded before it happened before."""
        with self._lock:
            return self._next()

    def committed(self, group, topic, partition, offset, asked=None):
        """A commit the consumer was told succeeded (when it was told), or
        an offset OffsetFetch answered to a request sent at `asked` (a
        now()): only what was acknowledged before the request was sent
        must be visible in its answer. Offsets < 0 (none committed) are
        not kept."""
        if offset < 0:
            return
        with self._lock:
            seq = self._next() if asked is None else asked
            self.commits.append((seq, "acked" if asked is None else "observed", group, topic,
                                 partition, offset))

    def txn(self, name, topic, values, status):
        """status: "committed", "aborted" or "unknown" (the commit or abort failed)."""
        with self._lock:
            self.txns[name] = {"topic": topic, "values": [_text(v) for v in values],
                               "status": status}

    def transform(self, group, source, output, prefix):
        """A consume-transform-produce job: group reads source and writes
        prefix + value to output in transactions with its offsets."""
        with self._lock:
            self.transforms.append((group, source, output, prefix))

    def client_error(self, who, name, retriable):
        with self._lock:
            self.errors.append((who, name, retriable))

    def event(self, text):
        with self._lock:
            self.events.append((self._next(), text))

    # -- saving ---------------------------------------------------------------

    def to_json(self):
        return {"writes": {v: list(w) for v, w in self.writes.items()},
                "unacked": self.unacked, "reads": [list(r) for r in self.reads],
                "commits": [list(c) for c in self.commits], "txns": self.txns,
                "errors": [list(e) for e in self.errors],
                "events": [list(e) for e in self.events],
                "unfinished": sorted(list(u) for u in self.unfinished),
                "transforms": [list(t) for t in self.transforms]}

    @classmethod
    def from_json(cls, data):
        h = cls()
        h.writes = {v: tuple(w) for v, w in data["writes"].items()}
        h.unacked = dict(data["unacked"])
        h.reads = [tuple(r) for r in data["reads"]]
        h.commits = [tuple(c) for c in data["commits"]]
        h.txns = dict(data["txns"])
        h.errors = [tuple(e) for e in data["errors"]]
        h.events = [tuple(e) for e in data["events"]]
        h.unfinished = {tuple(u) for u in data.get("unfinished", [])}
        h.transforms = [tuple(t) for t in data.get("transforms", [])]
        h._seq = max([r[0] for r in h.reads] + [c[0] for c in h.commits] +
                     [e[0] for e in h.events] + [0])
        return h


class Verdict:
    def __init__(self, counts, details, info):
        self.counts = counts  # name -> int, every name of COUNTS
        self.details = details  # name -> [text]
        self.info = info  # acknowledged, unacknowledged, reads, ...

    @property
    def ok(self):
        return not any(self.counts.values())

    def summary(self):
        counts = " ".join(f"{k}={self.counts[k]}" for k in COUNTS)
        info = " ".join(f"{k}={v}" for k, v in self.info.items())
        return f"jepsen: {'OK' if self.ok else 'FAIL'} {counts} ({info})"

    def report(self):
        lines = [self.summary()]
        for name in COUNTS:
            shown = self.details[name][:DETAILS_PER_COUNT]
            for d in shown:
                lines.append(f"  {name}: {d}")
            if len(self.details[name]) > len(shown):
                lines.append(f"  {name}: ... {len(self.details[name]) - len(shown)} more")
        return "\n".join(lines)


def check(history):
    """Judges a History; returns a Verdict."""
    details = {name: [] for name in COUNTS}
    final = defaultdict(dict)  # (topic, partition) -> {offset: (key, value)}
    final_at = {}  # value -> [(topic, partition, offset)] in the final read
    contents = defaultdict(set)  # (topic, partition, offset) -> {(key, value)}
    places = defaultdict(set)  # value -> {(topic, partition, offset)}
    during = {}  # (topic, partition, offset) -> (key, value, reader), first read before the final
    for _, reader, topic, partition, offset, key, value, is_final in history.reads:
        where = (topic, partition, offset)
        contents[where].add((key, value))
        places[value].add(where)
        if is_final:
            final[(topic, partition)][offset] = (key, value)
            final_at.setdefault(value, []).append(where)
        else:
            during.setdefault(where, (key, value, reader))

    for value, where in sorted(history.writes.items()):
        seen = final_at.get(value)
        if not seen:
            details["lost"].append(f"{value!r} acknowledged at {_where(where)}, "
                                   f"not in the final read")
        elif where[2] is not None and tuple(where) not in seen:
            # (An idempotent producer may be told a batch is persisted
            # without its offset: librdkafka does so for a batch it had
            # to retry once a later one of the same producer succeeded.)
            details["moved"].append(f"{value!r} acknowledged at {_where(where)}, "
                                    f"read at {', '.join(_where(w) for w in seen)}")

    for value, where in sorted(places.items()):
        if len(where) > 1:
            details["duplicates"].append(
                f"{value!r} at {', '.join(_where(w) for w in sorted(where))}")

    for where, seen in sorted(contents.items()):
        if len(seen) > 1:
            details["divergent"].append(f"{_where(where)} read as {sorted(seen, key=str)}")

    judged = set(final) - history.unfinished  # partitions the final read read whole
    for where, (key, value, reader) in sorted(during.items()):
        topic, partition, offset = where
        if (topic, partition) not in judged:
            continue
        now = final[(topic, partition)].get(offset)
        if now != (key, value):
            details["truncated"].append(
                f"{_where(where)} read by {reader} as {value!r}, the final read has "
                f"{'nothing there' if now is None else repr(now[1])}")

    highest = {}  # (group, topic, partition) -> (offset, kind, seq)
    for seq, kind, group, topic, partition, offset in sorted(history.commits):
        k = (group, topic, partition)
        if kind == "observed" and k in highest and offset < highest[k][0]:
            details["offsets_backwards"].append(
                f"group {group} {topic}[{partition}]: committed offset {offset} observed after "
                f"{highest[k][0]} was {highest[k][1]}")
        if k not in highest or offset >= highest[k][0]:
            highest[k] = (offset, kind, seq)

    visible = set(final_at)
    # A transform that failed writes the same outputs again in a later
    # transaction: a value also written by a committed transaction is that
    # one's (once only, else it is a duplicate), not the failed one's.
    committed_by = defaultdict(set)  # value -> {committed transaction}
    for name, t in history.txns.items():
        if t["status"] == "committed":
            for v in t["values"]:
                committed_by[v].add(name)
    for name, t in sorted(history.txns.items()):
        shown = [v for v in t["values"] if v in visible and not committed_by[v] - {name}]
        if t["status"] == "aborted" and shown:
            details["txn_aborted_visible"].append(
                f"{name}: aborted, {len(shown)} of {len(t['values'])} writes visible")
        elif 0 < len(shown) < len(t["values"]):
            details["txn_partial"].append(
                f"{name} ({t['status']}): {len(shown)} of {len(t['values'])} writes visible, "
                f"missing {sorted(set(t['values']) - set(shown))[:3]}")
        elif t["status"] == "committed" and not shown and t["values"]:
            details["txn_lost"].append(f"{name}: committed, none of its "
                                       f"{len(t['values'])} writes visible")

    for group, source, output, prefix in history.transforms:
        done = {}  # source partition -> the last committed offset observed
        for _, kind, g, topic, partition, offset in sorted(history.commits):
            if g == group and topic == source and kind == "observed":
                done[partition] = offset
        for (topic, partition), records in sorted(final.items()):
            if topic != source:
                continue
            for offset, (_, value) in sorted(records.items()):
                if offset < done.get(partition, 0) and prefix + value not in visible:
                    details["eos_missing"].append(
                        f"{_where((topic, partition, offset))} {value!r} consumed by {group} "
                        f"(committed {done[partition]}), no {prefix + value!r} in {output}")

    if not history.writes and not any(t["status"] == "committed" for t in history.txns.values()):
        details["nothing_acknowledged"].append("no write or transaction was acknowledged: "
                                               "nothing to judge")

    counts = {name: len(details[name]) for name in COUNTS}
    info = {"acknowledged": len(history.writes), "unacknowledged": len(history.unacked),
            "reads": len(history.reads),
            "final_reads": sum(len(o) for o in final.values()),
            "commits": sum(1 for c in history.commits if c[1] == "acked"),
            "txns": len(history.txns), "unfinished_partitions": len(history.unfinished),
            "client_errors": len(history.errors)}
    return Verdict(counts, details, info)


def _where(w):
    topic, partition, offset = w
    return f"{topic}[{partition}]@{offset}"


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -m jepsen.history HISTORY.json", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        verdict = check(History.from_json(json.load(f)))
    print(verdict.report())
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
