"""Faults for the Jepsen-style runs, on a KgwCluster (loopback,
run-cluster.sh) or a NetnsCluster (network namespaces, root), through one
small interface, and the cluster's state as its brokers tell it.

    nodes = Nodes(cluster)
    nodes.leader(topic, 0)          # the leader every live broker names, or None
    nodes.signal(2, signal.SIGSTOP) # SIGKILL and SIGTERM wait for the exit
    nodes.start(2)                  # back, serving (wait="members": without
                                    # waiting for every broker to be listed)
    nodes.wipe_store(2)             # a stopped node's RocksDB files deleted
    nodes.isolate(2); nodes.heal(2) # NetnsCluster only
    nodes.converged(topics, isr)  # "" once converged, else what is not

Each fault a scenario injects is also an event of the run's history.
"""

import os
import shutil
import signal

import kgw_cluster
from cluster_checks import broker_metadata


class Nodes:
    def __init__(self, cluster, history):
        self.cluster = cluster
        self.history = history
        self.netns = not isinstance(cluster, kgw_cluster.KgwCluster)
        self.ids = list(range(1, cluster.n + 1))
        self.down = set()  # killed or stopped, not started again
        self.paused = set()

    @property
    def bootstrap(self):
        return self.cluster.bootstrap

    def addr(self, node):
        if self.netns:
            return self.cluster.addr(node)
        return f"127.0.0.1:{self.cluster.port(node)}"

    def up(self):
        return [n for n in self.ids if n not in self.down]

    def leader(self, topic, partition):
        """The leader all live, unpaused brokers name for the partition
        (None while they disagree or name none)."""
        named = set()
        for n in self.up():
            if n in self.paused or n in getattr(self.cluster, "isolated", ()):
                continue
            md = broker_metadata(self.addr(n), timeout=5)
            t = md["topics"].get(topic)
            named.add(t["partitions"].get(partition, -1) if t else -1)
        return named.pop() if len(named) == 1 and -1 not in named else None

    # -- faults ---------------------------------------------------------------

    def signal(self, node, sig):
        self.history.event(f"node {node}: {signal.Signals(sig).name}")
        wait = sig in (signal.SIGKILL, signal.SIGTERM)
        if self.netns:
            if wait:
                self.cluster.stop_node(node, sig)
            else:
                self.cluster.procs[node].send_signal(sig)
        else:
            self.cluster.kill_node(node, sig, wait=wait)
        if wait:
            self.down.add(node)
        elif sig == signal.SIGSTOP:
            self.paused.add(node)
        elif sig == signal.SIGCONT:
            self.paused.discard(node)

    def start(self, node, wait="metadata"):
        """Starts a stopped node; returns once it serves (wait="members":
        its etcd member healthy, without waiting for every broker to be
        listed, for a node started while another is still down)."""
        self.history.event(f"node {node}: start")
        if self.netns:
            self.cluster.start_node(node)
            if wait == "metadata":
                self.cluster.wait_serving([node])
        else:
            saved, self.cluster.wait = self.cluster.wait, wait
            try:
                self.cluster.start_node(node)
            finally:
                self.cluster.wait = saved
        self.down.discard(node)

    def wipe_store(self, node):
        """Deletes a stopped node's store (its RocksDB files), keeping its
        etcd member's data, its logs and cluster.id: a disk replaced under
        a broker that comes back with the same id and an empty log."""
        assert node in self.down, f"node {node} runs"
        self.history.event(f"node {node}: store wiped")
        kept = {"etcd", "etcd.log", "etcd.pid", "kgw.log", "kgw.pid", "cluster.id"}
        where = self.cluster.node_dir(node)
        for name in os.listdir(where):
            if name not in kept:
                path = os.path.join(where, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    def isolate(self, node):
        self.history.event(f"node {node}: cut off")
        self.cluster.isolate(node)

    def heal(self, node):
        self.history.event(f"node {node}: healed")
        self.cluster.heal(node)

    # -- convergence ----------------------------------------------------------

    def converged(self, topics, isr_size):
        """"" when every broker lists all the others and, for each
        partition of `topics` ({name: partitions}), names the same live
        leader and an ISR of at least isr_size brokers; else what is not so."""
        views = {}
        for n in self.ids:
            try:
                views[n] = broker_metadata(self.addr(n), timeout=5)
            except (OSError, ValueError) as e:
                return f"node {n}: Metadata failed ({e})"
        for n, v in views.items():
            if sorted(v["brokers"]) != self.ids:
                return f"node {n} lists brokers {sorted(v['brokers'])}"
        for topic, partitions in topics.items():
            for p in range(partitions):
                leaders = {n: v["topics"].get(topic, {}).get("partitions", {}).get(p, -1)
                           for n, v in views.items()}
                if len(set(leaders.values())) != 1 or -1 in leaders.values():
                    return f"{topic}[{p}]: leaders named {leaders}"
                isr = views[self.ids[0]]["topics"][topic]["isr"][p]
                if len(isr) < isr_size:
                    return f"{topic}[{p}]: ISR {isr}, fewer than {isr_size}"
        return ""
