"""DescribeTopicPartitions (API 75, what kafka-topics.sh --describe of Kafka
3.7+ asks) against a real single-node kgw, encoded by hand (admin_wire.py):
every partition of every topic in name order, paged by the client's limit
and the broker's max.request.partition.size.limit with a cursor; named
topics, unknown ones UNKNOWN_TOPIC_OR_PARTITION; a bad cursor
INVALID_REQUEST. On one node this node is every partition's leader, sole
replica and ISR; the ELR is empty."""

import unittest

import admin_wire as wire
import kgw_harness

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TIMEOUT = 60.0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUEST = 42
# Topics and their partition counts; created out of name order.
TOPICS = {"dtp-c": 2, "dtp-a": 3, "dtp-b": 1}


def describe_all(bootstrap, limit, names=()):
    """Follows next_cursor to the end: ([(topic, partition)], pages)."""
    seen, pages, cursor = [], 0, None
    while True:
        topics, cursor = wire.describe_topic_partitions(bootstrap, names, limit, cursor)
        pages += 1
        for t in topics:
            seen += [(t["name"], p["partition"]) for p in t["partitions"]]
        if cursor is None:
            return seen, pages
        if pages > 50:
            raise AssertionError("the cursor does not advance")


class DescribeTopicPartitions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kgw = kgw_harness.Kgw("--set", "max.request.partition.size.limit=4")
        cls.kgw.start()
        admin = AdminClient({"bootstrap.servers": cls.kgw.bootstrap})
        fs = admin.create_topics([NewTopic(n, p, 1) for n, p in TOPICS.items()],
                                 request_timeout=TIMEOUT)
        for f in fs.values():
            f.result(TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kgw.close()

    def test_advertised(self):
        self.assertEqual(wire.api_versions(self.kgw.bootstrap)[75], (0, 0))

    def test_one_partition_as_metadata_says(self):
        topics, cursor = wire.describe_topic_partitions(self.kgw.bootstrap, ["dtp-b"])
        self.assertIsNone(cursor)
        self.assertEqual(len(topics), 1)
        t = topics[0]
        self.assertEqual((t["error"], t["name"], t["internal"]), (0, "dtp-b", False))
        self.assertEqual(t["partitions"], [{
            "error": 0, "partition": 0, "leader": 1, "leader_epoch": 0, "replicas": [1],
            "isr": [1], "elr": [], "last_known_elr": [], "offline": []}])

    def test_all_topics_paged_by_the_client_limit(self):
        want = sorted((n, p) for n, c in TOPICS.items() for p in range(c))
        seen, pages = describe_all(self.kgw.bootstrap, 2)
        self.assertEqual(seen, want)
        self.assertEqual(pages, 3)  # 6 partitions, 2 a page

    def test_first_page_and_its_cursor(self):
        topics, cursor = wire.describe_topic_partitions(self.kgw.bootstrap, [], 2)
        self.assertEqual([(t["name"], len(t["partitions"])) for t in topics], [("dtp-a", 2)])
        self.assertEqual(cursor, ("dtp-a", 2))
        topics, cursor = wire.describe_topic_partitions(self.kgw.bootstrap, [], 2, cursor)
        self.assertEqual([(t["name"], [p["partition"] for p in t["partitions"]]) for t in topics],
                         [("dtp-a", [2]), ("dtp-b", [0])])
        # The limit ended with a topic: the cursor is the next one's start.
        self.assertEqual(cursor, ("dtp-c", 0))

    def test_broker_limit_caps_the_client_limit(self):
        topics, cursor = wire.describe_topic_partitions(self.kgw.bootstrap, [], 2000)
        # dtp-a's 3 and dtp-b's 1 fill the broker's 4: resume at dtp-c.
        self.assertEqual(sum(len(t["partitions"]) for t in topics), 4)
        self.assertEqual(cursor, ("dtp-c", 0))
        seen, pages = describe_all(self.kgw.bootstrap, 2000)
        self.assertEqual(len(seen), 6)
        self.assertEqual(pages, 2)

    def test_named_topics_sorted_and_unknown_ones(self):
        topics, cursor = wire.describe_topic_partitions(
            self.kgw.bootstrap, ["dtp-c", "no-such-topic", "dtp-b", "bad/name"], 100)
        self.assertIsNone(cursor)
        self.assertEqual([(t["name"], t["error"], len(t["partitions"])) for t in topics],
                         [("bad/name", INVALID_TOPIC_EXCEPTION, 0), ("dtp-b", 0, 1),
                          ("dtp-c", 0, 2), ("no-such-topic", UNKNOWN_TOPIC_OR_PARTITION, 0)])

    def test_bad_cursor_is_invalid_request(self):
        topics, cursor = wire.describe_topic_partitions(self.kgw.bootstrap, ["dtp-a"], 10,
                                                        ("dtp-b", 0))
        self.assertEqual([(t["name"], t["error"]) for t in topics], [("dtp-a", INVALID_REQUEST)])
        topics, _ = wire.describe_topic_partitions(self.kgw.bootstrap, [], 10, ("dtp-a", -1))
        self.assertEqual(topics, [])
        self.assertIsNone(cursor)


if __name__ == "__main__":
    kgw_harness.main()
