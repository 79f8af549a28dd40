"""The co-located etcd members of a 3-node cluster started by
tools/dev/run-cluster.sh: they form one healthy etcd cluster (3 members
named kgw-1..3, every endpoint healthy); a member killed with SIGKILL is
restarted by its kgw (new pid in etcd.pid, healthy again, the exit and the
restart in kgw.log); a kgw killed with SIGKILL takes its member with it and
--start-node brings both back into the same cluster; --stop and a new start
on the same dir bring back the same etcd cluster (same cluster id).

This checks the members and the Kafka ports only (wait="members"): every
node listing all brokers in Metadata is the etcd metadata log's test."""

import json
import os
import signal
import subprocess
import tempfile
import unittest

import kgw_cluster
import kgw_harness
from kafka_wire import Conn, Enc

kgw_cluster.require_etcd()

N = 3


def metadata_brokers(port):
    c = Conn(f"127.0.0.1:{port}", timeout=10)
    try:
        d = c.call(api_key=3, version=1, body=Enc().i32(0))
        return d.array(lambda d: (d.i32(), d.string(), d.i32(), d.string()))
    finally:
        c.close()


class BadSettingsTest(unittest.TestCase):
    """Bad cluster settings stop kgw at start with one line naming the setting."""

    def run_kgw(self, *sets):
        with tempfile.TemporaryDirectory(prefix="kgw-it-") as d:
            args = [kgw_harness.kgw_path(), "--listen", "127.0.0.1:0", "--data-dir", d]
            for s in sets:
                args += ["--set", s]
            r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            return r.returncode, r.stderr.decode(errors="replace")

    def test_bad_values_name_the_setting(self):
        for sets, words in [
            (["metadata.etcd.member.peer.port=70000"],
             "metadata.etcd.member.peer.port: Value must be no more than 65535"),
            (["broker.session.timeout.ms=abc"], "broker.session.timeout.ms"),
            (["metadata.etcd.endpoints=nohost"], "metadata.etcd.endpoints: 'nohost'"),
            (["metadata.etcd.initial.cluster=kgw-2=http://127.0.0.1:2380"],
             "has no member kgw-1"),
            (["metadata.etcd.initial.cluster=kgw-1=http://127.0.0.1:2390"],
             "metadata.etcd.member.peer.port"),
            (["broker.heartbeat.interval.ms=9000"], "broker.heartbeat.interval.ms (9000)"),
        ]:
            code, err = self.run_kgw(*sets)
            self.assertEqual(code, 2, (sets, err))
            self.assertIn(words, err, sets)
            self.assertEqual(len(err.strip().splitlines()), 1, err)


class ClusterMembersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(N, wait="members")
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def members(self):
        out = json.loads(self.cluster.etcdctl("member", "list", "-w", "json"))
        return out["header"]["cluster_id"], sorted(m.get("name", "") for m in out["members"])

    def assert_healthy(self, endpoints=None):
        out = kgw_harness.wait_until(
            lambda: self._health(endpoints), timeout=30, interval=0.2, what="every member healthy")
        self.assertEqual(out.count("is healthy"), len((endpoints or self.cluster.etcd_endpoints)
                                                      .split(",")), out)

    def _health(self, endpoints):
        try:
            return self.cluster.etcdctl("endpoint", "health", endpoints=endpoints)
        except kgw_cluster.ClusterError:
            return None

    def test_1_nodes_tsv_and_one_healthy_etcd_cluster(self):
        c = self.cluster
        nodes = c.nodes()
        self.assertEqual([n["node_id"] for n in nodes], [1, 2, 3])
        for n in nodes:
            self.assertEqual(n["kafka_port"], c.base_port + n["node_id"] - 1)
            self.assertTrue(c.kgw_alive(n["node_id"]))
            self.assertEqual(n["etcd_pid"], c.etcd_pid(n["node_id"]))
            self.assertTrue(c.etcd_alive(n["node_id"]))
            # etcd's ports are above the Kafka ones.
            self.assertGreaterEqual(c.client_port(n["node_id"]), c.base_port + N)
        with open(os.path.join(c.dir, "nodes.tsv")) as f:
            self.assertEqual(f.readline(), "node_id\tkgw_pid\tkafka_port\tetcd_pid\n")
        _, names = self.members()
        self.assertEqual(names, ["kgw-1", "kgw-2", "kgw-3"])
        self.assert_healthy()
        for i in range(1, N + 1):
            brokers = metadata_brokers(c.port(i))
            self.assertIn((i, "127.0.0.1", c.port(i)), [b[:3] for b in brokers])

    def test_2_killed_member_is_restarted_by_kgw(self):
        c = self.cluster
        old = c.kill_etcd(2, signal.SIGKILL)
        kgw_harness.wait_until(lambda: c.etcd_pid(2) != old and c.etcd_alive(2), timeout=30,
                               what="node 2's etcd restarted")
        self.assertTrue(c.kgw_alive(2))
        self.assert_healthy()
        log = c.kgw_log(2)
        self.assertIn(f"etcd member kgw-2 (pid {old}) was killed by signal 9", log)
        self.assertIn(f"etcd member kgw-2 restarted: pid {c.etcd_pid(2)}", log)
        _, names = self.members()
        self.assertEqual(names, ["kgw-1", "kgw-2", "kgw-3"])

    def test_3_killed_node_comes_back_with_start_node(self):
        c = self.cluster
        member = c.etcd_pid(3)
        c.kill_node(3, signal.SIGKILL)
        # Its member dies with it (parent-death signal): nothing unsupervised
        # keeps node 3's ports.
        kgw_harness.wait_until(lambda: not c.etcd_alive(3), timeout=10,
                               what="node 3's etcd gone with its kgw")
        self.assertFalse(kgw_cluster._alive(member))
        c.start_node(3)
        self.assertTrue(c.kgw_alive(3))
        self.assertEqual(c.nodes()[2]["kgw_pid"], c.kgw_pid(3))
        self.assertEqual(c.nodes()[2]["etcd_pid"], c.etcd_pid(3))
        self.assert_healthy()
        _, names = self.members()
        self.assertEqual(names, ["kgw-1", "kgw-2", "kgw-3"])

    def test_4_stop_and_start_again_is_the_same_cluster(self):
        c = self.cluster
        c.etcdctl("put", "/kgw-test/kept", "yes")
        cluster_id, _ = self.members()
        pids = [(c.kgw_pid(i), c.etcd_pid(i)) for i in range(1, N + 1)]
        c.stop()
        for kgw_pid, etcd_pid in pids:
            self.assertFalse(kgw_cluster._alive(kgw_pid))
            self.assertFalse(kgw_cluster._alive(etcd_pid))
        for i in range(1, N + 1):
            # SIGTERM is a clean stop for kgw and its member.
            self.assertIn("etcd member stopped", c.kgw_log(i))
        c.start()
        again, names = self.members()
        self.assertEqual(again, cluster_id)
        self.assertEqual(names, ["kgw-1", "kgw-2", "kgw-3"])
        self.assertIn("yes", c.etcdctl("get", "/kgw-test/kept"))
        self.assert_healthy()


if __name__ == "__main__":
    kgw_harness.main()
