#!/usr/bin/python3
"""Replication figures (issue 16, docs/BENCHMARKS.md "Replication (issue 16)"):

    tools/bench/replication_bench.py [--build build] [--count 200000] [--reps 2]
                                     [--lag-seconds 20] [--rounds 3]
                                     [--sessions default,3000:1000] [--skip ...] [--write-doc]

In one run, on this machine (every process on the same cores):

1. single node (kgw on its own, not a cluster), acks=1: `kgw-perf produce`
   of --count 1 KiB records into a new topic of 1 and of 16 partitions;
   msgs/s and MB/s. This is the reference.
2. three nodes (tools/dev/run-cluster.sh through
   tests/integration/kgw_cluster.py: three kgw processes with co-located
   etcd members), topics with replication factor 3 and
   min.insync.replicas=2: the same load with acks=all, and with acks=1 for
   context; each as a ratio of (1) in the same repetition. Repetitions
   interleave the three setups, so load from other work hits them alike.
3. replication lag at steady load: acks=all into a new 3-replica topic at
   --lag-load (default 50%) of the rate (2) reached for the same partition
   count, for --lag-seconds; meanwhile every --lag-interval the leader and
   both followers are asked, at the same moment, for their log end offsets
   with ListOffsets from Kafka's debugging replica id (-2), which every
   replica answers from its own log (src/broker/handlers/list_offsets.cc).
   Lag in records: the leader's log end minus the follower's, per sample.
   Lag in ms: from a sample of the leader's log end until the first sample
   in which the follower has reached it (so its resolution is the sampling
   interval, reported with it).
4. failover: an idempotent acks=all producer (python3-confluent-kafka,
   librdkafka's defaults otherwise, linger.ms=0) writes 100-byte records to
   a 1-partition, 3-replica topic at --failover-rate; the partition leader's
   kgw is killed with SIGKILL (its etcd member dies with it); the figure is
   the time from the kill to the first acknowledgement from the new
   leader: the first ack whose offset is at or above the start of the new
   leader's epoch (its kgw.log line "<topic>-0: leading at epoch E ...,
   from offset X"), as only the new leader assigns offsets there. Several
   rounds (the killed node is restarted and rejoins in between), at the
   cluster's default broker.session.timeout.ms (9000, heartbeat 2000) and
   at 3000 (heartbeat 1000).

Prints a table; --write-doc replaces the generated block of
docs/BENCHMARKS.md's "Replication (issue 16)" section (appended if absent).
Needs a build (build/kgw, build/tools/bench/kgw-perf), etcd, and
python3-confluent-kafka for (4).
"""

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import json
import shutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import kafka_wire  # noqa: E402
import kgw_cluster  # noqa: E402
from cluster_checks import broker_metadata  # noqa: E402
from kafka_wire import Enc  # noqa: E402

DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
SECTION = "## Replication (issue 16)"
BEGIN = "<!-- replication_bench.py: begin (generated, do not edit by hand) -->"
END = "<!-- replication_bench.py: end -->"
DEFAULT_SESSION_MS = 9000  # broker.session.timeout.ms's default (broker_config_defs.cc)
DEFAULT_HEARTBEAT_MS = 2000
RECORD = 1024


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# -- raw Kafka requests ----------------------------------------------------------


def create_topic(port, name, partitions, rf, configs=()):
    """CreateTopics v4 of one topic; raises on an error answer."""

    def one(enc, _):
        enc.string(name).i32(partitions).i16(rf)
        enc.array([], lambda e, x: None)  # assignments
        enc.array(list(configs), lambda e, kv: e.string(kv[0]).string(kv[1]))

    c = kafka_wire.Conn(f"127.0.0.1:{port}", client_id="kgw-replication-bench", timeout=120)
    try:
        d = c.call(19, 4, Enc().array([0], one).i32(60000).boolean(False))
    finally:
        c.close()
    d.i32()
    res = d.array(lambda d: (d.string(), d.i16(), d.string()))
    if res[0][1] != 0:
        raise RuntimeError(f"CreateTopics {name}: error {res[0][1]} {res[0][2]}")


def list_ends_request(topic, partitions):
    """ListOffsets v1 from the debugging replica id (-2): latest (-1), i.e.
    the answering replica's own log end."""
    return Enc().i32(-2).array([0], lambda e, _: e.string(topic).array(
        list(range(partitions)), lambda e2, p: e2.i32(p).i64(-1)))


