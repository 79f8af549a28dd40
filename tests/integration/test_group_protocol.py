"""The group coordinator's answers, request by request, over raw sockets
against a real kgw: the error codes Kafka gives (MEMBER_ID_REQUIRED,
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS,
FENCED_INSTANCE_ID, INVALID_SESSION_TIMEOUT, OFFSET_METADATA_TOO_LARGE,
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC), session
expiry, static membership, and group state surviving a restart. Client
libraries hide most of these; this test states them exactly."""

import struct
import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc

# Kafka error codes.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86

OFFSET_COMMIT, OFFSET_FETCH, JOIN_GROUP, HEARTBEAT = 8, 9, 11, 12
LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS = 13, 14, 15, 16
CREATE_TOPICS, DELETE_GROUPS, OFFSET_DELETE = 19, 42, 47

TIMEOUT = 60.0
SESSION_MS = 6000


def subscription(*topics):
    """ConsumerProtocolSubscription v0: version, topics, user data."""
    e = Enc().i16(0).array(list(topics), lambda e, t: e.string(t)).bytes_(b"")
    return bytes(e.b)


class Client:
    """Group requests at fixed versions (JoinGroup v5, SyncGroup v3,
    Heartbeat v3, LeaveGroup v3, OffsetCommit v7, OffsetFetch v5,
    DescribeGroups v4, ListGroups v4, DeleteGroups v1, OffsetDelete v0)."""

    def __init__(self, bootstrap, client_id="wire-test"):
        self.c = Conn(bootstrap, client_id=client_id)

    def send_join(self, group, member_id="", instance_id=None, session_ms=SESSION_MS,
                  rebalance_ms=10000, protocols=(("range", subscription("t")),),
                  protocol_type="consumer"):
        body = (Enc().string(group).i32(session_ms).i32(rebalance_ms).string(member_id)
                .string(instance_id).string(protocol_type)
                .array(list(protocols), lambda e, p: e.string(p[0]).bytes_(p[1])))
        self.c.send(JOIN_GROUP, 5, body)

    def recv_join(self):
        d = self.c.recv()
        d.i32()
        r = {"error": d.i16(), "generation": d.i32(), "protocol": d.string(),
             "leader": d.string(), "member_id": d.string()}
        r["members"] = d.array(lambda d: (d.string(), d.string(), d.bytes_()))
        return r

    def join(self, group, **kw):
        self.send_join(group, **kw)
        return self.recv_join()

    def join_new(self, group, **kw):
        """The v4+ handshake: MEMBER_ID_REQUIRED, then join with the id."""
        r = self.join(group, **kw)
        assert r["error"] == MEMBER_ID_REQUIRED, r
        return self.join(group, member_id=r["member_id"], **kw)

    def send_sync(self, group, generation, member_id, assignments=(), instance_id=None):
        body = (Enc().string(group).i32(generation).string(member_id).string(instance_id)
                .array(list(assignments), lambda e, a: e.string(a[0]).bytes_(a[1])))
        self.c.send(SYNC_GROUP, 3, body)

    def recv_sync(self):
        d = self.c.recv()
        d.i32()
        return d.i16(), d.bytes_()

    def sync(self, *args, **kw):
        self.send_sync(*args, **kw)
        return self.recv_sync()

    def heartbeat(self, group, generation, member_id, instance_id=None):
        d = self.c.call(HEARTBEAT, 3, Enc().string(group).i32(generation).string(member_id)
                        .string(instance_id))
        d.i32()
        return d.i16()

    def leave(self, group, members):
        d = self.c.call(LEAVE_GROUP, 3, Enc().string(group).array(
            members, lambda e, m: e.string(m[0]).string(m[1])))
        d.i32()
        top = d.i16()
        return top, d.array(lambda d: (d.string(), d.string(), d.i16()))

    def commit(self, group, generation, member_id, offsets, instance_id=None, metadata=""):
        """offsets: {(topic, partition): offset} -> {(topic, partition): error}"""
        topics = {}
        for (t, p), o in offsets.items():
            topics.setdefault(t, []).append((p, o))
        body = (Enc().string(group).i32(generation).string(member_id).string(instance_id)
                .array(list(topics.items()), lambda e, t: e.string(t[0]).array(
                    t[1], lambda e, po: e.i32(po[0]).i64(po[1]).i32(-1).string(metadata))))
        d = self.c.call(OFFSET_COMMIT, 7, body)
        d.i32()
        out = {}
        for name, parts in d.array(lambda d: (d.string(), d.array(lambda d: (d.i32(), d.i16())))):
            for p, err in parts:
                out[(name, p)] = err
        return out

    def fetch_offsets(self, group, partitions=None):
        """partitions: {topic: [p...]} or None (all) -> ({(t, p): offset}, error)"""
        topics = None if partitions is None else list(partitions.items())
        body = Enc().string(group).array(topics, lambda e, t: e.string(t[0]).array(
            t[1], lambda e, p: e.i32(p)))
        d = self.c.call(OFFSET_FETCH, 5, body)
        d.i32()
        out = {}
        for name, parts in d.array(lambda d: (d.string(), d.array(
                lambda d: (d.i32(), d.i64(), d.i32(), d.string(), d.i16())))):
            for p, offset, _epoch, _meta, err in parts:
                assert err == NONE, err
                out[(name, p)] = offset
        return out, d.i16()

    def describe(self, group):
        d = self.c.call(DESCRIBE_GROUPS, 4, Enc().array([group], lambda e, g: e.string(g))
                        .boolean(False))
        d.i32()
        groups = d.array(lambda d: {
            "error": d.i16(), "group": d.string(), "state": d.string(),
            "protocol_type": d.string(), "protocol": d.string(),
            "members": d.array(lambda d: {"member_id": d.string(), "instance_id": d.string(),
                                         "client_id": d.string(), "client_host": d.string(),
                                         "metadata": d.bytes_(), "assignment": d.bytes_()}),
            "ops": d.i32()})
        return groups[0]

    def list_groups(self, states=()):
        body = Enc(flexible=True).array(list(states), lambda e, s: e.string(s)).tags()
        d = self.c.call(LIST_GROUPS, 4, body, flexible=True)
        d.i32()
        err = d.i16()
        assert err == NONE, err

        def group(d):
            g = (d.string(), d.string(), d.string())
            d.tags()
            return g
        return d.array(group)

    def delete_groups(self, groups):
        d = self.c.call(DELETE_GROUPS, 1, Enc().array(groups, lambda e, g: e.string(g)))
        d.i32()
        return dict(d.array(lambda d: (d.string(), d.i16())))

    def delete_offsets(self, group, partitions):
        """partitions: {topic: [p...]} -> (group error, {(t, p): error})"""
        body = Enc().string(group).array(list(partitions.items()), lambda e, t: e.string(t[0])
                                         .array(t[1], lambda e, p: e.i32(p)))
        d = self.c.call(OFFSET_DELETE, 0, body)
        err = d.i16()
        d.i32()
        out = {}
        for name, parts in d.array(lambda d: (d.string(), d.array(lambda d: (d.i32(), d.i16())))):
            for p, e in parts:
                out[(name, p)] = e
        return err, out

    def create_topic(self, name, partitions):
        body = (Enc().array([name], lambda e, n: e.string(n).i32(partitions).i16(1)
                            .array([], None).array([], None)).i32(30000).boolean(False))
        d = self.c.call(CREATE_TOPICS, 4, body)
        d.i32()
        (tname, err, _msg), = d.array(lambda d: (d.string(), d.i16(), d.string()))
        assert err == NONE, (tname, err)

    def close(self):
        self.c.close()


class GroupProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Short timeouts so that expiry is quick; no initial delay.
        cls.kgw = kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0",
                                  "--set", "group.min.session.timeout.ms=1000")
        cls.kgw.start()
        admin = Client(cls.kgw.bootstrap)
        admin.create_topic("t", 2)
        admin.create_topic("u", 2)
        admin.close()

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def client(self, name="wire-test"):
        c = Client(self.kgw.bootstrap, client_id=name)
        self.addCleanup(c.close)
        return c

    def stable_member(self, c, group, **kw):
        r = c.join_new(group, **kw)
        self.assertEqual(r["error"], NONE, r)
        self.assertEqual(r["leader"], r["member_id"])
        err, assignment = c.sync(group, r["generation"], r["member_id"],
                                 [(r["member_id"], b"A1")], instance_id=kw.get("instance_id"))
        self.assertEqual((err, assignment), (NONE, b"A1"))
        return r

    def test_join_handshake_and_first_generation(self):
        c = self.client("client-one")
        first = c.join("g-join")
        self.assertEqual(first["error"], MEMBER_ID_REQUIRED)
        self.assertTrue(first["member_id"].startswith("client-one-"), first["member_id"])
        r = c.join("g-join", member_id=first["member_id"])
        self.assertEqual(r["error"], NONE)
        self.assertEqual(r["generation"], 1)
        self.assertEqual(r["protocol"], "range")
        self.assertEqual(r["member_id"], first["member_id"])
        self.assertEqual(r["members"], [(r["member_id"], None, subscription("t"))])
        self.assertEqual(c.sync("g-join", 1, r["member_id"], [(r["member_id"], b"x")]),
                         (NONE, b"x"))
        self.assertEqual(c.heartbeat("g-join", 1, r["member_id"]), NONE)
        self.assertEqual(c.heartbeat("g-join", 0, r["member_id"]), ILLEGAL_GENERATION)
        self.assertEqual(c.heartbeat("g-join", 1, "nobody"), UNKNOWN_MEMBER_ID)
        self.assertEqual(c.heartbeat("no-such-group", 1, "nobody"), UNKNOWN_MEMBER_ID)
        d = c.describe("g-join")
        self.assertEqual((d["state"], d["protocol_type"], d["protocol"]),
                         ("Stable", "consumer", "range"))
        m, = d["members"]
        self.assertEqual((m["client_id"], m["client_host"], m["assignment"]),
                         ("client-one", "/127.0.0.1", b"x"))
        self.assertEqual(c.describe("no-such-group")["state"], "Dead")
        self.assertIn(("g-join", "consumer", "Stable"), c.list_groups())
        self.assertIn(("g-join", "consumer", "Stable"), c.list_groups(["stable"]))
        self.assertNotIn(("g-join", "consumer", "Stable"), c.list_groups(["Empty"]))

    def test_bad_joins(self):
        c = self.client()
        self.assertEqual(c.join("g-bad", session_ms=10)["error"], INVALID_SESSION_TIMEOUT)
        self.assertEqual(c.join("g-bad", session_ms=10**9)["error"], INVALID_SESSION_TIMEOUT)
        self.assertEqual(c.join("g-bad", member_id="made-up")["error"], UNKNOWN_MEMBER_ID)
        self.assertEqual(c.join("g-bad", protocols=())["error"], INCONSISTENT_GROUP_PROTOCOL)
        r = self.stable_member(c, "g-bad")
        other = self.client()
        # Another protocol type, or no protocol in common with the group.
        self.assertEqual(other.join("g-bad", protocol_type="connect")["error"],
                         INCONSISTENT_GROUP_PROTOCOL)
        self.assertEqual(other.join("g-bad", protocols=(("roundrobin", b""),))["error"],
                         INCONSISTENT_GROUP_PROTOCOL)
        self.assertEqual(c.heartbeat("g-bad", r["generation"], r["member_id"]), NONE)

    def test_offset_commit_rules(self):
        c = self.client()
        r = self.stable_member(c, "g-commit")
        gen, me = r["generation"], r["member_id"]
        self.assertEqual(c.commit("g-commit", gen, me, {("t", 0): 5, ("t", 1): 7}),
                         {("t", 0): NONE, ("t", 1): NONE})
        self.assertEqual(c.commit("g-commit", gen - 1, me, {("t", 0): 6}),
                         {("t", 0): ILLEGAL_GENERATION})
        self.assertEqual(c.commit("g-commit", gen, "nobody", {("t", 0): 6}),
                         {("t", 0): UNKNOWN_MEMBER_ID})
        # A "simple" commit (generation -1, no member) while members exist.
        self.assertEqual(c.commit("g-commit", -1, "", {("t", 0): 6}),
                         {("t", 0): UNKNOWN_MEMBER_ID})
        self.assertEqual(c.commit("g-commit", gen, me, {("t", 0): 6, ("nope", 0): 1, ("t", 9): 1}),
                         {("t", 0): NONE, ("nope", 0): UNKNOWN_TOPIC_OR_PARTITION,
                          ("t", 9): UNKNOWN_TOPIC_OR_PARTITION})
        self.assertEqual(c.commit("g-commit", gen, me, {("t", 1): 8}, metadata="m" * 5000),
                         {("t", 1): OFFSET_METADATA_TOO_LARGE})
        offsets, err = c.fetch_offsets("g-commit", {"t": [0, 1], "u": [0]})
        self.assertEqual(err, NONE)
        self.assertEqual(offsets, {("t", 0): 6, ("t", 1): 7, ("u", 0): -1})
        self.assertEqual(c.fetch_offsets("g-commit")[0], {("t", 0): 6, ("t", 1): 7})

        # Simple commits to a group nobody joined, and to a generation that
        # does not exist.
        self.assertEqual(c.commit("g-simple", -1, "", {("u", 1): 42}), {("u", 1): NONE})
        self.assertEqual(c.fetch_offsets("g-simple", {"u": [1]})[0], {("u", 1): 42})
        self.assertEqual(c.commit("g-never", 3, "someone", {("u", 1): 1}),
                         {("u", 1): ILLEGAL_GENERATION})
        self.assertIn(("g-simple", "", "Empty"), c.list_groups())

    def test_rebalance_answers(self):
        a = self.client("a")
        ra = self.stable_member(a, "g-rebal")
        b = self.client("b")
        first = b.join("g-rebal")
        self.assertEqual(first["error"], MEMBER_ID_REQUIRED)
        b.send_join("g-rebal", member_id=first["member_id"])  # waits for the rebalance
        kgw_harness.wait_until(lambda: a.describe("g-rebal")["state"] == "PreparingRebalance",
                               TIMEOUT, what="PreparingRebalance")
        self.assertEqual(a.heartbeat("g-rebal", ra["generation"], ra["member_id"]),
                         REBALANCE_IN_PROGRESS)
        # Commits of the old generation are still taken while preparing.
        self.assertEqual(a.commit("g-rebal", ra["generation"], ra["member_id"], {("t", 0): 1}),
                         {("t", 0): NONE})
        ra2 = a.join("g-rebal", member_id=ra["member_id"])
        rb = b.recv_join()
        self.assertEqual((ra2["error"], rb["error"]), (NONE, NONE))
        self.assertEqual(ra2["generation"], ra["generation"] + 1)
        self.assertEqual(rb["generation"], ra2["generation"])
        self.assertEqual(ra2["leader"], ra["member_id"])
        self.assertEqual(len(ra2["members"]), 2)  # the leader learns every member
        self.assertEqual(rb["members"], [])
        gen = ra2["generation"]
        # Joined but not synced: commits must wait for the assignment.
        self.assertEqual(a.commit("g-rebal", gen, ra["member_id"], {("t", 0): 2}),
                         {("t", 0): REBALANCE_IN_PROGRESS})
        # The follower's SyncGroup waits for the leader's.
        b.send_sync("g-rebal", gen, rb["member_id"])
        self.assertEqual(a.sync("g-rebal", gen, ra["member_id"],
                                [(ra["member_id"], b"PA"), (rb["member_id"], b"PB")]),
                         (NONE, b"PA"))
        self.assertEqual(b.recv_sync(), (NONE, b"PB"))
        self.assertEqual(a.commit("g-rebal", gen, ra["member_id"], {("t", 0): 3}),
                         {("t", 0): NONE})
        # b leaves: a must rejoin; a member not in the group gets its error.
        top, members = b.leave("g-rebal", [(rb["member_id"], None), ("ghost", None)])
        self.assertEqual(top, NONE)
        self.assertEqual(members, [(rb["member_id"], None, NONE), ("ghost", None, UNKNOWN_MEMBER_ID)])
        self.assertEqual(a.heartbeat("g-rebal", gen, ra["member_id"]), REBALANCE_IN_PROGRESS)

    def test_session_timeout_removes_member(self):
        c = self.client()
        r = self.stable_member(c, "g-expire", session_ms=1000)
        c.commit("g-expire", r["generation"], r["member_id"], {("t", 0): 11})
        kgw_harness.wait_until(lambda: c.describe("g-expire")["state"] == "Empty", TIMEOUT,
                               what="the silent member to expire")
        self.assertEqual(c.heartbeat("g-expire", r["generation"], r["member_id"]),
                         UNKNOWN_MEMBER_ID)
        # Its offsets stay with the (now empty) group.
        self.assertEqual(c.fetch_offsets("g-expire", {"t": [0]})[0], {("t", 0): 11})

    def test_static_member_replaced_without_rebalance(self):
        c = self.client("static-1")
        r = c.join("g-static", instance_id="i1")
        # Static members get their id at once (no MEMBER_ID_REQUIRED).
        self.assertEqual(r["error"], NONE)
        self.assertTrue(r["member_id"].startswith("i1-"), r["member_id"])
        self.assertEqual(r["members"], [(r["member_id"], "i1", subscription("t"))])
        self.assertEqual(c.sync("g-static", r["generation"], r["member_id"],
                                [(r["member_id"], b"S")], instance_id="i1"), (NONE, b"S"))
        # The same instance comes back with a new process (no member id).
        c2 = self.client("static-1-again")
        r2 = c2.join("g-static", instance_id="i1")
        self.assertEqual(r2["error"], NONE)
        self.assertNotEqual(r2["member_id"], r["member_id"])
        self.assertEqual(r2["generation"], r["generation"])  # no rebalance
        self.assertEqual(c2.sync("g-static", r2["generation"], r2["member_id"],
                                 instance_id="i1"), (NONE, b"S"))
        self.assertEqual(c2.heartbeat("g-static", r2["generation"], r2["member_id"], "i1"), NONE)
        # The old process is a zombie now.
        self.assertEqual(c.heartbeat("g-static", r["generation"], r["member_id"], "i1"),
                         FENCED_INSTANCE_ID)
        self.assertEqual(c.commit("g-static", r["generation"], r["member_id"], {("t", 0): 1},
                                  instance_id="i1"), {("t", 0): FENCED_INSTANCE_ID})
        self.assertEqual(c.describe("g-static")["state"], "Stable")
        # An admin removes the static member by instance id alone.
        top, members = c.leave("g-static", [("", "i1")])
        self.assertEqual((top, members), (NONE, [("", "i1", NONE)]))

    def test_delete_groups_and_offsets(self):
        c = self.client()
        r = self.stable_member(c, "g-del", protocols=(("range", subscription("t")),))
        gen, me = r["generation"], r["member_id"]
        self.assertEqual(c.commit("g-del", gen, me, {("t", 0): 1, ("u", 0): 2}),
                         {("t", 0): NONE, ("u", 0): NONE})
        self.assertEqual(c.delete_groups(["g-del", "g-nothing"]),
                         {"g-del": NON_EMPTY_GROUP, "g-nothing": GROUP_ID_NOT_FOUND})
        # Offsets of a topic the members subscribe to stay; others may go.
        err, parts = c.delete_offsets("g-del", {"t": [0], "u": [0], "nope": [0]})
        self.assertEqual(err, NONE)
        self.assertEqual(parts, {("t", 0): GROUP_SUBSCRIBED_TO_TOPIC, ("u", 0): NONE,
                                 ("nope", 0): UNKNOWN_TOPIC_OR_PARTITION})
        self.assertEqual(c.fetch_offsets("g-del")[0], {("t", 0): 1})
        self.assertEqual(c.delete_offsets("g-nothing", {"t": [0]})[0], GROUP_ID_NOT_FOUND)
        c.leave("g-del", [(me, None)])
        self.assertEqual(c.describe("g-del")["state"], "Empty")
        self.assertEqual(c.delete_groups(["g-del"]), {"g-del": NONE})
        self.assertEqual(c.fetch_offsets("g-del", {"t": [0]})[0], {("t", 0): -1})
        self.assertEqual(c.describe("g-del")["state"], "Dead")


