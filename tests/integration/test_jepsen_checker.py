"""The Jepsen checker (jepsen/history.py) on histories written by hand: a
clean one, and one per anomaly it must count (a lost write, a moved one, a
duplicate, a divergent read, a truncated read, a committed offset going
backwards, a partly visible, an aborted-but-visible and a lost
transaction, a consume-transform-produce output missing or twice,
nothing acknowledged, a final read short of a partition's end), each
count exact, and a history saved
as JSON judged the same way again. No cluster, no client library.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from jepsen.history import COUNTS, History, check

T = "t"


def clean():
    """Two partitions, four acknowledged writes; a group member read part
    of them (one offset twice, across a restart), the final read all, in
    place; commits and observations going forwards; one committed and one
    aborted transaction on a second topic, the committed one fully visible."""
    h = History()
    for i, (p, o) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        h.acked(f"v{i}".encode(), T, p, o)
    h.unacknowledged(b"v9", "Local: Message timed out")
    h.read("member-1", T, 0, 0, b"k0", b"v0")
    h.read("member-1", T, 0, 1, b"k1", b"v1")
    h.read("member-1b", T, 0, 1, b"k1", b"v1")  # the restarted member reads it again
    h.committed("g", T, 0, 1)
    h.committed("g", T, 0, 2)
    asked = h.now()
    h.committed("g", T, 0, 3)  # acknowledged after the OffsetFetch was sent
    h.committed("g", T, 0, 2, asked=asked)  # which may not show it yet
    for i, (p, o) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        h.read("final", T, p, o, f"k{i}".encode(), f"v{i}".encode(), final=True)
    h.txn("txn-1", "tx", [b"a1", b"a2"], "committed")
    h.txn("txn-2", "tx", [b"b1", b"b2"], "aborted")
    h.txn("txn-3", "tx", [b"c1", b"c2"], "unknown")  # none visible: fine
    h.read("final", "tx", 0, 0, None, b"a1", final=True)
    h.read("final", "tx", 1, 0, None, b"a2", final=True)
    # Consume-transform-produce from t to "out": t[0]@0 and @1 consumed
    # (committed 2), both outputs visible, in one committed transaction.
    h.transform("ctp", T, "out", "ctp:")
    h.txn("ctp-txn-1", "out", [b"ctp:v0", b"ctp:v1"], "committed")
    h.read("final", "out", 0, 0, b"ctp:v0", b"ctp:v0", final=True)
    h.read("final", "out", 0, 1, b"ctp:v1", b"ctp:v1", final=True)
    h.committed("ctp", T, 0, 2, asked=h.now())
    return h


class CheckerTest(unittest.TestCase):
    def assertCounts(self, h, **expected):
        verdict = check(h)
        want = {name: expected.get(name, 0) for name in COUNTS}
        self.assertEqual(verdict.counts, want, verdict.report())
        self.assertEqual(verdict.ok, not expected)
        self.assertTrue(verdict.summary().startswith("jepsen: OK" if not expected else
                                                     "jepsen: FAIL"), verdict.summary())
        return verdict

    def test_clean(self):
        v = self.assertCounts(clean())
        self.assertEqual(v.info["acknowledged"], 4)
        self.assertEqual(v.info["final_reads"], 8)

    def test_lost_write(self):
        h = clean()
        h.acked(b"v4", T, 1, 2)  # acknowledged, then not in the final read
        v = self.assertCounts(h, lost=1)
        self.assertIn("'v4' acknowledged at t[1]@2", v.report())

    def test_moved_write(self):
        h = clean()
        h.acked(b"v5", T, 1, 2)
        h.read("final", T, 1, 3, b"k5", b"v5", final=True)
        self.assertCounts(h, moved=1)

    def test_acknowledged_without_offset(self):
        # Persisted, offset not told (librdkafka's idempotent recovery):
        # present anywhere is enough; absent is still lost.
        h = clean()
        h.acked(b"v5", T, 1, None)
        h.read("final", T, 1, 3, b"k5", b"v5", final=True)
        self.assertCounts(h)
        h.acked(b"v6", T, 1, None)
        self.assertCounts(h, lost=1)

    def test_duplicate(self):
        h = clean()
        h.read("final", T, 1, 2, b"k2", b"v2", final=True)  # v2 is at t[1]@0 too
        v = self.assertCounts(h, duplicates=1)
        self.assertIn("'v2' at t[1]@0, t[1]@2", v.report())

    def test_divergent_and_truncated_read(self):
        h = clean()
        # A member read t[1]@1 as something else than the final read has
        # there: two contents for one offset, and a read later truncated.
        h.read("member-2", T, 1, 1, b"kx", b"vx")
        self.assertCounts(h, divergent=1, truncated=1)

    def test_read_above_the_end_later_truncated(self):
        h = clean()
        h.read("member-2", T, 1, 2, b"ky", b"vy")  # past what the final read has
        v = self.assertCounts(h, truncated=1)
        self.assertIn("the final read has nothing there", v.report())

    def test_offsets_backwards(self):
        h = clean()
        h.committed("g", T, 0, 1, asked=h.now())  # after 3 was acknowledged
        self.assertCounts(h, offsets_backwards=1)

    def test_partly_visible_transaction(self):
        h = clean()
        h.txn("txn-4", "tx", [b"d1", b"d2", b"d3"], "committed")
        h.read("final", "tx", 0, 1, None, b"d1", final=True)
        self.assertCounts(h, txn_partial=1)

    def test_transform_redone_after_a_failed_transaction(self):
        h = clean()
        # The transform's producer was fenced during ctp-txn-2 (outcome
        # unknown, in fact aborted); ctp-txn-3 read t[1]@0 again and wrote
        # its output: ctp:v2 is ctp-txn-3's, ctp-txn-2 is not partly visible.
        h.txn("ctp-txn-2", "out", [b"ctp:v2", b"ctp:v3"], "unknown")
        h.txn("ctp-txn-3", "out", [b"ctp:v2"], "committed")
        h.read("final", "out", 1, 0, b"ctp:v2", b"ctp:v2", final=True)
        self.assertCounts(h)
        # Had ctp-txn-2 committed in part after all, ctp:v3 would show alone.
        h.read("final", "out", 1, 1, b"ctp:v3", b"ctp:v3", final=True)
        self.assertCounts(h, txn_partial=1)

    def test_aborted_transaction_visible(self):
        h = clean()
        h.read("final", "tx", 0, 2, None, b"b1", final=True)
        self.assertCounts(h, txn_aborted_visible=1)

    def test_committed_transaction_lost(self):
        h = clean()
        h.txn("txn-5", "tx", [b"e1"], "committed")
        self.assertCounts(h, txn_lost=1)

    def test_final_read_short_of_the_end(self):
        h = clean()
        h.acked(b"v4", T, 1, 2)
        h.read("member-1", T, 1, 2, b"k4", b"v4")
        # The final read never reached the end of t[1]: v4 counts as lost
        # (not readable), but the read of t[1]@2 is not judged truncated.
        h.final_unfinished(T, 1)
        self.assertCounts(h, lost=1)

    def test_transform_output_missing(self):
        h = clean()
        # t[1]@0 consumed and its offset committed, its output nowhere.
        h.committed("ctp", T, 1, 1, asked=h.now())
        v = self.assertCounts(h, eos_missing=1)
        self.assertIn("t[1]@0 'v2' consumed by ctp (committed 1), no 'ctp:v2'", v.report())

    def test_transform_output_twice(self):
        h = clean()
        h.read("final", "out", 0, 2, b"ctp:v0", b"ctp:v0", final=True)
        self.assertCounts(h, duplicates=1)

    def test_nothing_acknowledged(self):
        h = History()
        h.unacknowledged(b"v0", "Broker: Not enough in-sync replicas")
        self.assertCounts(h, nothing_acknowledged=1)

    def test_saved_history_judged_again(self):
        h = clean()
        h.acked(b"v4", T, 1, 2)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "run.json")
            with open(path, "w") as f:
                json.dump(h.to_json(), f)
            r = subprocess.run([sys.executable, "-m", "jepsen.history", path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=os.environ, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("jepsen: FAIL lost=1 moved=0", r.stdout.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