class EndsProbe:
    """One connection per broker; sample() asks all of them at once."""

    def __init__(self, ports, topic, partitions):
        self.conns = {n: kafka_wire.Conn(f"127.0.0.1:{p}", client_id="kgw-replication-bench",
                                         timeout=30) for n, p in ports.items()}
        self.topic = topic
        self.partitions = partitions
        self.body = list_ends_request(topic, partitions)

    def sample(self):
        """{node: {partition: log end}} (an error answer: -1)."""
        for c in self.conns.values():
            c.send(2, 1, self.body)
        out = {}
        for n, c in self.conns.items():
            d = c.recv()
            ends = {}

            def part(d):
                p, err = d.i32(), d.i16()
                d.i64()  # timestamp
                off = d.i64()
                ends[p] = off if err == 0 else -1

            d.array(lambda d: (d.string(), d.array(part)))
            out[n] = ends
        return out

    def close(self):
        for c in self.conns.values():
            c.close()


# -- load --------------------------------------------------------------------------


class Perf:
    def __init__(self, build):
        self.exe = os.path.join(build, "tools", "bench", "kgw-perf")
        if not os.access(self.exe, os.X_OK):
            sys.exit(f"replication_bench: {self.exe} is missing; build first (tools/dev/setup.sh)")

    def produce(self, bootstrap, topic, acks, count=None, rate=None, seconds=None):
        cmd = [self.exe, "produce", "-b", bootstrap, "-t", topic, "-s", str(RECORD), "-a", acks,
               "--json"]
        if count:
            cmd += ["-n", str(count)]
        if rate:
            cmd += ["-r", str(int(rate))]
        if seconds:
            cmd += ["-d", str(seconds)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        sys.stderr.write(proc.stderr)
        out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not out:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
        return out[-1]


class SingleNode:
    """kgw on its own (not a cluster), as a user starts it: default flags."""

    def __init__(self, build):
        self.tmp = tempfile.mkdtemp(prefix="kgw-repl-bench-")
        out_path = os.path.join(self.tmp, "kgw.out")
        self.proc = subprocess.Popen(
            [os.path.join(build, "kgw"), "--listen", "127.0.0.1:0", "--data-dir",
             os.path.join(self.tmp, "data")],
            stdout=open(out_path, "w"), stderr=open(os.path.join(self.tmp, "kgw.err"), "w"),
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        self.port = None
        while self.port is None:
            with open(out_path) as f:
                for line in f:
                    if line.startswith("kgw: listening on "):
                        self.port = int(line.rsplit(":", 1)[1])
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("single-node kgw did not start")
            time.sleep(0.05)
        self.bootstrap = f"127.0.0.1:{self.port}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Cluster:
    def __init__(self, session_ms=None, heartbeat_ms=None):
        sets = []
        if session_ms:
            sets += [f"broker.session.timeout.ms={session_ms}",
                     f"broker.heartbeat.interval.ms={heartbeat_ms}"]
        self.session_ms = session_ms or DEFAULT_SESSION_MS
        self.heartbeat_ms = heartbeat_ms or DEFAULT_HEARTBEAT_MS
        self.c = kgw_cluster.KgwCluster(3, sets=sets)
        t0 = time.monotonic()
        self.c.start()
        log(f"cluster up in {time.monotonic() - t0:.1f} s (broker.session.timeout.ms "
            f"{self.session_ms}), dir {self.c.dir}")
        self.alive = {1, 2, 3}

    @property
    def bootstrap(self):
        return self.c.bootstrap

    def port(self, n):
        return self.c.port(n)

    def close(self):
        self.c.close()

    def metadata(self, n):
        try:
            return broker_metadata(self.port(n), timeout=5)
        except (OSError, ValueError, ConnectionError):
            return None

    def create(self, name, partitions, timeout=60):
        """A topic of `partitions`, replication factor 3, min.insync.replicas=2;
        returns once every live broker shows each partition with a leader and
        the full ISR: {partition: leader}."""
        create_topic(self.port(min(self.alive)), name, partitions, 3,
                     [("min.insync.replicas", "2")])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = None
            ok = True
            for n in sorted(self.alive):
                md = self.metadata(n)
                t = md and md["topics"].get(name)
                if not t or len(t["partitions"]) != partitions or any(
                        ldr < 0 for ldr in t["partitions"].values()) or any(
                        len(isr) != 3 for isr in t["isr"].values()):
                    ok = False
                    break
                leaders = t["partitions"]
            if ok:
                return dict(leaders)
            time.sleep(0.05)
        raise RuntimeError(f"{name}: no full ISR on every broker after {timeout} s")

    def etcd_leader(self):
        """The node whose etcd member is the Raft leader (None if unknown)."""
        try:
            out = self.c.etcdctl("endpoint", "status", "-w", "json",
                                 endpoints=",".join(f"127.0.0.1:{self.c.client_port(n)}"
                                                    for n in sorted(self.alive)))
            for st in json.loads(out):
                if st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                    port = int(st["Endpoint"].rsplit(":", 1)[1])
                    return next(n for n in (1, 2, 3) if self.c.client_port(n) == port)
        except Exception as e:  # noqa: BLE001 - a figure without it is still a figure
            log(f"  etcd leader unknown: {e!r}")
        return None

    def wait_rejoined(self, timeout=120):
        """Every broker lists all three brokers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all((md := self.metadata(n)) and len(md["brokers"]) == 3 for n in (1, 2, 3)):
                return
            time.sleep(0.1)
        raise RuntimeError("a restarted broker did not rejoin")


# -- 1 + 2: throughput ---------------------------------------------------------------


def throughput(a, perf, single, cluster, rep):
    """[(setup, partitions, result)] for one repetition."""
    out = []
    tag = uuid.uuid4().hex[:6]
    for partitions in (1, 16):
        name = f"single-{rep}-{partitions}-{tag}"
        create_topic(single.port, name, partitions, 1)
        r = perf.produce(single.bootstrap, name, "1", count=a.count)
        out.append(("single", partitions, r))
        for acks in ("all", "1"):
            name = f"rf3-{acks}-{rep}-{partitions}-{tag}"
            cluster.create(name, partitions)
            r = perf.produce(cluster.bootstrap, name, acks, count=a.count)
            out.append((f"rf3-{acks}", partitions, r))
        log(f"  rep {rep}, {partitions} p: " + ", ".join(
            f"{s} {x['msgs_per_s']:.0f} msgs/s" for s, p, x in out if p == partitions))
    return out


# -- 3: lag ------------------------------------------------------------------------------


def lag(a, perf, cluster, partitions, rate):
    name = f"lag-{partitions}-{uuid.uuid4().hex[:6]}"
    leaders = cluster.create(name, partitions)
    probe = EndsProbe({n: cluster.port(n) for n in (1, 2, 3)}, name, partitions)
    samples = []  # (t, {node: {partition: end}})
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            t = time.monotonic()
            try:
                samples.append((t, probe.sample()))
            except (OSError, ValueError, ConnectionError) as e:
                log(f"  lag probe: {e!r}")
                return
            time.sleep(max(0.0, a.lag_interval - (time.monotonic() - t)))

    th = threading.Thread(target=sampler)
    th.start()
    try:
        r = perf.produce(cluster.bootstrap, name, "all", rate=rate, seconds=a.lag_seconds)
    finally:
        stop.set()
        th.join()
        probe.close()
    # Only the samples while the load ran (the last second is the producer
    # draining: left out, as is the first second of warm-up).
    t_first = samples[0][0] + 1.0 if samples else 0
    t_last = samples[-1][0] - 1.0 if samples else 0
    recs, ms = [], []
    for p, leader in leaders.items():
        for f in (1, 2, 3):
            if f == leader:
                continue
            pending = []  # (t, leader end) not yet reached by f
            for t, s in samples:
                le, fe = s[leader].get(p, -1), s[f].get(p, -1)
                if le < 0 or fe < 0:
                    continue
                if t_first <= t <= t_last:
                    recs.append(le - fe)
                    pending.append((t, le))
                while pending and pending[0][1] <= fe:
                    ms.append((t - pending.pop(0)[0]) * 1000)
    intervals = [b[0] - x[0] for x, b in zip(samples, samples[1:])]
    res = {"partitions": partitions, "rate": rate, "perf": r, "records": recs, "ms": ms,
           "samples": len(samples),
           "interval_ms": statistics.median(intervals) * 1000 if intervals else None}
    log(f"  lag, {partitions} p at {rate:.0f} msgs/s: records p50 {pct(recs, 50)} p99 "
        f"{pct(recs, 99)} max {max(recs) if recs else None}; ms p50 {pct(ms, 50)} p99 "
        f"{pct(ms, 99)}; {len(samples)} samples every {res['interval_ms']} ms")
    return res


def pct(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


# -- 4: failover -----------------------------------------------------------------------


class Writer(threading.Thread):
    """An idempotent acks=all producer at a steady rate; records
    (monotonic time, offset, error) of every delivery report."""

    def __init__(self, bootstrap, topic, rate):
        super().__init__(daemon=True)
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                           "acks": "all", "linger.ms": 0, "message.timeout.ms": 300000})
        self.topic = topic
        self.rate = rate
        self.acks = []
        self.errors = []
        self.stop = threading.Event()
        self.value = b"x" * 100

    def _cb(self, err, msg):
        t = time.monotonic()
        if err is not None:
            self.errors.append((t, str(err)))
        else:
            self.acks.append((t, msg.offset()))

    def run(self):
        t0 = time.monotonic()
        sent = 0
        while not self.stop.is_set():
            due = t0 + sent / self.rate
            now = time.monotonic()
            if now >= due:
                try:
                    self.p.produce(self.topic, self.value, partition=0, on_delivery=self._cb)
                    sent += 1
                except BufferError:
                    pass
            self.p.poll(min(0.001, max(0.0, due - now)))
        self.p.flush(60)


def epoch_start(cluster, topic, node):
    """(epoch, first offset) of the last "<topic>-0: leading at epoch" line
    in node's kgw.log, or None."""
    pat = re.compile(re.escape(topic) + r"-0: leading at epoch (\d+) .*from offset (\d+)")
    found = None
    for line in cluster.c.kgw_log(node).splitlines():
        m = pat.search(line)
        if m:
            found = (int(m.group(1)), int(m.group(2)))
    return found


def failover_round(a, cluster, rnd):
    name = f"failover-{cluster.session_ms}-{rnd}-{uuid.uuid4().hex[:6]}"
    leaders = cluster.create(name, 1)
    leader = leaders[0]
    md = cluster.metadata(leader)
    controller = md["controller"] if md else None
    w = Writer(cluster.bootstrap, name, a.failover_rate)
    w.start()
    deadline = time.monotonic() + 30
    while (len(w.acks) < a.failover_rate or not w.acks) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not w.acks:
        w.stop.set()
        raise RuntimeError(f"{name}: no acknowledgement before the kill")
    etcd_leader = cluster.etcd_leader()
    pid = cluster.c.kgw_pid(leader)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    cluster.alive.discard(leader)
    first_new = None
    new_leader = None
    start = None
    elected = None  # a survivor's Metadata names a new leader
    deadline = t0 + cluster.session_ms / 1000 + 60
    while time.monotonic() < deadline and first_new is None:
        time.sleep(0.05)
        if elected is None:
            md = cluster.metadata(min(cluster.alive))
            t = md and md["topics"].get(name)
            if t and t["partitions"].get(0, -1) in cluster.alive:
                elected = time.monotonic() - t0
        if start is None:
            for n in sorted(cluster.alive):
                st = epoch_start(cluster, name, n)
                if st:
                    new_leader, start = n, st
                    break
        if start is not None:
            for t, off in list(w.acks):
                if t > t0 and off >= start[1]:
                    first_new = t - t0
                    break
    w.stop.set()
    w.join(timeout=90)
    before = [t for t, _ in w.acks if t <= t0]
    gap_start = (t0 - before[-1]) * 1000 if before else None
    log(f"  failover round {rnd} (session {cluster.session_ms} ms): leader {leader} killed "
        f"(controller: {controller}, etcd leader: {etcd_leader}); new leader {new_leader} at epoch/offset {start}, named "
        f"after {elected} s; first ack "
        f"from it after {first_new} s; last ack before the kill {gap_start} ms before; "
        f"{len(w.errors)} delivery errors {w.errors[:2]}")
    cluster.c.start_node(leader)
    cluster.alive.add(leader)
    cluster.wait_rejoined()
    return {"seconds": first_new, "elected": elected, "was_controller": leader == controller,
            "was_etcd_leader": leader == etcd_leader,
            "errors": len(w.errors), "leader": leader, "new_leader": new_leader}


# -- the report ----------------------------------------------------------------------------


def fmt(v, digits=2):
    return "–" if v is None else f"{v:,.{digits}f}"


def spread_of(vals, digits=2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(vals):,.{digits}f}–{max(vals):,.{digits}f})"


def git_commit():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}"


