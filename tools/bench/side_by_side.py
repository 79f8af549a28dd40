#!/usr/bin/python3
"""kgw against physical limits and a reference broker, in one run on this
machine, and the Markdown table of it.

    tools/bench/side_by_side.py [--build DIR] [--seconds S] [--write-doc] [--quick]

Measures, one after the other on the same machine:
  (a) raw loopback TCP throughput (build/tools/bench/kgw-loopback-bench);
  (b) raw RocksDB sequential writes of the same bytes with kgw's own
      database options and WAL settings (kgw-rocksdb-bench);
  (c) librdkafka's built-in mock cluster (build/tools/kgw-mock-cluster), an
      in-memory Kafka we did not write that keeps only recent data;
  (d) kgw (--fsync never, its default);
for 100-byte and 1 KiB messages, 1 and 16 partitions, acks=1 and acks=all:
produce throughput and produce->ack latency, consume from the log (from
offset 0, legacy per-partition consumer, no group), and end-to-end latency
(produce -> consume, linger.ms=0) at 50% of that target's own produce
rate. Every
client run is build/tools/bench/kgw-perf (librdkafka). For each case kgw
and the mock run back to back, so load from other work on the machine hits
both alike.

Prints the table and the targets; --write-doc also replaces the generated
section of docs/BENCHMARKS.md (between its markers) with it. Raw figures go
to --json-out (default: none). Needs a build (tools/dev/setup.sh) and
python3-confluent-kafka (topic creation)."""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN = "<!-- side_by_side.py: begin (generated, do not edit by hand) -->"
END = "<!-- side_by_side.py: end -->"

SIZES = (100, 1024)
PARTITIONS = (1, 16)
ACKS = ("1", "all")

# The targets (ratios measured in one run).
TARGET_MOCK_RATIO = 0.5        # produce 1 KiB acks=1: kgw/mock msgs/s
TARGET_ROCKSDB_RATIO = 0.9     # produce 1 KiB acks=1: kgw/raw RocksDB MB/s
TARGET_SMALL_MSGS = 1_000_000  # produce 100 B: msgs/s
TARGET_LOOPBACK_RATIO = 0.6    # consume: kgw/loopback MB/s
TARGET_E2E_P99_MS = 5.0        # end to end p99 at 50% load


