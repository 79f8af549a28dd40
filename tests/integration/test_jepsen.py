"""Jepsen-style fault loops against three kgw nodes (issue 16, "Tests"):
partitions replicated three times (RF=3, min.insync.replicas=2), two
idempotent acks=all producers and a two-member consumer group running
throughout (jepsen/workload.py), and per scenario ROUNDS rounds of one
fault (jepsen/faults.py). Every round ends with the heal, a wait for the
cluster to converge (every broker names the same live leader for each
partition, with a full ISR), a wait for a write acknowledged, a record
read and an offset committed by the group after the heal, a restart of
one group member and an OffsetFetch of the group's committed offsets.
After the last round the clients stop, kgw is given the time to end
any transaction they left open (every partition's last stable offset at
its high watermark), one final read takes every partition from its start
to its end, and the checker
(jepsen/history.py) judges the whole history: lost, moved, duplicated,
divergent, truncated reads, committed offsets going backwards,
transactions partly visible, aborted-but-visible or lost, transformed
records missing must all be 0.

Scenarios (one test each, all on one cluster: in network namespaces,
netns_cluster.py, when we are root, else on loopback, kgw_cluster.py,
with the network partition skipped):
- kill-leader: kill -9 of a partition's leader (partition round % 3, so
  that rounds hit different nodes), restarted after the fault;
- kill-leader-wipe-disk: the same, and its store deleted before the
  restart (a replaced disk: the broker returns with its id and an empty
  log, and must not lead or rejoin the ISR before it caught up, KIP-903);
- pause-leader: SIGSTOP of the leader, SIGCONT after the fault (a paused
  leader must not acknowledge once another took over);
- kill-group-coordinator: kill -9 of the group's coordinator;
- rolling-restart: SIGTERM and restart of each node in turn, waiting for
  convergence in between; clients may see retriable errors only;
- kill-two: kill -9 of the leader and one more node, both restarted;
- kill-txn-coordinator: kill -9 of a transaction coordinator, in turn
  that of a transactional writer (transactions of three records, every
  third aborted) and that of a consume-transform-produce job (from the
  topic the producers write to another one, exactly once);
- partition-leader: the leader's node cut off the network, then healed.

ROUNDS is $KGW_JEPSEN_ROUNDS (2: the default run's short form;
tools/jepsen/run.sh --rounds 20 is the long one); $KGW_JEPSEN_SCENARIOS
(comma-separated names) runs some only; $KGW_JEPSEN_HISTORY_DIR keeps each
scenario's history as JSON (python3 -m jepsen.history FILE judges it
again). A round that does not converge ends the scenario's rounds: the
final read and the checker still run, and the test fails.
"""

import json
import os
import signal
import time
import unittest
import uuid

import kgw_cluster
import kgw_harness

kgw_cluster.require_etcd()
kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import KafkaError, KafkaException  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

import netns_cluster  # noqa: E402
from cluster_checks import admin, wait_for  # noqa: E402
from jepsen import workload  # noqa: E402
from jepsen.faults import Nodes  # noqa: E402
from jepsen.history import COUNTS, History, check  # noqa: E402
from test_cluster_transactions import coordinator  # noqa: E402

ROUNDS = int(os.environ.get("KGW_JEPSEN_ROUNDS", "2"))
ONLY = {s for s in os.environ.get("KGW_JEPSEN_SCENARIOS", "").split(",") if s}
HISTORY_DIR = os.environ.get("KGW_JEPSEN_HISTORY_DIR")
SESSION_MS = 3000  # broker.session.timeout.ms: a dead or cut-off broker is fenced after it
# A new group's first rebalance without the 3 s wait for more members:
# the member restarts of every round rebalance at once.
SETS = [f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000",
        "group.initial.rebalance.delay.ms=0"]
PARTITIONS = 3
REPLICATION = 3
MIN_ISR = int(os.environ.get("KGW_JEPSEN_MIN_ISR", "2"))
# Converged: every partition's ISR this large (the full replica set; a
# diagnostic run against a broker without replication lowers both).
CONVERGED_ISR = int(os.environ.get("KGW_JEPSEN_CONVERGED_ISR", str(REPLICATION)))
WRITERS = 2
MEMBERS = 2
# How long a fault lasts while the clients run: past the fencing of the
# node, so that leadership moves during it.
FAULT_S = SESSION_MS / 1000 + 2
# Bounds that only keep a broken cluster from hanging the test.
CONVERGE_TIMEOUT = 30
PROGRESS_TIMEOUT = 30