def render(a, thr, lags, fo, info):
    lines = [f"{time.strftime('%Y-%m-%d')}, commit {git_commit()}, {machine()}; load average "
             f"{info['load_before']} before, {info['load_after']} after ({info['minutes']:.1f} "
             f"min). Every process on the same machine: the client, and for the cluster three "
             f"kgw nodes and their three co-located etcd members, so each record is written "
             f"three times on the same disk and cores; read the ratios, not the absolute "
             f"figures.", "",
             f"Command: `{info['command']}`", ""]
    if thr:
        lines.append(f"Produce throughput, `kgw-perf produce`, {a.count:,} records of {RECORD} "
                     f"B per case (linger.ms=5, batch.num.messages=10000, max.in.flight=5), "
                     f"{a.reps} repetitions, the setups interleaved; median (min–max). The "
                     f"ratio is taken within each repetition against single-node acks=1. "
                     f"Cluster topics: replication factor 3, min.insync.replicas=2.")
        lines.append("")
        lines.append("| setup | partitions | msgs/s | MB/s | ack p50 / p99 ms | ÷ single node acks=1 |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        names = {"single": "1 node, acks=1 (reference)", "rf3-all": "3 nodes, RF=3, acks=all",
                 "rf3-1": "3 nodes, RF=3, acks=1"}
        for partitions in (1, 16):
            for setup in ("single", "rf3-all", "rf3-1"):
                rows = [(rep, r) for rep, s, p, r in thr if s == setup and p == partitions]
                ref = {rep: r for rep, s, p, r in thr if s == "single" and p == partitions}
                mps = [r["msgs_per_s"] for _, r in rows]
                mbs = [r["mb_per_s"] for _, r in rows]
                ratio = [r["msgs_per_s"] / ref[rep]["msgs_per_s"] for rep, r in rows if rep in ref]
                p50 = statistics.median(r.get("p50_ms", 0) for _, r in rows)
                p99 = statistics.median(r.get("p99_ms", 0) for _, r in rows)
                lines.append(f"| {names[setup]} | {partitions} | {spread_of(mps, 0)} | "
                             f"{spread_of(mbs, 1)} | {p50:.0f} / {p99:.0f} | "
                             f"{'1' if setup == 'single' else spread_of(ratio, 2)} |")
        lines.append("")
    if lags:
        lines.append(f"Replication lag at steady load: acks=all into a new topic (RF=3, "
                     f"min.insync.replicas=2) at "
                     + (f"{a.lag_rate:,.0f} msgs/s" if a.lag_rate else
                        f"{a.lag_load:.0%} of the acks=all rate above (last repetition)")
                     + f", {a.lag_seconds} s; every ~{a.lag_interval * 1000:.0f} ms "
                     f"the leader and both followers are asked at once for their log end "
                     f"(ListOffsets, replica id -2). Records: leader's log end minus the "
                     f"follower's, over every sample of both followers (the first and last "
                     f"second left out). ms: from a sample of the leader's log end to the first "
                     f"sample in which the follower reached it (resolution: the sampling "
                     f"interval).")
        lines.append("")
        lines.append("| partitions | rate msgs/s (achieved) | ack p50 / p99 ms | samples (interval ms) | lag records p50 / p99 / max | lag ms p50 / p99 / max |")
        lines.append("|---:|---:|---:|---:|---:|---:|")
        for x in lags:
            r = x["perf"]
            recs, ms = x["records"], x["ms"]
            lines.append(f"| {x['partitions']} | {x['rate']:,.0f} ({r['msgs_per_s']:,.0f}) | "
                         f"{r.get('p50_ms', 0):.1f} / {r.get('p99_ms', 0):.1f} | {x['samples']} "
                         f"({fmt(x['interval_ms'], 0)}) | {fmt(pct(recs, 50), 0)} / "
                         f"{fmt(pct(recs, 99), 0)} / {fmt(max(recs) if recs else None, 0)} | "
                         f"{fmt(pct(ms, 50), 0)} / {fmt(pct(ms, 99), 0)} / "
                         f"{fmt(max(ms) if ms else None, 0)} |")
        lines.append("")
    if fo:
        lines.append(f"Failover: an idempotent acks=all producer (python3-confluent-kafka on "
                     f"librdkafka, linger.ms=0, its defaults otherwise) writing 100 B records at "
                     f"{a.failover_rate} msgs/s into a 1-partition topic (RF=3, "
                     f"min.insync.replicas=2); SIGKILL of the partition leader's kgw (its etcd "
                     f"member dies with it); seconds from the kill to the first write "
                     f"acknowledged by the new leader (an ack at or above the offset its epoch "
                     f"starts at). {a.rounds} rounds per setting, each on a new topic, the killed "
                     f"node restarted in between; * marks a round whose killed leader was also "
                     f"the controller, † one whose etcd member was the etcd Raft leader.")
        lines.append("")
        lines.append("| broker.session.timeout.ms (heartbeat ms) | kill -> first ack from the new leader, s: median (min–max) | rounds | kill -> a survivor's Metadata names the new leader, s | delivery errors |")
        lines.append("|---|---:|---|---:|---:|")
        for (session, hb, default), rounds in fo:
            vals = [x["seconds"] for x in rounds]
            each = " ".join(fmt(x["seconds"], 2) + ("*" if x["was_controller"] else "")
                            + ("†" if x["was_etcd_leader"] else "") for x in rounds)
            lines.append(f"| {session}{' (default)' if default else ''} ({hb}) | "
                         f"{spread_of(vals)} | {each} | "
                         f"{spread_of([x['elected'] for x in rounds])} | "
                         f"{sum(x['errors'] for x in rounds)} |")
        lines.append("")
    return "\n".join(lines)