class GroupRestartTest(unittest.TestCase):
    def test_group_survives_restart(self):
        with kgw_harness.Kgw("--set", "group.initial.rebalance.delay.ms=0") as kgw:
            c = Client(kgw.bootstrap)
            c.create_topic("t", 1)
            r = c.join_new("g-restart", instance_id=None)
            self.assertEqual(c.sync("g-restart", r["generation"], r["member_id"],
                                    [(r["member_id"], b"kept")]), (NONE, b"kept"))
            self.assertEqual(c.commit("g-restart", r["generation"], r["member_id"],
                                      {("t", 0): 99}), {("t", 0): NONE})
            c.close()
            kgw.restart(kill=True)
            c = Client(kgw.bootstrap)
            try:
                # Same generation and member: it carries on without rejoining.
                self.assertEqual(c.heartbeat("g-restart", r["generation"], r["member_id"]), NONE)
                self.assertEqual(c.sync("g-restart", r["generation"], r["member_id"]),
                                 (NONE, b"kept"))
                self.assertEqual(c.fetch_offsets("g-restart", {"t": [0]})[0], {("t", 0): 99})
                self.assertEqual(c.describe("g-restart")["state"], "Stable")
            finally:
                c.close()


if __name__ == "__main__":
    kgw_harness.main()