# -- the faults: each injects its fault, lets it last, and heals -------------

def kill_leader(run):
    leader = run.leader()
    run.nodes.signal(leader, signal.SIGKILL)
    run.during_fault()
    run.nodes.start(leader)


def kill_leader_wipe_disk(run):
    leader = run.leader()
    run.nodes.signal(leader, signal.SIGKILL)
    run.nodes.wipe_store(leader)
    run.during_fault()
    run.nodes.start(leader)


def pause_leader(run):
    leader = run.leader()
    run.nodes.signal(leader, signal.SIGSTOP)
    try:
        run.during_fault()
    finally:
        run.nodes.signal(leader, signal.SIGCONT)


def kill_group_coordinator(run):
    node = coordinator(run.nodes.bootstrap, "__consumer_offsets", run.group)
    run.nodes.signal(node, signal.SIGKILL)
    run.during_fault()
    run.nodes.start(node)


def rolling_restart(run):
    for node in run.nodes.ids:
        run.nodes.signal(node, signal.SIGTERM)
        run.nodes.start(node)
        run.wait_converged()


def kill_two(run):
    leader = run.leader()
    other = next(n for n in run.nodes.ids if n != leader)
    run.nodes.signal(leader, signal.SIGKILL)
    run.nodes.signal(other, signal.SIGKILL)
    run.during_fault()
    # The first back cannot be listed with the other still down.
    run.nodes.start(leader, wait="members")
    run.nodes.start(other)


def kill_txn_coordinator(run):
    # Odd rounds: the consume-transform-produce job's; even: the writer's.
    txn_id = (run.transformer if run.rnd % 2 else run.txn_writer).txn_id
    node = coordinator(run.nodes.bootstrap, "__transaction_state", txn_id)
    run.nodes.signal(node, signal.SIGKILL)
    run.during_fault()
    run.nodes.start(node)


def partition_leader(run):
    leader = run.leader()
    run.nodes.isolate(leader)
    try:
        run.during_fault()
    finally:
        run.nodes.heal(leader)


class Scenario:
    def __init__(self, name, fault, netns=False, retriable_only=False, txn=False):
        self.name, self.fault = name, fault
        self.netns = netns  # needs NetnsCluster
        self.retriable_only = retriable_only  # clients may see retriable errors only
        self.txn = txn  # with a transactional writer


SCENARIOS = [
    Scenario("kill-leader", kill_leader),
    Scenario("kill-leader-wipe-disk", kill_leader_wipe_disk),
    Scenario("pause-leader", pause_leader),
    Scenario("kill-group-coordinator", kill_group_coordinator),
    Scenario("rolling-restart", rolling_restart, retriable_only=True),
    Scenario("kill-two", kill_two),
    Scenario("kill-txn-coordinator", kill_txn_coordinator, txn=True),
    Scenario("partition-leader", partition_leader, netns=True),
]


# -- one scenario's run -------------------------------------------------------