def write_doc(text):
    with open(DOC) as f:
        doc = f.read()
    block = BEGIN + "\n" + text + "\n" + END
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + f"\n\n{SECTION}\n\n" + block + "\n"
    with open(DOC, "w") as f:
        f.write(doc)
    log(f"wrote {DOC}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--count", type=int, default=200000, help="1 KiB records per throughput case")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of the throughput cases")
    ap.add_argument("--lag-seconds", type=int, default=20)
    ap.add_argument("--lag-load", type=float, default=0.5, help="fraction of the acks=all rate")
    ap.add_argument("--lag-rate", type=float, help="msgs/s for the lag part (default: from --lag-load)")
    ap.add_argument("--lag-interval", type=float, default=0.02, help="seconds between lag samples")
    ap.add_argument("--lag-partitions", default="1,16")
    ap.add_argument("--rounds", type=int, default=3, help="failover rounds per setting")
    ap.add_argument("--failover-rate", type=int, default=200, help="msgs/s of the failover producer")
    ap.add_argument("--sessions", default="default,3000:1000",
                    help="broker.session.timeout.ms:heartbeat pairs for failover ('default': "
                         "the cluster's defaults)")
    ap.add_argument("--skip", default="", help="comma list of throughput,lag,failover")
    ap.add_argument("--write-doc", action="store_true")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    os.environ.setdefault("KGW", os.path.join(a.build, "kgw"))
    skip = set(filter(None, a.skip.split(",")))
    if "failover" not in skip:
        import confluent_kafka  # noqa: F401 - fail early, not after the throughput part
    perf = Perf(a.build)
    info = {"load_before": loadavg(),
            "command": "tools/bench/replication_bench.py " + " ".join(sys.argv[1:])}
    t_start = time.monotonic()
    thr, lags, fo = [], [], []
    cluster = Cluster()
    try:
        if "throughput" not in skip:
            single = SingleNode(a.build)
            try:
                for rep in range(a.reps):
                    for s, p, r in throughput(a, perf, single, cluster, rep):
                        thr.append((rep, s, p, r))
            finally:
                single.close()
        if "lag" not in skip:
            for partitions in (int(x) for x in a.lag_partitions.split(",") if x):
                top = [r["msgs_per_s"] for rep, s, p, r in thr
                       if s == "rf3-all" and p == partitions and rep == a.reps - 1]
                if a.lag_rate:
                    rate = a.lag_rate
                elif top:
                    rate = a.lag_load * top[0]
                else:
                    sys.exit("replication_bench: the lag part needs the throughput part or --lag-rate")
                lags.append(lag(a, perf, cluster, partitions, rate))
        if "failover" not in skip:
            for pair in a.sessions.split(","):
                if pair == "default":
                    key = (DEFAULT_SESSION_MS, DEFAULT_HEARTBEAT_MS, True)
                    c = cluster
                else:
                    s_ms, hb_ms = (int(x) for x in pair.split(":"))
                    key = (s_ms, hb_ms, False)
                    cluster.close()
                    cluster = c = Cluster(s_ms, hb_ms)
                fo.append((key, [failover_round(a, c, r) for r in range(a.rounds)]))
    finally:
        cluster.close()
    info["load_after"] = loadavg()
    info["minutes"] = (time.monotonic() - t_start) / 60
    text = render(a, thr, lags, fo, info)
    print(text)
    if a.write_doc:
        write_doc(text)


if __name__ == "__main__":
    main()
