#!/usr/bin/env python3
"""Cluster metadata figures (issue 15, docs/BENCHMARKS.md "Cluster metadata"):

    tools/bench/cluster_bench.py [--build build] [--n 200] [--clients 8]
                                 [--rounds 3] [--partitions 10000] [--write-doc]

Starts a 3-node kgw cluster with co-located etcd members
(tests/integration/kgw_cluster.py, which runs tools/dev/run-cluster.sh) and
measures, with raw Kafka requests (tests/integration/kafka_wire.py):

1. metadata changes committed per second: N CreateTopics (1 partition, RF 1)
   and N IncrementalAlterConfigs (retention.ms of those topics), one client
   at a time and K clients at once, through the controller and through a
   broker that is not the controller. The reference, measured in the same
   run against the same etcd (the controller's member): kgw-etcd-bench's
   sequential compare-and-swap txns (one at a time, as the controller
   writes) and puts with K in flight. A CreateTopics answered with error 0
   is a committed change: kgw answers after the controller's txn is applied.
2. controller failover: kill -9 the controller's kgw (its etcd member dies
   with it: the two others keep the quorum); time until every surviving
   broker's Metadata names a surviving controller, and until a CreateTopics
   sent through a survivor right after the kill is answered with success
   (the new controller's first decision). Several rounds, at
   broker.session.timeout.ms 9000 (Kafka's default, heartbeat 2000) and
   3000 (heartbeat 1000).
3. broker fencing: kill -9 a broker that is not the controller and leads
   partitions; time until no surviving broker's Metadata names it as a
   leader.
4. CreateTopics of 10,000 partitions (one topic of 10,000, then 100 topics of
   100 in one request): time to the answer, and until every broker's
   Metadata shows all partitions with a leader; leaders per broker.

Prints a table; --write-doc replaces the generated part of
docs/BENCHMARKS.md's "Cluster metadata (issue 15)" section. Stdlib only.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import kafka_wire  # noqa: E402
import kgw_cluster  # noqa: E402
from kafka_wire import Enc  # noqa: E402

DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN = "<!-- cluster_bench.py: begin (generated, do not edit by hand) -->"
END = "<!-- cluster_bench.py: end -->"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# -- raw Kafka requests ------------------------------------------------------


class Client:
    """One connection to one broker."""

    def __init__(self, port, timeout=120.0):
        self.port = port
        self.conn = kafka_wire.Conn(f"127.0.0.1:{port}", client_id="kgw-cluster-bench",
                                    timeout=timeout)

    def close(self):
        self.conn.close()

    def metadata(self, topics=None):
        """Metadata v1: (controller id, [broker ids], {topic: {partition: leader}})."""
        e = Enc().array(topics, lambda enc, t: enc.string(t))
        d = self.conn.call(3, 1, e)
        brokers = d.array(lambda d: (d.i32(), d.string(), d.i32(), d.string()))
        controller = d.i32()

        def partition(d):
            d.i16()
            index = d.i32()
            leader = d.i32()
            d.array(lambda d: d.i32())
            d.array(lambda d: d.i32())
            return index, leader

        def topic(d):
            err = d.i16()
            name = d.string()
            d.boolean()
            parts = d.array(partition)
            return name, err, dict(parts)

        out = {}
        for name, err, parts in d.array(topic):
            if err == 0:
                out[name] = parts
        return controller, [b[0] for b in brokers], out

    def create_topics(self, topics, timeout_ms=120000):
        """CreateTopics v4, topics [(name, partitions)], RF 1 -> {name: (error, message)}."""

        def one(enc, t):
            enc.string(t[0]).i32(t[1]).i16(1)
            enc.array([], lambda e, x: None)  # assignments
            enc.array([], lambda e, x: None)  # configs

        e = Enc().array(topics, one).i32(timeout_ms).boolean(False)
        d = self.conn.call(19, 4, e)
        d.i32()  # throttle
        return {name: (err, msg) for name, err, msg in
                d.array(lambda d: (d.string(), d.i16(), d.string()))}

    def alter_topic_config(self, topic, name, value):
        """IncrementalAlterConfigs v0, one SET on one topic -> error code."""
        e = Enc().array([0], lambda enc, _: (
            enc.i8(2).string(topic).array([0], lambda enc2, _: enc2.string(name).i8(0).string(value))))
        e.boolean(False)
        d = self.conn.call(44, 0, e)
        d.i32()
        res = d.array(lambda d: (d.i16(), d.string(), d.i8(), d.string()))
        return res[0][0]


def try_metadata(port, topics=None, timeout=5.0):
    try:
        c = Client(port, timeout=timeout)
        try:
            return c.metadata(topics)
        finally:
            c.close()
    except (OSError, ValueError, ConnectionError):
        return None


# -- the cluster ---------------------------------------------------------------


class Bench:
    def __init__(self, args, session_ms, heartbeat_ms):
        self.args = args
        self.session_ms = session_ms
        self.cluster = kgw_cluster.KgwCluster(
            3, sets=[f"broker.session.timeout.ms={session_ms}",
                     f"broker.heartbeat.interval.ms={heartbeat_ms}"])
        self.alive = {1, 2, 3}
        self.refs = []  # (seq, pipelined) etcd reference before and after each repetition

    def etcd_leader(self):
        """The node whose etcd member is the Raft leader (None if unknown)."""
        try:
            out = self.cluster.etcdctl("endpoint", "status", "-w", "json",
                                       endpoints=",".join(f"127.0.0.1:{self.cluster.client_port(n)}"
                                                          for n in sorted(self.alive)))
            for st in json.loads(out):
                if st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                    port = int(st["Endpoint"].rsplit(":", 1)[1])
                    return (port - self.cluster.base_port - self.cluster.n) // 2 + 1
        except Exception as e:  # noqa: BLE001 - a figure without the leader is still a figure
            log(f"  etcd leader unknown: {e!r}")
        return None

    def start(self):
        t0 = time.monotonic()
        self.cluster.start()
        log(f"cluster up in {time.monotonic() - t0:.1f} s (session {self.session_ms} ms), "
            f"dir {self.cluster.dir}")

    def close(self):
        self.cluster.close()

    def controller(self):
        """The controller every live broker names (waits until they agree)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = set()
            for n in self.alive:
                md = try_metadata(self.cluster.port(n))
                seen.add(md[0] if md else None)
            if len(seen) == 1 and None not in seen and seen.pop() in self.alive:
                md = try_metadata(self.cluster.port(min(self.alive)))
                return md[0]
            time.sleep(0.1)
        raise RuntimeError("the brokers do not agree on a controller")

    def wait_all_registered(self):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            ok = True
            for n in self.alive:
                md = try_metadata(self.cluster.port(n))
                if not md or sorted(md[1]) != sorted(self.alive):
                    ok = False
            if ok:
                return
            time.sleep(0.2)
        raise RuntimeError("brokers do not all list each other")

    # -- 1. throughput -------------------------------------------------------

    def etcd_reference(self, node, n, k):
        """kgw-etcd-bench against node's etcd member: (seq txn/s, put/s with k in flight)."""
        exe = os.path.join(self.args.build, "tools", "bench", "kgw-etcd-bench")
        out = subprocess.run(
            [exe, "--endpoint", f"127.0.0.1:{self.cluster.client_port(node)}",
             "--txns", str(n), "--puts", str(max(n, 20 * k)), "--inflight", str(k)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True, timeout=600).stdout.decode()
        rates = {}
        for line in out.splitlines():
            m = re.match(r"(.*?)\s+\d+ ops in\s+[\d.]+ s =\s+(\d+) ops/s", line)
            if m:
                rates[m.group(1).strip()] = float(m.group(2))
        return rates["sequential txn (CAS put)"], rates[f"pipelined put ({k} in flight)"]

    def changes(self, port, kind, names, clients):
        """Runs len(names) changes of `kind` through port with `clients`
        connections at once; returns changes/s (every answer must be 0)."""
        chunks = [names[i::clients] for i in range(clients)]
        errors = []
        value = str(3600000 + int(time.time()) % 100000)

        def work(chunk):
            c = Client(port)
            try:
                for t in chunk:
                    if kind == "create":
                        err = c.create_topics([(t, 1)])[t][0]
                    else:
                        err = c.alter_topic_config(t, "retention.ms", value)
                    if err:
                        errors.append((t, err))
            finally:
                c.close()

        threads = [threading.Thread(target=work, args=(ch,)) for ch in chunks]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        took = time.monotonic() - t0
        if errors:
            raise RuntimeError(f"{len(errors)} {kind} failed, first {errors[0]}")
        return len(names) / took

    def throughput(self):
        a = self.args
        rows = []  # (what, [kgw/s per rep], [ref/s per rep])
        results = {}
        for rep in range(a.reps):
            ctl = self.controller()
            other = min(n for n in self.alive if n != ctl)
            seq_ref, pipe_ref = self.etcd_reference(ctl, a.n, a.clients)
            log(f"rep {rep + 1}: etcd txn seq {seq_ref:.0f}/s, put {a.clients} in flight {pipe_ref:.0f}/s")
            rep_results = []
            for where, node in (("controller", ctl), ("non-controller", other)):
                for clients in (1, a.clients):
                    names = [f"b{rep}-{where[:3]}-{clients}-{i}-{uuid.uuid4().hex[:6]}"
                             for i in range(a.n)]
                    for kind in ("create", "alter"):
                        rate = self.changes(self.cluster.port(node), kind, names, clients)
                        rep_results.append(((kind, where, clients), rate))
                        log(f"  {kind:6} via {where:14} {clients} client(s): {rate:7.1f}/s")
            # The reference again after the kgw cases: load from other work
            # changes within minutes; the ratio uses the mean of both.
            seq2, pipe2 = self.etcd_reference(ctl, a.n, a.clients)
            log(f"rep {rep + 1} after: etcd txn seq {seq2:.0f}/s, put {a.clients} in flight {pipe2:.0f}/s")
            self.refs.append((seq_ref, pipe_ref, seq2, pipe2))
            for key, rate in rep_results:
                ref = (seq_ref + seq2) / 2 if key[2] == 1 else (pipe_ref + pipe2) / 2
                results.setdefault(key, []).append((rate, ref))
        for (kind, where, clients), vals in results.items():
            rows.append((kind, where, clients, vals))
        return rows

    # -- 2. failover ---------------------------------------------------------

    def failover_round(self, rnd):
        ctl = self.controller()
        survivors = sorted(self.alive - {ctl})
        via = survivors[0]
        name = f"failover-{self.session_ms}-{rnd}-{uuid.uuid4().hex[:6]}"
        created = {}

        def create():
            # Sent right after the kill; retried only on connection errors
            # or retriable answers (the request waits in etcd for a controller).
            while True:
                try:
                    c = Client(self.cluster.port(via), timeout=120)
                    r = c.create_topics([(name, 1)], timeout_ms=60000)
                    c.close()
                    err = r[name][0]
                    if err == 0:
                        created["t"] = time.monotonic()
                        return
                    created.setdefault("errors", []).append(err)
                    if err == 36:  # TOPIC_ALREADY_EXISTS: a retry after a success
                        created["t"] = time.monotonic()
                        return
                except (OSError, ValueError, ConnectionError) as e:
                    created.setdefault("errors", []).append(repr(e))
                time.sleep(0.05)

        leader = self.etcd_leader()
        pid = self.cluster.kgw_pid(ctl)
        th = threading.Thread(target=create)
        t0 = time.monotonic()
        os.kill(pid, 9)
        self.alive.discard(ctl)
        th.start()
        named = {}
        deadline = t0 + self.session_ms / 1000 + 60
        while len(named) < len(survivors) and time.monotonic() < deadline:
            for n in survivors:
                if n in named:
                    continue
                md = try_metadata(self.cluster.port(n), topics=[])
                if md and md[0] in survivors:
                    named[n] = time.monotonic()
            time.sleep(0.02)
        th.join(timeout=max(1, deadline - time.monotonic()))
        first_named = min(named.values()) - t0 if named else None
        all_named = max(named.values()) - t0 if len(named) == len(survivors) else None
        decision = created["t"] - t0 if "t" in created else None
        log(f"  failover round {rnd}: controller {ctl} killed (etcd leader: node {leader}); a survivor names the new one after "
            f"{first_named}, all after {all_named}; CreateTopics through {via} after {decision} "
            f"(errors before: {created.get('errors', [])[:3]})")
        self.cluster.start_node(ctl)
        self.alive.add(ctl)
        self.wait_all_registered()
        return first_named, all_named, decision, leader == ctl

    # -- 3. fencing ----------------------------------------------------------

    def fencing_round(self, rnd, topic):
        ctl = self.controller()
        md = try_metadata(self.cluster.port(ctl), topics=[topic])
        leads = {}
        for leader in md[2][topic].values():
            leads[leader] = leads.get(leader, 0) + 1
        victims = [n for n in sorted(self.alive) if n != ctl and leads.get(n)]
        if not victims:
            log(f"  fencing round {rnd}: no non-controller broker leads {topic}: {leads}")
            return None, None, False
        victim = victims[rnd % len(victims)]
        survivors = sorted(self.alive - {victim})
        leader = self.etcd_leader()
        pid = self.cluster.kgw_pid(victim)
        t0 = time.monotonic()
        os.kill(pid, 9)
        self.alive.discard(victim)
        done = {}
        unlisted = {}
        deadline = t0 + self.session_ms / 1000 + 60
        while len(done) < len(survivors) and time.monotonic() < deadline:
            for n in survivors:
                if n in done:
                    continue
                md = try_metadata(self.cluster.port(n), topics=[topic])
                if not md or topic not in md[2]:
                    continue
                if victim not in md[1]:
                    unlisted.setdefault(n, time.monotonic())
                if victim not in md[2][topic].values():
                    done[n] = time.monotonic()
            time.sleep(0.02)
        fenced = max(done.values()) - t0 if len(done) == len(survivors) else None
        gone = max(unlisted.values()) - t0 if len(unlisted) == len(survivors) else None
        log(f"  fencing round {rnd}: broker {victim} (led {leads[victim]}, etcd leader: node {leader}) killed; no longer a "
            f"leader on every survivor after {fenced}, unlisted after {gone}")
        self.cluster.start_node(victim)
        self.alive.add(victim)
        self.wait_all_registered()
        return fenced, gone, leader == victim

    # -- 4. many partitions --------------------------------------------------

    def wait_leaders(self, topics, total, t0, timeout):
        """Seconds from t0 until every broker's Metadata shows `total`
        partitions of `topics` all with a leader; and leaders per broker."""
        done = {}
        spread = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(self.alive) and time.monotonic() < deadline:
            for n in sorted(self.alive):
                if n in done:
                    continue
                md = try_metadata(self.cluster.port(n), topics=topics, timeout=60)
                if not md:
                    continue
                leaders = [ldr for t in topics for ldr in md[2].get(t, {}).values()]
                if len(leaders) == total and all(ldr >= 0 for ldr in leaders):
                    done[n] = time.monotonic()
                    spread = {}
                    for ldr in leaders:
                        spread[ldr] = spread.get(ldr, 0) + 1
            time.sleep(0.1)
        if len(done) < len(self.alive):
            return None, spread
        return max(done.values()) - t0, spread

    def many_partitions(self, rnd):
        a = self.args
        out = []
        ctl = self.controller()
        other = min(n for n in self.alive if n != ctl)
        cases = [("1 topic x %d" % a.partitions, [(f"big-{rnd}-{uuid.uuid4().hex[:6]}", a.partitions)])]
        per = max(1, a.partitions // 100)
        tag = uuid.uuid4().hex[:6]
        cases.append((f"100 topics x {per}", [(f"many-{rnd}-{tag}-{i}", per) for i in range(100)]))
        for what, topics in cases:
            c = Client(self.cluster.port(other), timeout=900)
            t0 = time.monotonic()
            res = c.create_topics(topics, timeout_ms=600000)
            answered = time.monotonic() - t0
            c.close()
            errs = {e for e, _ in res.values() if e}
            if errs:
                msgs = {m for e, m in res.values() if e}
                log(f"  {what}: errors {errs} {list(msgs)[:2]} after {answered:.1f} s")
            names = [t for t, _ in topics]
            total = sum(p for _, p in topics)
            visible, spread = self.wait_leaders(names, total, t0, 900)
            log(f"  {what} via broker {other}: answered {answered:.2f} s, every broker shows all "
                f"with leaders {visible}, leaders {dict(sorted(spread.items()))}")
            out.append((what, answered, visible, spread, sorted(errs)))
        return out


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def spread_of(vals, digits=2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    med = statistics.median(vals)
    return f"{med:.{digits}f} ({min(vals):.{digits}f}–{max(vals):.{digits}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--n", type=int, default=200, help="changes per throughput case")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (K)")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of the throughput cases")
    ap.add_argument("--rounds", type=int, default=3, help="failover and fencing rounds per timeout")
    ap.add_argument("--partitions", type=int, default=10000)
    ap.add_argument("--big-rounds", type=int, default=2, help="repetitions of the 10,000 partition cases")
    ap.add_argument("--sessions", default="9000:2000,3000:1000",
                    help="broker.session.timeout.ms:heartbeat pairs for failover and fencing")
    ap.add_argument("--skip", default="", help="comma list of throughput,failover,fencing,big")
    ap.add_argument("--write-doc", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("KGW", os.path.join(a.build, "kgw"))
    skip = set(filter(None, a.skip.split(",")))
    load_before = loadavg()
    t_start = time.monotonic()
    thr, fo, fe, big, thr_refs = [], {}, {}, [], []
    for i, pair in enumerate(a.sessions.split(",")):
        session_ms, hb_ms = (int(x) for x in pair.split(":"))
        b = Bench(a, session_ms, hb_ms)
        try:
            b.start()
            if i == 0 and "throughput" not in skip:
                thr = b.throughput()
                thr_refs = b.refs
            if "failover" not in skip:
                fo[session_ms] = [b.failover_round(r) for r in range(a.rounds)]
            if "fencing" not in skip:
                topic = f"fence-{uuid.uuid4().hex[:6]}"
                c = Client(b.cluster.port(b.controller()))
                c.create_topics([(topic, 12)])
                c.close()
                b.wait_leaders([topic], 12, time.monotonic(), 60)
                fe[session_ms] = [b.fencing_round(r, topic) for r in range(a.rounds)]
            if i == 0 and "big" not in skip:
                for r in range(a.big_rounds):
                    big += b.many_partitions(r)
        finally:
            b.close()
    load_after = loadavg()
    minutes = (time.monotonic() - t_start) / 60

    lines = []
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE).stdout.strip()
        commit += "+uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    lines.append(f"{time.strftime('%Y-%m-%d')}, commit {commit}, {os.cpu_count()} cores, "
                 f"Linux {platform.release()}; load average {load_before} before, {load_after} "
                 f"after; {minutes:.1f} min. Three kgw nodes with co-located etcd members "
                 f"(run-cluster.sh), clients on the same machine. Median (min–max) over the "
                 f"repetitions.")
    lines.append("")
    if thr:
        lines.append(f"Metadata changes committed per second, {a.n} changes per case, "
                     f"{a.reps} repetitions. Reference (same run, the controller's etcd member): "
                     f"kgw-etcd-bench sequential compare-and-swap txns for 1 client, puts with "
                     f"{a.clients} in flight for {a.clients} clients, run before and after the kgw cases "
                     f"of each repetition (ratio against their mean); measured: "
                     + "; ".join(f"{x[0]:.0f}/{x[2]:.0f} txn/s, {x[1]:.0f}/{x[3]:.0f} put/s"
                                 for x in thr_refs) + ".")
        lines.append("")
        lines.append("| change | through | clients | kgw changes/s | etcd reference ops/s | kgw ÷ etcd |")
        lines.append("|---|---|---:|---:|---:|---:|")
        for kind, where, clients, vals in thr:
            what = "CreateTopics (1 partition)" if kind == "create" else "IncrementalAlterConfigs (topic)"
            lines.append(f"| {what} | {where} | {clients} | {spread_of([v for v, _ in vals], 1)} | "
                         f"{spread_of([r for _, r in vals], 0)} | "
                         f"{spread_of([v / r for v, r in vals], 3)} |")
        lines.append("")
    if fo or fe:
        lines.append(f"Failover and fencing, seconds from kill -9, {a.rounds} rounds per setting "
                     f"(the killed node's etcd member dies with it; the two others keep the "
                     f"quorum). Each round's values in order; * marks a round whose killed node "
                     f"also held the etcd Raft leader.")
        lines.append("")
        lines.append("| broker.session.timeout.ms | what | median (min–max) | rounds |")
        lines.append("|---:|---|---:|---|")

        def rounds(vals, flags):
            return " ".join(fmt(v, 1) + ("*" if f else "") for v, f in zip(vals, flags))

        for s in sorted(set(fo) | set(fe), reverse=True):
            f = fo.get(s, [])
            g = fe.get(s, [])
            for what, vals, flags in (
                    ("failover: a survivor names the new controller", [x[0] for x in f], [x[3] for x in f]),
                    ("failover: every survivor names it", [x[1] for x in f], [x[3] for x in f]),
                    ("failover: CreateTopics through a survivor succeeds (first decision)",
                     [x[2] for x in f], [x[3] for x in f]),
                    ("fencing: no survivor names the killed broker as leader",
                     [x[0] for x in g], [x[2] for x in g]),
                    ("fencing: every survivor's Metadata omits the killed broker",
                     [x[1] for x in g], [x[2] for x in g])):
                if vals:
                    lines.append(f"| {s} | {what} | {spread_of(vals)} | {rounds(vals, flags)} |")
        lines.append("")
    if big:
        lines.append("CreateTopics of many partitions (RF 1) on 3 brokers, one request through a "
                     "broker that is not the controller, seconds:")
        lines.append("")
        lines.append("| request | answered | every broker's Metadata shows all with leaders | leaders per broker | errors |")
        lines.append("|---|---:|---:|---|---|")
        for what, answered, visible, spread, errs in big:
            sp = ", ".join(f"{k}: {v}" for k, v in sorted(spread.items()))
            lines.append(f"| {what} | {fmt(answered)} | {fmt(visible)} | {sp} | "
                         f"{', '.join(map(str, errs)) or 'none'} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if a.write_doc:
        with open(DOC) as f:
            doc = f.read()
        if BEGIN in doc and END in doc:
            head, rest = doc.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            doc = head + BEGIN + "\n" + text + "\n" + END + tail
        else:
            doc = doc.rstrip("\n") + "\n\n## Cluster metadata (issue 15)\n\n" + BEGIN + "\n" + text + "\n" + END + "\n"
        with open(DOC, "w") as f:
            f.write(doc)
        log(f"wrote {DOC}")


if __name__ == "__main__":
    main()
