#!/usr/bin/python3
"""Scale figures of one kgw node: many partitions, many idle connections,
restart with a lot of data.

    tools/bench/scale.py [--build DIR] [--partitions N] [--connections N] [--data-gib G]
                         [--write-doc]

  1. N partitions (default 10,000, as 100 topics of N/100 partitions)
     created with CreateTopics: the time it takes and kgw's RSS before and
     after; then the time to restart (SIGTERM, start) with them.
  2. N idle connections (default 5,000), each having sent one ApiVersions
     request and read the answer: kgw's RSS before and after, per connection.
  3. G GiB of data (default 5) produced with kgw-perf (1 KiB values, 16
     partitions): the time from start to "listening" after a clean stop
     (SIGTERM) and after SIGKILL.
Prints a Markdown table; --write-doc puts it into docs/BENCHMARKS.md
between its markers. Needs a build and python3-confluent-kafka.
"""

import argparse
import datetime
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN = "<!-- scale.py: begin (generated, do not edit by hand) -->"
END = "<!-- scale.py: end -->"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import git_commit, machine  # noqa: E402


def log(msg):
    print(f"scale: {msg}", file=sys.stderr, flush=True)


class Kgw:
    def __init__(self, build, data_dir, *extra):
        self.exe = os.path.join(build, "kgw")
        self.data_dir = data_dir
        self.extra = list(extra)
        self.proc = None
        self.n = 0

    def start(self):
        """Starts kgw; returns seconds until its listening line."""
        self.n += 1
        out = os.path.join(self.data_dir + f".out{self.n}")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.exe, "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, "--log-level",
             "warn", *self.extra], stdout=open(out, "w"), stderr=open(self.data_dir + ".err", "a"),
            stdin=subprocess.DEVNULL)
        while True:
            with open(out) as f:
                m = re.search(r"^kgw: listening on (\S+)$", f.read(), re.M)
            if m:
                self.bootstrap = m.group(1)
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                sys.exit(f"scale: kgw exited with {self.proc.returncode}")
            time.sleep(0.01)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=600)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def api_versions_v0(corr):
    h = struct.pack(">hhih", 18, 0, corr, 5) + b"scale"
    return struct.pack(">i", len(h)) + h


def partitions_case(args, tmp):
    from confluent_kafka.admin import AdminClient, NewTopic
    k = Kgw(args.build, os.path.join(tmp, "partitions"))
    k.start()
    time.sleep(0.5)
    before = k.rss_mib()
    topics = 100
    per = max(1, args.partitions // topics)
    admin = AdminClient({"bootstrap.servers": k.bootstrap})
    t0 = time.monotonic()
    futures = admin.create_topics([NewTopic(f"scale-{i}", per, 1) for i in range(topics)],
                                  operation_timeout=300)
    for f in futures.values():
        f.result(timeout=600)
    created_s = time.monotonic() - t0
    time.sleep(0.5)
    after = k.rss_mib()
    k.stop()
    restart_s = k.start()
    restart_rss = k.rss_mib()
    k.stop()
    n = topics * per
    return [
        (f"create {n:,} partitions ({topics} topics x {per}, one CreateTopics request)",
         f"{created_s * 1000:.1f} ms"),
        (f"RSS before / after {n:,} partitions", f"{before:.0f} / {after:.0f} MiB "
         f"({(after - before) * 1024 / n:.1f} KiB per partition)"),
        (f"restart with {n:,} partitions (SIGTERM, start to listening)",
         f"{restart_s * 1000:.0f} ms, RSS {restart_rss:.0f} MiB"),
    ]


def connections_case(args, tmp):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))  # kgw inherits it
    k = Kgw(args.build, os.path.join(tmp, "connections"))
    k.start()
    port = int(k.bootstrap.rsplit(":", 1)[1])
    time.sleep(0.5)
    before = k.rss_mib()
    socks = []
    try:
        for i in range(args.connections):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(api_versions_v0(i))
            socks.append(s)
        for s in socks:  # every connection answered: kgw has set it up
            size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
            s.recv(size, socket.MSG_WAITALL)
        time.sleep(1)
        after = k.rss_mib()
    finally:
        for s in socks:
            s.close()
    k.stop()
    n = len(socks)
    return [(f"{n:,} idle connections: RSS before / after", f"{before:.0f} / {after:.0f} MiB "
             f"({(after - before) * 1024 / n:.1f} KiB per connection)")]


def restart_case(args, tmp):
    from confluent_kafka.admin import AdminClient, NewTopic
    k = Kgw(args.build, os.path.join(tmp, "restart"))
    k.start()
    admin = AdminClient({"bootstrap.servers": k.bootstrap})
    for f in admin.create_topics([NewTopic("scale-data", 16, 1)]).values():
        f.result(timeout=60)
    count = int(args.data_gib * (1 << 30) / 1024)
    log(f"producing {count:,} x 1 KiB")
    t0 = time.monotonic()
    subprocess.run([os.path.join(args.build, "tools/bench/kgw-perf"), "produce", "-b",
                    k.bootstrap, "-t", "scale-data", "-s", "1024", "-n", str(count)], check=True)
    produce_s = time.monotonic() - t0
    k.stop()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(k.data_dir)
               for f in fs) / 2**30
    clean_s = k.start()
    k.stop(signal.SIGKILL)
    killed_s = k.start()
    rss = k.rss_mib()
    k.stop()
    return [
        (f"{args.data_gib:g} GiB produced (1 KiB, 16 partitions)", f"{produce_s:.1f} s; data dir "
         f"{size:.2f} GiB"),
        ("restart after SIGTERM (start to listening)", f"{clean_s * 1000:.0f} ms"),
        ("restart after SIGKILL (WAL replay)", f"{killed_s * 1000:.0f} ms, RSS {rss:.0f} MiB"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--partitions", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=5_000)
    ap.add_argument("--data-gib", type=float, default=5.0)
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="kgw-scale-")
    rows = []
    load = os.getloadavg()[0]
    try:
        log("partitions")
        rows += partitions_case(args, tmp)
        log("connections")
        rows += connections_case(args, tmp)
        log("restart")
        rows += restart_case(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [f"{datetime.date.today().isoformat()}, commit {git_commit()}, {machine()}; load "
             f"average {load:.1f} at the start (shared machine: times are noisy).", "",
             "| what | figure |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    table = "\n".join(lines)
    print(table)
    if args.write_doc:
        with open(DOC) as f:
            text = f.read()
        block = f"{BEGIN}\n{table}\n{END}"
        if BEGIN in text:
            text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                          flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        with open(DOC, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
