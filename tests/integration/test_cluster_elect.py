"""ElectLeaders (API 43) on three kgw nodes, sent over the wire to a broker
that is not the controller (the controller decides it through etcd).

A topic of 3 partitions, RF=3: at first every partition is led by its
preferred (first) replica, so a preferred election is not needed. The
preferred leader of partition 0 is killed (kill -9): leadership moves to
the next ISR member. A preferred election is then
PREFERRED_LEADER_NOT_AVAILABLE and an unclean one not needed (a leader
exists). The killed node comes back, catches up and rejoins the ISR; a
preferred election then gives it its leadership back (leader epoch + 1).
"""

import unittest

import admin_wire
import cluster_image
import kgw_cluster
import kgw_harness
from kafka_wire import Conn, Enc

kgw_cluster.require_etcd()

SESSION_MS = 3000
TOPIC = "elect"
NONE, UNKNOWN, PREFERRED_NOT_AVAILABLE, ELIGIBLE_NOT_AVAILABLE, NOT_NEEDED = 0, 3, 80, 83, 84


def wait_for(what, fn, timeout=30):
    return kgw_harness.wait_until(fn, timeout, interval=0.3, what=what)


def create_rf3(port, name, partitions):
    body = (Enc().array([name], lambda e, n: e.string(n).i32(partitions).i16(3).i32(0).i32(0))
            .i32(8000).boolean(False))
    c = Conn(f"127.0.0.1:{port}", timeout=20)
    try:
        d = c.call(api_key=19, version=4, body=body)
    finally:
        c.close()
    d.i32()
    return d.array(lambda d: (d.string(), d.i16(), d.string()))[0][1]


class ClusterElectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = kgw_cluster.KgwCluster(
            3, sets=[f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=1000"])
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def addr(self, node):
        return f"127.0.0.1:{self.cluster.port(node)}"

    def partitions(self, node):
        t = cluster_image.metadata(self.addr(node))["topics"].get(TOPIC)
        return t["partitions"] if t else None

    def elect(self, node, election_type, partitions):
        top, results = admin_wire.elect_leaders(self.addr(node), [(TOPIC, partitions)],
                                                election_type)
        self.assertEqual(top, NONE)
        return {p: results[(TOPIC, p)] for p in partitions}

    def test_preferred_and_unclean_elections(self):
        c = self.cluster
        self.assertEqual(create_rf3(c.port(1), TOPIC, 3), NONE)
        parts = wait_for("the topic on every broker",
                         lambda: all(self.partitions(n) for n in c.ids) and self.partitions(1))
        controller = cluster_image.metadata(self.addr(1))["controller_id"]
        asker = next(n for n in c.ids if n != controller)
        for p in parts.values():
            self.assertEqual(p["leader"], p["replicas"][0])

        self.assertEqual(self.elect(asker, 0, [0, 1, 2]), {0: NOT_NEEDED, 1: NOT_NEEDED,
                                                          2: NOT_NEEDED})
        top, unknown = admin_wire.elect_leaders(self.addr(asker), [("absent", [0])], 0)
        self.assertEqual(unknown, {("absent", 0): UNKNOWN})

        preferred = parts[0]["replicas"][0]
        survivors = [r for r in parts[0]["replicas"] if r != preferred]
        asker = survivors[0]
        c.kill_node(preferred)
        moved = wait_for("partition 0 led by a survivor",
                         lambda: (self.partitions(asker)[0]["leader"] in survivors
                                  and preferred not in self.partitions(asker)[0]["isr"]
                                  and self.partitions(asker)[0]))
        self.assertEqual(moved["leader"], survivors[0])

        self.assertEqual(self.elect(asker, 0, [0]), {0: PREFERRED_NOT_AVAILABLE})
        self.assertEqual(self.elect(asker, 1, [0]), {0: NOT_NEEDED})

        c.start_node(preferred)
        wait_for("the killed node back in the ISR",
                 lambda: preferred in self.partitions(asker)[0]["isr"], 60)
        self.assertEqual(self.elect(preferred, 1, [0]), {0: NOT_NEEDED})
        self.assertEqual(self.elect(preferred, 0, [0]), {0: NONE})
        back = wait_for("partition 0 led by its preferred replica again",
                        lambda: (self.partitions(asker)[0]["leader"] == preferred
                                 and self.partitions(asker)[0]))
        self.assertEqual(back["leader_epoch"], moved["leader_epoch"] + 1)


if __name__ == "__main__":
    unittest.main()