class Run:
    def __init__(self, nodes, scenario):
        self.nodes, self.scenario = nodes, scenario
        self.history = nodes.history
        tag = uuid.uuid4().hex[:6]
        self.topic = f"jepsen-{scenario.name}-{tag}"
        self.txn_topic = f"jepsen-{scenario.name}-txn-{tag}" if scenario.txn else None
        self.group = f"jepsen-{scenario.name}-{tag}"
        self.topics = {self.topic: PARTITIONS}
        self.ctp_topic = f"jepsen-{scenario.name}-ctp-{tag}" if scenario.txn else None
        for t in (self.txn_topic, self.ctp_topic):
            if t:
                self.topics[t] = PARTITIONS
        self.problems = []  # rounds that did not converge or make progress
        self.writers, self.members, self.txn_writer, self.transformer = [], [], None, None
        self.rnd = 0
        self.began = time.monotonic()

    def log(self, text):
        print(f"[{self.scenario.name} {time.monotonic() - self.began:5.1f}s] {text}", flush=True)

    def leader(self):
        """The leader of partition (round % partitions): rounds hit different nodes."""
        p = self.rnd % PARTITIONS
        return wait_for(f"one leader of partition {p} named by every broker",
                        lambda: self.nodes.leader(self.topic, p), CONVERGE_TIMEOUT)

    def during_fault(self):
        time.sleep(FAULT_S)

    def wait_converged(self):
        """Waits for convergence; False (and a problem noted) if it does not."""
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        while (why := self.nodes.converged(self.topics, CONVERGED_ISR)) and \
                time.monotonic() < deadline:
            time.sleep(0.3)
        if why:
            self.problems.append(f"not converged within {CONVERGE_TIMEOUT} s: {why}")
        return not why

    def wait_progress(self):
        """Waits for a write acknowledged, a record read and an offset
        committed by the group after now (the clients carry on); False
        (and a problem noted) if not."""
        h = self.history

        def counts():
            return len(h.writes), len(h.reads), sum(1 for c in h.commits if c[1] == "acked")

        before = counts()
        deadline = time.monotonic() + PROGRESS_TIMEOUT
        while not all(n > b for n, b in zip(counts(), before)) and time.monotonic() < deadline:
            time.sleep(0.1)
        now = counts()
        if not all(n > b for n, b in zip(now, before)):
            self.problems.append(f"within {PROGRESS_TIMEOUT} s: {now[0] - before[0]} writes "
                                 f"acknowledged, {now[1] - before[1]} records read, "
                                 f"{now[2] - before[2]} offsets committed")
            return False
        return True

    def start(self):
        """Creates the topics, starts the clients; False if the cluster
        does not converge or acknowledge a write (no round then)."""
        self.create_topics()
        if not self.wait_converged():
            return False
        boot = self.nodes.bootstrap
        self.writers = [workload.Writer(f"w{i}", boot, self.topic, PARTITIONS, self.history)
                        for i in range(WRITERS)]
        self.members = [workload.GroupMember(f"m{i}", boot, self.group, self.topic, self.history)
                        for i in range(MEMBERS)]
        if self.txn_topic:
            self.txn_writer = workload.TxnWriter("tx", boot, self.txn_topic, PARTITIONS,
                                                 self.history)
            self.transformer = workload.Transformer("ctp", boot, self.topic, self.ctp_topic,
                                                    self.group + "-ctp", self.history)
        for c in self.clients():
            c.start()
        progress = self.wait_progress()
        self.log(f"clients running: {progress}")
        return progress

    def create_topics(self):
        """Creates the topics, retrying retriable errors as Kafka's Java
        admin client does (librdkafka's does not): the previous scenario's
        fault may still be healing on the node that takes the request."""
        client = admin(self.nodes.bootstrap)
        todo = set(self.topics)
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        first = True
        while True:
            new = [NewTopic(t, num_partitions=PARTITIONS, replication_factor=REPLICATION,
                            config={"min.insync.replicas": str(MIN_ISR)}) for t in sorted(todo)]
            futures = client.create_topics(new, operation_timeout=30, request_timeout=30)
            for topic, f in futures.items():
                try:
                    f.result(timeout=35)
                except KafkaException as e:
                    err = e.args[0]
                    # A retry of a creation that did happen finds the topic.
                    if err.code() == KafkaError.TOPIC_ALREADY_EXISTS and not first:
                        pass
                    elif err.retriable() and time.monotonic() < deadline:
                        self.log(f"creating {topic}: {err.str()}; retrying")
                        continue
                    else:
                        raise
                todo.discard(topic)
            if not todo:
                return
            first = False
            time.sleep(1)

    def clients(self):
        return self.writers + self.members + [c for c in (self.txn_writer, self.transformer) if c]

    def round(self, rnd):
        self.rnd = rnd
        errors_before = len(self.history.errors)
        self.history.event(f"round {rnd}")
        self.scenario.fault(self)
        self.log(f"round {rnd}: healed")
        converged = self.wait_converged() and self.wait_progress()
        self.members[rnd % MEMBERS].restart()
        if not workload.observe_commits(self.nodes.bootstrap, self.group, self.topic, PARTITIONS,
                                        self.history):
            self.history.event(f"round {rnd}: OffsetFetch unanswered")
        self.log(f"round {rnd}: {'converged' if converged else 'NOT converged'}; "
                 f"{len(self.history.writes)} acknowledged, {len(self.history.reads)} read, "
                 f"{len(self.history.errors) - errors_before} client errors")
        return converged

    def finish(self):
        """Stops the clients, reads everything, judges; returns the verdict."""
        for c in self.clients():
            c.stop()
        for c in self.clients():
            c.join(workload.MESSAGE_TIMEOUT_MS / 1000 + 30)
        self.log("clients stopped")
        # A transaction the clients left open (its outcome unknown) or one
        # being completed: both end by themselves (the transaction
        # timeout, the coordinator's markers); judged once they did.
        for topic in self.topics:
            unstable = workload.wait_stable(self.nodes.bootstrap, topic, PARTITIONS,
                                            timeout=workload.TXN_TIMEOUT_MS / 1000 + 40)
            if unstable:
                self.problems.append(f"{topic}: a transaction still open on partitions "
                                     f"{unstable} (last stable offset below the high watermark)")
        workload.observe_commits(self.nodes.bootstrap, self.group, self.topic, PARTITIONS,
                                 self.history)
        if self.transformer:
            workload.observe_commits(self.nodes.bootstrap, self.transformer.group, self.topic,
                                     PARTITIONS, self.history)
        for topic in self.topics:
            unfinished = workload.final_read(self.nodes.bootstrap, topic, PARTITIONS, self.history)
            if unfinished:
                self.problems.append(f"the final read of {topic} did not reach the end of "
                                     f"partitions {unfinished}")
        verdict = check(self.history)
        self.log(verdict.report())
        if HISTORY_DIR:
            os.makedirs(HISTORY_DIR, exist_ok=True)
            path = os.path.join(HISTORY_DIR, f"{self.scenario.name}.json")
            with open(path, "w") as f:
                json.dump(self.history.to_json(), f)
            self.log(f"history saved to {path}")
        return verdict