def log(msg):
    print(f"side_by_side: {msg}", file=sys.stderr, flush=True)


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.tmp = tempfile.mkdtemp(prefix="kgw-bench-")
        self.procs = []
        for exe in ("kgw", "tools/kgw-mock-cluster", "tools/bench/kgw-perf",
                    "tools/bench/kgw-loopback-bench", "tools/bench/kgw-rocksdb-bench"):
            path = os.path.join(self.build, exe)
            if not os.access(path, os.X_OK):
                sys.exit(f"side_by_side: {path} is missing; run tools/dev/setup.sh first")

    def exe(self, name):
        return os.path.join(self.build, name)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_json(self, cmd, timeout=600, allow_incomplete=False):
        """Runs a benchmark program; returns its JSON lines (stdout). With
        allow_incomplete, a run that printed figures but exited non-zero
        (the mock cluster dropped messages a consumer had not read yet) is
        returned with "incomplete": true."""
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        sys.stderr.write("".join(l + "\n" for l in proc.stderr.splitlines()
                                 if "offset reset" not in l))
        out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0:
            if not (allow_incomplete and out):
                raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
            for x in out:
                x["incomplete"] = True
        return out

    # -- servers -------------------------------------------------------------

    def start_kgw(self):
        data = os.path.join(self.tmp, "kgw-data")
        out = open(os.path.join(self.tmp, "kgw.out"), "w")
        err = open(os.path.join(self.tmp, "kgw.err"), "w")
        p = subprocess.Popen([self.exe("kgw"), "--listen", "127.0.0.1:0", "--data-dir", data,
                              "--log-level", "warn"], stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        self.kgw_proc = p
        return self._wait_line(os.path.join(self.tmp, "kgw.out"), p,
                               lambda l: l.split("listening on ", 1)[1]
                               if l.startswith("kgw: listening on ") else None)

    def start_mock(self, topics):
        out_path = os.path.join(self.tmp, "mock.out")
        cmd = [self.exe("tools/kgw-mock-cluster"), "--brokers", "1", "--no-stdin"]
        for name, partitions in topics:
            cmd += ["--topic", f"{name}:{partitions}"]
        p = subprocess.Popen(cmd, stdout=open(out_path, "w"),
                             stderr=open(os.path.join(self.tmp, "mock.err"), "w"),
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return self._wait_line(out_path, p, lambda l: l.strip() or None)

    def _wait_line(self, path, proc, pick):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(path) as f:
                for line in f:
                    v = pick(line.rstrip("\n"))
                    if v:
                        return v
            if proc.poll() is not None:
                sys.exit(f"side_by_side: {proc.args[0]} exited with {proc.returncode}")
            time.sleep(0.05)
        sys.exit(f"side_by_side: {proc.args[0]} did not start")

    def create_kgw_topics(self, bootstrap, topics):
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": bootstrap})
        futures = admin.create_topics([NewTopic(n, p, 1) for n, p in topics],
                                      operation_timeout=30)
        for f in futures.values():
            f.result(timeout=60)

    # -- measurements ----------------------------------------------------------

    def perf(self, mode, bootstrap, topic, size, acks, extra=(), allow_incomplete=False):
        cmd = [self.exe("tools/bench/kgw-perf"), mode, "-b", bootstrap, "-t", topic,
               "-s", str(size), "-a", acks, "--json", *extra]
        return self.run_json(cmd, allow_incomplete=allow_incomplete)

    def produce(self, bootstrap, topic, size, acks):
        r = self.perf("produce", bootstrap, topic, size, acks,
                      ["-d", str(self.args.seconds), "-n", str(self.args.max_messages)])
        return r[-1]

    def consume(self, bootstrap, topic, size):
        return self.perf("consume", bootstrap, topic, size, "1")[-1]

    def e2e(self, bootstrap, topic, size, acks, rate, allow_incomplete=False):
        r = self.perf("e2e", bootstrap, topic, size, acks,
                      ["-r", str(int(rate)), "-d", str(self.args.e2e_seconds), "-l", "0"],
                      allow_incomplete=allow_incomplete)
        return {x["what"]: x for x in r}["e2e produce->consume"]

    def loopback(self):
        return self.run_json([self.exe("tools/bench/kgw-loopback-bench"), "--bytes",
                              str(self.args.loopback_bytes), "--json"])[-1]

    def rocksdb(self, nbytes, value):
        d = os.path.join(self.tmp, f"rocksdb-{value}-{nbytes}")
        try:
            return self.run_json([self.exe("tools/bench/kgw-rocksdb-bench"), "--dir", d,
                                  "--bytes", str(nbytes), "--value", str(value), "--json"])[-1]
        finally:
            shutil.rmtree(d, ignore_errors=True)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}"


def git_commit():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt_num(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt_ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.2f}"


def render(res):
    L = []
    L.append(f"{res['date']}, commit {res['commit']}, {res['machine']}; client on the same "
             f"machine; load average {res['load_before']} before, {res['load_after']} after "
             f"(the 2 cores are shared with other work, so absolute figures are noisy; the "
             f"ratios are what to read). kgw `--fsync never` (its default); produce runs "
             f"{res['seconds']} s per case (at most {res['max_messages']:,} messages), "
             f"e2e runs {res['e2e_seconds']} s at 50% of the same target's produce rate, with "
             f"linger.ms=0 (the produce runs use linger.ms=5, batch.num.messages=10000, "
             f"max.in.flight=5).")
    L.append("")
    L.append(f"References: (a) loopback TCP {res['loopback']['mb_per_s']:,.0f} MB/s; "
             f"(b) raw RocksDB sequential write, same bytes as kgw's produce run, 64 KiB values, "
             f"1 MiB per write: see the rows; (c) librdkafka {res['rdkafka']} mock cluster.")
    L.append("")
    L.append("| case | (a) loopback MB/s | (b) RocksDB MB/s | (c) mock msgs/s | (c) mock MB/s "
             "| (d) kgw msgs/s | (d) kgw MB/s | kgw/(a) | kgw/(b) | kgw/(c) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    loop = res["loopback"]["mb_per_s"]
    for c in res["cases"]:
        k, m = c["kgw"], c["mock"]
        name = f"produce {c['size']} B, {c['partitions']} p, acks={c['acks']}"
        rdb = c.get("rocksdb", {}).get("mb_per_s")
        L.append(f"| {name} | | {fmt_num(rdb)} | {fmt_num(m['produce']['msgs_per_s'])} | "
                 f"{m['produce']['mb_per_s']:,.1f} | {fmt_num(k['produce']['msgs_per_s'])} | "
                 f"{k['produce']['mb_per_s']:,.1f} | | "
                 f"{fmt_ratio(k['produce']['mb_per_s'], rdb)} | "
                 f"{fmt_ratio(k['produce']['msgs_per_s'], m['produce']['msgs_per_s'])} |")
    for c in res["cases"]:
        if "consume" not in c["kgw"]:
            continue
        k, m = c["kgw"]["consume"], c["mock"]["consume"]
        name = f"consume {c['size']} B, {c['partitions']} p"
        L.append(f"| {name} | {loop:,.0f} | | {fmt_num(m['msgs_per_s'])} | {m['mb_per_s']:,.1f} | "
                 f"{fmt_num(k['msgs_per_s'])} | {k['mb_per_s']:,.1f} | "
                 f"{fmt_ratio(k['mb_per_s'], loop)} | | (mock holds only {m['messages']:,}) |")
    L.append("")
    L.append("Latency in ms (produce -> ack from the produce runs at full speed; "
             "produce -> consume at 50% of that target's produce rate):")
    L.append("")
    L.append("| case | mock ack p50 / p99 | kgw ack p50 / p99 | e2e rate mock / kgw msgs/s "
             "| mock e2e p50 / p99 / p99.9 / max | kgw e2e p50 / p99 / p99.9 / max |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for c in res["cases"]:
        k, m = c["kgw"], c["mock"]
        name = f"{c['size']} B, {c['partitions']} p, acks={c['acks']}"

        def lat(e):
            if "p50_ms" not in e:
                return "none read"
            mark = " (lost, see note)" if e.get("incomplete") else ""
            return (f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f} / {e['p999_ms']:.2f} / "
                    f"{e['max_ms']:.1f}{mark}")
        L.append(f"| {name} | {m['produce']['p50_ms']:.1f} / {m['produce']['p99_ms']:.1f} | "
                 f"{k['produce']['p50_ms']:.1f} / {k['produce']['p99_ms']:.1f} | "
                 f"{fmt_num(m['e2e_rate'])} / {fmt_num(k['e2e_rate'])} | "
                 f"{lat(m['e2e'])} | {lat(k['e2e'])} |")
    L.append("")
    L.append("Note: the mock cluster keeps only the last few MiB of each partition, so its "
             "consume rows read only what was left (far fewer messages than kgw's), and its "
             "e2e consumer falls off the retained log when the rate is high (\"lost\": "
             "latencies of the part it read). kgw keeps everything.")
    L.append("")
    L.append("Targets (issue 7):")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for t in res["targets"]:
        L.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(L)


def targets(res):
    out = []

    def case(size, partitions, acks):
        for c in res["cases"]:
            if (c["size"], c["partitions"], c["acks"]) == (size, partitions, acks):
                return c
        return None

    for p in PARTITIONS:
        c = case(1024, p, "1")
        if c is None:
            continue
        k, m = c["kgw"]["produce"], c["mock"]["produce"]
        r = k["msgs_per_s"] / m["msgs_per_s"]
        out.append({"target": f"produce 1 KiB acks=1, {p} p: kgw >= 50% of mock msgs/s",
                    "measured": f"{r:.2f}", "met": r >= TARGET_MOCK_RATIO})
        if c.get("rocksdb"):
            r = k["mb_per_s"] / c["rocksdb"]["mb_per_s"]
            out.append({"target": f"produce 1 KiB acks=1, {p} p: kgw >= 90% of raw RocksDB MB/s",
                        "measured": f"{r:.2f}", "met": r >= TARGET_ROCKSDB_RATIO})
    for p in PARTITIONS:
        for acks in ACKS:
            c = case(100, p, acks)
            if c is None:
                continue
            v = c["kgw"]["produce"]["msgs_per_s"]
            out.append({"target": f"produce 100 B, {p} p, acks={acks}: >= 1,000,000 msgs/s",
                        "measured": f"{v:,.0f}", "met": v >= TARGET_SMALL_MSGS})
    for c in res["cases"]:
        if "consume" in c["kgw"]:
            r = c["kgw"]["consume"]["mb_per_s"] / res["loopback"]["mb_per_s"]
            out.append({"target": f"consume {c['size']} B, {c['partitions']} p: >= 60% of "
                                  f"loopback MB/s", "measured": f"{r:.2f}",
                        "met": r >= TARGET_LOOPBACK_RATIO})
    for c in res["cases"]:
        v = c["kgw"]["e2e"]["p99_ms"]
        out.append({"target": f"e2e p99 at 50% load, {c['size']} B, {c['partitions']} p, "
                              f"acks={c['acks']}: < 5 ms", "measured": f"{v:.2f} ms",
                    "met": v < TARGET_E2E_P99_MS})
    return out


def write_doc(table):
    with open(DOC) as f:
        text = f.read()
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(DOC, "w") as f:
        f.write(text)
    log(f"wrote {DOC}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=4.0, help="produce run length per case")
    ap.add_argument("--e2e-seconds", type=float, default=5.0)
    ap.add_argument("--max-messages", type=int, default=5_000_000,
                    help="cap per produce run (bounds disk use)")
    ap.add_argument("--loopback-bytes", type=int, default=8 << 30)
    ap.add_argument("--quick", action="store_true",
                    help="only 1 partition, acks=1, short runs (a smoke test of the script)")
    ap.add_argument("--write-doc", action="store_true", help="update docs/BENCHMARKS.md")
    ap.add_argument("--json-out", help="also write the raw figures here")
    ap.add_argument("--render", metavar="JSON",
                    help="measure nothing: print (and with --write-doc write) the table of the "
                         "figures an earlier --json-out saved")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            res = json.load(f)
        res["targets"] = targets(res)
        table = render(res)
        print(table)
        if args.write_doc:
            write_doc(table)
        return
    if args.quick:
        args.seconds, args.e2e_seconds, args.loopback_bytes = 1.0, 1.0, 1 << 30
    partitions = PARTITIONS[:1] if args.quick else PARTITIONS
    acks_list = ACKS[:1] if args.quick else ACKS

    r = Runner(args)
    try:
        res = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
               "machine": machine(), "seconds": args.seconds, "e2e_seconds": args.e2e_seconds,
               "max_messages": args.max_messages,
               "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()), "cases": []}
        try:
            import confluent_kafka
            res["rdkafka"] = confluent_kafka.libversion()[0]
        except ImportError:
            sys.exit("side_by_side: python3-confluent-kafka is missing (topic creation)")
        log("(a) loopback TCP")
        res["loopback"] = r.loopback()
        topics = [(f"bench-{s}-{p}-{a}", p) for s in SIZES for p in partitions for a in acks_list]
        kgw = r.start_kgw()
        r.create_kgw_topics(kgw, topics)
        mock = r.start_mock(topics)
        log(f"kgw at {kgw}, mock cluster at {mock}")
        for size in SIZES:
            for p in partitions:
                for acks in acks_list:
                    topic = f"bench-{size}-{p}-{acks}"
                    c = {"size": size, "partitions": p, "acks": acks, "kgw": {}, "mock": {}}
                    for name, addr in (("kgw", kgw), ("mock", mock)):
                        log(f"{name}: produce {size} B, {p} partitions, acks={acks}")
                        c[name]["produce"] = r.produce(addr, topic, size, acks)
                    if acks == acks_list[0]:
                        for name, addr in (("kgw", kgw), ("mock", mock)):
                            log(f"{name}: consume {topic}")
                            c[name]["consume"] = r.consume(addr, topic, size)
                    for name, addr in (("kgw", kgw), ("mock", mock)):
                        rate = c[name]["produce"]["msgs_per_s"] / 2
                        c[name]["e2e_rate"] = rate
                        log(f"{name}: e2e {size} B at {rate:,.0f} msgs/s")
                        c[name]["e2e"] = r.e2e(addr, topic, size, acks, rate,
                                               allow_incomplete=(name == "mock"))
                    if acks == "1":
                        log(f"(b) raw RocksDB, {c['kgw']['produce']['bytes']:,} bytes")
                        c["rocksdb"] = r.rocksdb(c["kgw"]["produce"]["bytes"], 64 << 10)
                    res["cases"].append(c)
        res["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
        res["targets"] = targets(res)
    finally:
        r.close()
    table = render(res)
    print(table)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f, indent=1)
    if args.write_doc:
        write_doc(table)


if __name__ == "__main__":
    main()
