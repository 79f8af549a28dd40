"""kgw-admin's cluster views against a three-node kgw cluster (co-located
etcd members, run-cluster.sh): `kgw-admin cluster` lists the three brokers
with their rack, the controller and, with --etcd, the three etcd members
healthy; topics describe shows each partition's leader, replicas and ISR as
kafka-topics.sh --describe, leaders on all three brokers. After kill -9 of
one node its etcd member is reported unreachable and, once its session
timed out, its broker is gone from the list and its replica offline."""

import os
import re
import subprocess
import time
import unittest
import uuid

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()

TIMEOUT = 60.0
SESSION_MS = 4000  # broker.session.timeout.ms: the fencing check waits for it
RACK = "rack-a"  # every node's broker.rack (run-cluster.sh passes --set to all)
BUILD_DIR = os.path.dirname(kgw_harness.kgw_path())
ADMIN = os.path.join(BUILD_DIR, "tools", "admin", "kgw-admin")

if not os.access(ADMIN, os.X_OK):
    kgw_harness.skip_all(f"{ADMIN} is not built (it needs librdkafka-dev)")


def run(*args, ok=True):
    p = subprocess.run([ADMIN, *args], capture_output=True, text=True, timeout=TIMEOUT)
    if ok and p.returncode != 0:
        raise AssertionError(f"kgw-admin {' '.join(args)} exited {p.returncode}:\n"
                             f"{p.stdout}{p.stderr}")
    return p


def brokers_of(out):
    """{id: (host:port, rack)} from the Brokers table of `kgw-admin cluster`."""
    rows = {}
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Brokers:"))
    for line in lines[start + 2:]:
        m = re.match(r"^  (\d+)\s+(\S+)\s+(\S+)", line)
        if not m:
            break
        rows[int(m.group(1))] = (m.group(2), m.group(3))
    return rows


def etcd_members_of(out):
    """{name: health} from the etcd members table."""
    rows = {}
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("etcd members:"))
    for line in lines[start + 2:]:
        fields = line.split()
        if len(fields) < 4 or not line.startswith("  ") or line.startswith("  endpoint"):
            break
        rows[fields[1]] = fields[2]
    return rows


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


class AdminCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3,
            sets=[
                f"broker.session.timeout.ms={SESSION_MS}",
                "broker.heartbeat.interval.ms=1000",
                f"broker.rack={RACK}",
            ],
        )
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def cluster_out(self, *extra, bootstrap=None, ok=True):
        return run("cluster", "--bootstrap-server", bootstrap or self.cluster.bootstrap,
                   "--etcd", self.cluster.etcd_endpoints, *extra, ok=ok)

    def test_1_cluster_lists_brokers_controller_and_etcd(self):
        out = self.cluster_out().stdout
        self.assertRegex(out, r"(?m)^Cluster id: \S{22}$", out)
        brokers = brokers_of(out)
        self.assertEqual(sorted(brokers), [1, 2, 3], out)
        for node in (1, 2, 3):
            self.assertEqual(brokers[node], (f"127.0.0.1:{self.cluster.port(node)}", RACK), out)
        m = re.search(r"(?m)^Controller: (\d+) \(127\.0\.0\.1:(\d+)\)$", out)
        self.assertIsNotNone(m, out)
        self.assertIn(int(m.group(1)), (1, 2, 3))
        self.assertEqual(int(m.group(2)), self.cluster.port(int(m.group(1))), out)
        members = etcd_members_of(out)
        self.assertEqual(members, {"kgw-1": "healthy", "kgw-2": "healthy", "kgw-3": "healthy"},
                         out)
        self.assertEqual(len(re.findall(r"(?m)^  \S+\s+kgw-\d\s+healthy\s+yes\s", out)), 1,
                         f"one etcd leader: {out}")

    def test_2_without_etcd_says_how_and_bad_endpoint_is_named(self):
        out = run("cluster", "--bootstrap-server", self.cluster.bootstrap).stdout
        self.assertIn("etcd members: not queried (pass --etcd", out)
        self.assertEqual(sorted(brokers_of(out)), [1, 2, 3], out)
        dead = f"127.0.0.1:{kgw_cluster.free_port_range(1)}"
        p = run("cluster", "--bootstrap-server", self.cluster.bootstrap, "--etcd", dead,
                "--timeout-ms", "1000", ok=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(dead, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        p = run("cluster", "--bootstrap-server", dead, ok=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(dead, p.stderr)

    def test_3_describe_shows_leaders_on_three_brokers(self):
        topic = "admin-" + uuid.uuid4().hex[:8]
        run("topics", "create", "--bootstrap-server", self.cluster.bootstrap, "--topic", topic,
            "--partitions", "6", "--replication-factor", "1")

        def leaders():
            out = run("topics", "describe", "--bootstrap-server", self.cluster.bootstrap,
                      "--topic", topic).stdout
            rows = re.findall(r"(?m)^\tTopic: (\S+)\tPartition: (\d+)\tLeader: (-?\d+)\t"
                              r"Replicas: ([\d,]*)\tIsr: ([\d,]*)$", out)
            return rows if len(rows) == 6 else None

        rows = wait_for("six partitions described", leaders, 30)
        self.assertEqual(sorted({int(r[2]) for r in rows}), [1, 2, 3], rows)
        for _, _, leader, replicas, isr in rows:
            self.assertEqual(replicas, leader)
            self.assertEqual(isr, leader)
        type(self).topic = topic

    def test_4_killed_node_unreachable_then_gone(self):
        victim = 3
        self.cluster.kill_node(victim)
        survivor = f"127.0.0.1:{self.cluster.port(1)}"
        out = self.cluster_out("--timeout-ms", "2000", bootstrap=survivor).stdout
        self.assertEqual(etcd_members_of(out).get(f"kgw-{victim}"), "unreachable", out)
        self.assertIn(f"127.0.0.1:{self.cluster.client_port(victim)}", out)

        # The survivors may say unhealthy while they elect a new etcd leader
        # (when the victim led); they are healthy again within seconds.
        def survivors_healthy():
            out = self.cluster_out("--timeout-ms", "2000", bootstrap=survivor).stdout
            members = etcd_members_of(out)
            expected = {"kgw-1": "healthy", "kgw-2": "healthy", f"kgw-{victim}": "unreachable"}
            return out if members == expected else None

        wait_for("two healthy etcd members and one unreachable", survivors_healthy, 30)

        def gone():
            out = self.cluster_out("--timeout-ms", "2000", bootstrap=survivor).stdout
            return out if sorted(brokers_of(out)) == [1, 2] else None

        wait_for(f"broker {victim} gone from the list", gone, SESSION_MS / 1000 + 30)
        topic = getattr(type(self), "topic", None)
        if topic is None:
            return
        # Its RF=1 partitions have no other replica: no leader, replica offline.
        out = run("topics", "describe", "--bootstrap-server", survivor, "--topic", topic,
                  "--unavailable-partitions").stdout
        lines = [line for line in out.splitlines() if line.strip()]
        self.assertTrue(lines, "no unavailable partition listed")
        for line in lines:
            self.assertRegex(line, rf"Replicas: {victim}\tIsr: [\d,]*\tOffline: {victim}$")
            self.assertNotIn("PartitionCount", line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