class JepsenCase(unittest.TestCase):
    def run_scenario(self, cluster, scenario):
        run = Run(Nodes(cluster, History()), scenario)
        try:
            if run.start():
                for rnd in range(1, ROUNDS + 1):
                    if not run.round(rnd):
                        break
        finally:
            verdict = run.finish()
        errors = sorted({(who.split(".")[0], name) for who, name, ok in run.history.errors
                         if not ok})
        if run.history.errors:
            run.log(f"client errors: {len(run.history.errors)}, non-retriable: {errors}")
        for p in run.problems:
            run.log(f"problem: {p}")
        self.assertEqual(verdict.counts, {name: 0 for name in COUNTS}, verdict.summary())
        self.assertEqual(run.problems, [])
        if scenario.retriable_only:
            self.assertEqual(errors, [], "clients saw non-retriable errors")


class JepsenTest(JepsenCase):
    """Every scenario on one cluster: in network namespaces when they can
    be made here (root), else on loopback, the network partition skipped."""

    cluster = None

    @classmethod
    def setUpClass(cls):
        if all(ONLY and s.name not in ONLY for s in SCENARIOS):
            return
        cls.netns = _netns_usable()
        cls.cluster = (netns_cluster.NetnsCluster(3, sets=SETS) if cls.netns else
                       kgw_cluster.KgwCluster(3, sets=SETS))
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        if cls.cluster:
            cls.cluster.close()


def _netns_usable():
    try:
        netns_cluster.require_netns()  # exits 77 when it cannot run here
    except SystemExit:
        return False
    return True


# Scenarios with a known, open loss: left out of the default run (the short
# form in CI) unless named in $KGW_JEPSEN_SCENARIOS or
# $KGW_JEPSEN_KNOWN_LOSSES=1 (tools/jepsen/run.sh sets it: the long form
# runs and reports them). Empty now: kill-leader-wipe-disk, the last one,
# loses nothing since eligible leader replicas (KIP-966), a wiped log never
# leading (KIP-903) and the replicated __consumer_offsets (its committed
# offsets used to go backwards when the wiped node was the coordinator).
KNOWN_LOSSES: set[str] = set()
RUN_KNOWN_LOSSES = os.environ.get("KGW_JEPSEN_KNOWN_LOSSES") == "1"


def _add(scenario):
    def test(self):
        if ONLY and scenario.name not in ONLY:
            self.skipTest("not in $KGW_JEPSEN_SCENARIOS")
        if scenario.name in KNOWN_LOSSES and not ONLY and not RUN_KNOWN_LOSSES:
            self.skipTest("a known, open loss (KNOWN_LOSSES): tools/jepsen/run.sh runs it")
        if scenario.netns and not self.netns:
            self.skipTest("network namespaces need root and a working `ip netns`")
        self.run_scenario(self.cluster, scenario)
    name = "test_" + scenario.name.replace("-", "_")
    test.__name__ = name
    setattr(JepsenTest, name, test)


for s in SCENARIOS:
    _add(s)


if __name__ == "__main__":
    unittest.main(verbosity=2)
