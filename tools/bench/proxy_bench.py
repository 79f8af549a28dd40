#!/usr/bin/python3
"""Proxy and migration figures (issue 17, docs/BENCHMARKS.md "Proxy and
migration (issue 17)"):

    tools/bench/proxy_bench.py [--build build] [--seconds 10] [--reps 2]
                               [--size 1024] [--partitions 3] [--rounds 10]
                               [--mirror-count 200000] [--write-doc]

The legacy cluster is a second kgw (--legacy kgw, the default: it keeps
every record, as a Kafka cluster does) or librdkafka's mock cluster
(--legacy mock: 3 brokers, in memory, keeping only the last few MiB of a
partition); kgw runs in front of it (--upstream); every process on this
machine, in one run:

1. pass-through: `kgw-perf produce` (acks=1, then acks=all) and `kgw-perf
   consume` of --size-byte records into and out of a legacy topic, once
   straight at the mock and once through kgw; kgw's msgs/s as a ratio of
   the direct figure of the same repetition (repetitions interleave the
   two, so load from other work hits both alike).
2. added latency: `kgw-perf e2e` (produce -> consume, acks=1, linger 0)
   at 50% of the lower of the two acks=1 produce rates (kgw's, here: both
   then run below saturation), straight and through kgw; p50 and p99 and
   the difference.
3. mirror copy rate: --mirror-count records in a fresh legacy topic,
   `kgw-admin migrate start`, the time until `migrate status --json` shows
   every partition caught up; as a ratio of `kgw-perf consume` reading the
   same records straight from the mock (the legacy cluster's fetch rate).
4. cutover pause: --rounds cutovers, each of a fresh legacy topic with an
   idempotent acks=all producer through kgw at 1000 msgs/s: kgw's fence
   (its log line "produce was fenced for N ms"), `migrate cutover`'s own
   "done in N ms", and the producer's longest wait for an acknowledgement
   of a record sent during the cutover; p50, p90, max. One second later
   the same topic is rolled back (what kgw took meanwhile copied back):
   the same three figures for the rollback.

Prints a table; --write-doc replaces the generated block of
docs/BENCHMARKS.md's section (appended if absent). Needs a build
(build/kgw, build/tools/bench/kgw-perf, build/tools/admin/kgw-admin, and
build/tools/kgw-mock-cluster for --legacy mock) and python3-confluent-kafka (/usr/bin/python3).
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
SECTION = "## Proxy and migration (issue 17)"
BEGIN = "<!-- proxy_bench.py: begin (generated, do not edit by hand) -->"
END = "<!-- proxy_bench.py: end -->"


def log(msg):
    print(f"proxy_bench: {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="kgw-proxy-bench-")
        self.procs = []
        self.topic_seq = 0

    def exe(self, rel):
        return os.path.join(self.args.build, rel)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_line(self, path, proc, pick):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(path) as f:
                for line in f:
                    v = pick(line.rstrip("\n"))
                    if v:
                        return v
            if proc.poll() is not None:
                sys.exit(f"proxy_bench: {proc.args[0]} exited with {proc.returncode}")
            time.sleep(0.05)
        sys.exit(f"proxy_bench: {proc.args[0]} did not start")

    def start_legacy(self):
        """The legacy cluster, every topic the run uses made at start (kgw
        learns the legacy topics at its start)."""
        names = [f"bench{i}" for i in range(1, self.topics_needed() + 1)]
        if self.args.legacy == "mock":
            return self.start_mock()
        out = os.path.join(self.tmp, "legacy.out")
        p = subprocess.Popen([self.exe("kgw"), "--listen", "127.0.0.1:0", "--data-dir",
                              os.path.join(self.tmp, "legacy-data"), "--log-level", "warn"],
                             stdout=open(out, "w"),
                             stderr=open(os.path.join(self.tmp, "legacy.err"), "w"),
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        self.mock = self.wait_line(out, p, lambda l: l.split("listening on ", 1)[1]
                                   if l.startswith("kgw: listening on ") else None)
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.mock})
        for f in admin.create_topics([NewTopic(n, self.args.partitions, 1)
                                      for n in names]).values():
            f.result(60)

    def start_mock(self):
        out = os.path.join(self.tmp, "mock.out")
        # Every topic the run uses, made at start: the mock cluster answers
        # no CreateTopics (it has no controller).
        topics = []
        for i in range(1, self.topics_needed() + 1):
            topics += ["--topic", f"bench{i}:{self.args.partitions}"]
        p = subprocess.Popen([self.exe("tools/kgw-mock-cluster"), "--brokers", "3", "--no-stdin",
                              *topics],
                             stdout=open(out, "w"),
                             stderr=open(os.path.join(self.tmp, "mock.err"), "w"),
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        self.mock = self.wait_line(out, p, lambda l: l.strip() or None)

    def start_kgw(self):
        out = os.path.join(self.tmp, "kgw.out")
        self.kgw_err = os.path.join(self.tmp, "kgw.err")
        p = subprocess.Popen([self.exe("kgw"), "--listen", "127.0.0.1:0", "--data-dir",
                              os.path.join(self.tmp, "kgw-data"), "--upstream", self.mock],
                             stdout=open(out, "w"), stderr=open(self.kgw_err, "w"),
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        self.kgw = self.wait_line(out, p, lambda l: l.split("listening on ", 1)[1]
                                  if l.startswith("kgw: listening on ") else None)

    def topics_needed(self):
        return self.args.reps * 4 + 2 + 1 + self.args.rounds

    def new_topic(self):
        """A fresh legacy topic (made at the mock's start), known to kgw."""
        from confluent_kafka.admin import AdminClient
        self.topic_seq += 1
        name = f"bench{self.topic_seq}"
        through = AdminClient({"bootstrap.servers": self.kgw})
        deadline = time.monotonic() + 60
        while name not in through.list_topics(timeout=30).topics:
            if time.monotonic() > deadline:
                sys.exit(f"proxy_bench: kgw does not list {name}")
            time.sleep(0.2)
        return name

    def perf(self, mode, bootstrap, topic, extra):
        cmd = [self.exe("tools/bench/kgw-perf"), mode, "-b", bootstrap, "-t", topic, "-s",
               str(self.args.size), "--json", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        out = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode != 0 and not out:
            sys.exit(f"proxy_bench: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
        return out

    def admin(self, *args):
        return subprocess.run([self.exe("tools/admin/kgw-admin"), "migrate", *args,
                               "--bootstrap-server", self.kgw], capture_output=True, text=True,
                              timeout=120)

    # -- 1 and 2 --------------------------------------------------------------

    def pass_through(self):
        rows = {}
        for rep in range(self.args.reps):
            for where, bootstrap in (("direct", self.mock), ("kgw", self.kgw)):
                for acks in ("1", "all"):
                    topic = self.new_topic()
                    r = self.perf("produce", bootstrap, topic,
                                  ["-a", acks, "-d", str(self.args.seconds), "-n", "5000000"])[-1]
                    rows.setdefault(("produce", acks, where), []).append(r)
                    log(f"rep {rep + 1} {where} produce acks={acks}: "
                        f"{r['msgs_per_s']:,.0f} msgs/s")
                    if acks == "1":
                        c = self.perf("consume", bootstrap, topic, [])[-1]
                        rows.setdefault(("consume", "-", where), []).append(c)
                        log(f"rep {rep + 1} {where} consume: {c['msgs_per_s']:,.0f} msgs/s")
        # Half of the lower of the two (kgw's, on these shared cores): both
        # below saturation, so the difference is what kgw adds.
        rate = min(statistics.median(r["msgs_per_s"] for r in rows[("produce", "1", w)])
                   for w in ("direct", "kgw")) * 0.5
        lat = {}
        for where, bootstrap in (("direct", self.mock), ("kgw", self.kgw)):
            topic = self.new_topic()
            r = self.perf("e2e", bootstrap, topic, ["-a", "1", "-r", str(int(rate)), "-d",
                                                    str(self.args.seconds), "-l", "0"])
            lat[where] = {x["what"]: x for x in r}["e2e produce->consume"]
            log(f"{where} e2e at {rate:,.0f} msgs/s: p99 {lat[where]['p99_ms']:.2f} ms")
        return rows, rate, lat

    # -- 3 --------------------------------------------------------------------

    def status(self, topic):
        r = self.admin("status", "--topic", topic, "--json", "--interval", "0")
        return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]

    def mirror_rate(self):
        topic = self.new_topic()
        self.perf("produce", self.mock, topic, ["-a", "1", "-n", str(self.args.mirror_count)])
        direct = self.perf("consume", self.mock, topic, [])[-1]
        t0 = time.monotonic()
        r = self.admin("start", "--topic", topic)
        if r.returncode != 0:
            sys.exit(f"proxy_bench: migrate start: {r.stderr}")
        while True:
            s = self.status(topic)
            if s and all(p["mirrored_offset"] == p["legacy_high_watermark"] > 0 for p in s):
                break
            if time.monotonic() - t0 > 600:
                sys.exit(f"proxy_bench: the mirror did not catch up: {s}")
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        records = sum(p["legacy_high_watermark"] for p in s)
        mirror = {"seconds": seconds, "msgs_per_s": records / seconds,
                  "mb_per_s": records * self.args.size / seconds / 1e6}
        log(f"mirror: {records} records in {seconds:.2f} s; direct consume "
            f"{direct['msgs_per_s']:,.0f} msgs/s")
        return direct, mirror

    # -- 4 --------------------------------------------------------------------

    def cutovers(self):
        from confluent_kafka import Producer
        out = []
        for i in range(self.args.rounds):
            topic = self.new_topic()
            p = Producer({"bootstrap.servers": self.kgw, "enable.idempotence": True,
                          "acks": "all", "linger.ms": 5})
            sent, waits, stop = {}, [], threading.Event()

            def on_delivery(err, msg):
                t = sent.pop(msg.value(), None)
                if err is None and t is not None:
                    waits.append((t, time.monotonic() - t))

            def run():
                n = 0
                while not stop.is_set():
                    v = f"r{n}".encode()
                    sent[v] = time.monotonic()
                    p.produce(topic, value=v, on_delivery=on_delivery)
                    p.poll(0)
                    n += 1
                    time.sleep(0.001)
                p.flush(60)
            th = threading.Thread(target=run, daemon=True)
            th.start()
            time.sleep(1)
            self.admin("start", "--topic", topic)
            while not all(x["mirrored_offset"] >= 0 and
                          x["legacy_high_watermark"] - x["mirrored_offset"] < 50
                          for x in self.status(topic)):
                time.sleep(0.05)
            time.sleep(0.5)
            t0 = time.monotonic()
            r = self.admin("cutover", "--topic", topic)
            t1 = time.monotonic()
            time.sleep(1)
            # And back: what kgw took in that second is copied back.
            t2 = time.monotonic()
            rb = self.admin("rollback", "--topic", topic) if r.returncode == 0 else None
            t3 = time.monotonic()
            time.sleep(1)
            stop.set()
            th.join(120)
            m = re.search(r"done in (\d+) ms", r.stdout)
            mb = re.search(r"Rolled back .* in (\d+) ms", rb.stdout) if rb else None
            fence = rb_fence = None
            with open(self.kgw_err) as f:
                for line in f:
                    g = re.search(rf"cutover of {topic}: kgw serves it now.*fenced for (\d+) ms",
                                  line)
                    if g:
                        fence = int(g.group(1))
                    g = re.search(rf"rollback of {topic}: the legacy cluster serves it again.*"
                                  r"held for (\d+) ms", line)
                    if g:
                        rb_fence = int(g.group(1))
            during = [w for t, w in waits if t0 - 0.1 < t < t1 + 0.1]
            during_rb = [w for t, w in waits if t2 - 0.1 < t < t3 + 0.1]
            row = {"done_ms": int(m.group(1)) if m else None, "fence_ms": fence,
                   "producer_pause_ms": max(during) * 1000 if during else None,
                   "ok": r.returncode == 0,
                   "rb_done_ms": int(mb.group(1)) if mb else None, "rb_fence_ms": rb_fence,
                   "rb_producer_pause_ms": max(during_rb) * 1000 if during_rb else None,
                   "rb_ok": rb is not None and rb.returncode == 0}
            log(f"cutover {i + 1}: {row}")
            out.append(row)
        return out


def pct(values, q):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def table(args, res):
    rows, rate, lat = res["pass"]
    L = []
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    legacy = ("a second kgw (`--fsync never`)" if args.legacy == "kgw" else
              "librdkafka's mock cluster (3 brokers, in memory)")
    L.append(f"Measured by `tools/bench/proxy_bench.py --legacy {args.legacy} --reps {args.reps} "
             f"--seconds {args.seconds} --rounds {args.rounds}` at {rev}, "
             f"{platform.node() or 'this machine'} ({os.cpu_count()} cores), "
             f"{time.strftime('%Y-%m-%d')}; the legacy cluster is {legacy} on the same cores, "
             f"records of {args.size} bytes, topics of {args.partitions} partitions. Medians of "
             f"{args.reps} repetitions.")
    L.append("")
    L.append("| case | direct to the legacy cluster | through kgw | kgw / direct |")
    L.append("|---|---|---|---|")
    for (what, acks, _), _v in sorted(rows.items()):
        if _ != "direct":
            continue
        d = statistics.median(x["msgs_per_s"] for x in rows[(what, acks, "direct")])
        k = statistics.median(x["msgs_per_s"] for x in rows[(what, acks, "kgw")])
        name = f"{what} acks={acks}" if what == "produce" else what
        L.append(f"| {name} (msgs/s) | {fmt(d)} | {fmt(k)} | {k / d:.2f} |")
    d, k = lat["direct"], lat["kgw"]
    L.append(f"| e2e p50 at {rate:,.0f} msgs/s (50% of kgw's rate) | {d['p50_ms']:.2f} ms | "
             f"{k['p50_ms']:.2f} ms | +{k['p50_ms'] - d['p50_ms']:.2f} ms |")
    L.append(f"| e2e p99 at {rate:,.0f} msgs/s | {d['p99_ms']:.2f} ms | {k['p99_ms']:.2f} ms | "
             f"+{k['p99_ms'] - d['p99_ms']:.2f} ms |")
    direct, mirror = res["mirror"]
    L.append(f"| mirror copy ({args.mirror_count:,} records; direct: a consumer reading them "
             f"from the legacy cluster) | {fmt(direct['msgs_per_s'])} msgs/s | "
             f"{fmt(mirror['msgs_per_s'])} msgs/s | {mirror['msgs_per_s'] / direct['msgs_per_s']:.2f} |")
    L.append("")
    c = res["cutovers"]
    ok = sum(1 for x in c if x["ok"])
    L.append(f"Cutover pause over {len(c)} cutovers ({ok} switched; an idempotent acks=all "
             f"producer through kgw at about 1,000 msgs/s):")
    L.append("")
    L.append("| ms | p50 | p90 | max |")
    L.append("|---|---|---|---|")
    for key, name in (("fence_ms", "kgw's fence (produce held)"),
                      ("done_ms", "`migrate cutover` (request to switched, as the tool polls)"),
                      ("producer_pause_ms", "the producer's longest wait for an ack")):
        vals = [x[key] for x in c]
        L.append(f"| {name} | {fmt(pct(vals, 0.5))} | {fmt(pct(vals, 0.9))} | "
                 f"{fmt(pct(vals, 1.0))} |")
    L.append("")
    ok = sum(1 for x in c if x.get("rb_ok"))
    L.append(f"Rollback after each cutover ({ok} handed back; the records kgw took in the "
             f"second after the cutover are copied back to the legacy cluster, then produce is "
             f"held for the last ones):")
    L.append("")
    L.append("| ms | p50 | p90 | max |")
    L.append("|---|---|---|---|")
    for key, name in (("rb_fence_ms", "kgw's fence (produce held)"),
                      ("rb_done_ms", "`migrate rollback` (request to handed back)"),
                      ("rb_producer_pause_ms", "the producer's longest wait for an ack")):
        vals = [x.get(key) for x in c]
        L.append(f"| {name} | {fmt(pct(vals, 0.5))} | {fmt(pct(vals, 0.9))} | "
                 f"{fmt(pct(vals, 1.0))} |")
    L.append("")
    return "\n".join(L)


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
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mirror-count", type=int, default=200000)
    ap.add_argument("--legacy", choices=("kgw", "mock"), default="kgw",
                    help="the legacy cluster: a second kgw (default), or librdkafka's mock "
                         "cluster (3 brokers; it keeps only the last few MiB of a partition, so "
                         "its consume and mirror figures cover little data)")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    for rel in ("kgw", "tools/bench/kgw-perf", "tools/kgw-mock-cluster",
                "tools/admin/kgw-admin"):
        if not os.access(os.path.join(args.build, rel), os.X_OK):
            sys.exit(f"proxy_bench: {os.path.join(args.build, rel)} is not built")
    b = Bench(args)
    try:
        b.start_legacy()
        b.start_kgw()
        res = {"pass": b.pass_through(), "mirror": b.mirror_rate(), "cutovers": b.cutovers()}
    finally:
        b.close()
    text = table(args, res)
    print(text)
    if args.write_doc:
        write_doc(text)


if __name__ == "__main__":
    main()
