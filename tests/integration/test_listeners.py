"""Kafka's listener model against a real kgw: two PLAINTEXT listeners given
with `listeners=` and `listener.security.protocol.map` both serve Metadata,
produce and fetch to a real client (confluent-kafka), each advertising its
own address in Metadata as Kafka does; an SSL:// listener, or `listeners`
together with --listen, is refused at start with one clear line."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc

kgw_harness.require_modules("confluent_kafka")

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

API_METADATA = 3
TIMEOUT = 30.0
TWO_LISTENERS = ["--set", "listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                 "--set", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT"]


class KgwProcess:
    """kgw with its own arguments (the harness always passes --listen)."""

    def __init__(self, args):
        self.root = tempfile.mkdtemp(prefix="kgw-it-")
        self.stdout_path = os.path.join(self.root, "stdout")
        self.stderr_path = os.path.join(self.root, "stderr")
        cmd = [kgw_harness.kgw_path(), "--data-dir", os.path.join(self.root, "data"), *args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def listening_lines(self, count):
        """Waits for `count` "kgw: listening on" lines; None if kgw exited."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with open(self.stdout_path) as f:
                lines = [l for l in f.read().splitlines() if l.startswith("kgw: listening on ")]
            if len(lines) >= count:
                return lines
            if self.proc.poll() is not None:
                return None
            time.sleep(0.02)
        raise TimeoutError("kgw printed no listening lines\n" + self.stderr())

    def exit_code(self):
        return self.proc.wait(timeout=TIMEOUT)

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def metadata_brokers(bootstrap):
    """Metadata v1 for no topics: [(node_id, host, port)]."""
    conn = Conn(bootstrap)
    try:
        d = conn.call(API_METADATA, 1, Enc().i32(0))
        brokers = []
        for _ in range(d.i32()):
            node, host, port = d.i32(), d.string(), d.i32()
            d.string()  # rack
            brokers.append((node, host, port))
        return brokers
    finally:
        conn.close()


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
                  "log.connection.close": False})
    errors = []
    for v in values:
        p.produce(topic, v, partition=0,
                  on_delivery=lambda err, msg: err and errors.append(err))
    left = p.flush(TIMEOUT)
    if left or errors:
        raise AssertionError(f"produce via {bootstrap}: {left} undelivered, errors {errors}")


def consume(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kgw-it-unused",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100,
                  "log.connection.close": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
        return got
    finally:
        c.close()


class TwoListenersTest(unittest.TestCase):
    def setUp(self):
        self.kgw = KgwProcess(TWO_LISTENERS)
        self.addCleanup(self.kgw.close)
        lines = self.kgw.listening_lines(2)
        self.assertIsNotNone(lines, self.kgw.stderr())
        # The first line is the one scripts read: unchanged in form.
        self.assertRegex(lines[0], r"^kgw: listening on 127\.0\.0\.1:\d+$")
        self.assertRegex(lines[1], r"^kgw: listening on 127\.0\.0\.1:\d+ \(INTERNAL\)$")
        self.ports = [int(lines[0].rsplit(":", 1)[1]),
                      int(lines[1].split(" (")[0].rsplit(":", 1)[1])]
        self.assertNotEqual(self.ports[0], self.ports[1])

    def tearDown(self):
        self.assertEqual(self.kgw.stop(), 0, self.kgw.stderr())

    def test_metadata_advertises_the_listener_asked_on(self):
        for port in self.ports:
            self.assertEqual(metadata_brokers(f"127.0.0.1:{port}"), [(1, "127.0.0.1", port)])

    def test_produce_and_fetch_on_both_listeners(self):
        plain, internal = (f"127.0.0.1:{p}" for p in self.ports)
        produce(plain, "via-plaintext", [b"p%d" % i for i in range(50)])
        produce(internal, "via-internal", [b"i%d" % i for i in range(50)])
        # Each listener reads what the other one took in.
        self.assertEqual(consume(internal, "via-plaintext", 50), [b"p%d" % i for i in range(50)])
        self.assertEqual(consume(plain, "via-internal", 50), [b"i%d" % i for i in range(50)])


class RefusedAtStartTest(unittest.TestCase):
    def refused(self, args):
        kgw = KgwProcess(args)
        self.addCleanup(kgw.close)
        self.assertIsNone(kgw.listening_lines(1), "kgw started\n" + kgw.stderr())
        self.assertEqual(kgw.exit_code(), 2)
        lines = kgw.stderr().strip().splitlines()
        self.assertEqual(len(lines), 1, kgw.stderr())
        return lines[0]

    def test_ssl_listener_is_refused(self):
        line = self.refused(["--set", "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"])
        self.assertEqual(line, "kgw: listener SSL://127.0.0.1:0 uses security protocol SSL: TLS "
                               "and SASL are not supported yet; only PLAINTEXT listeners can be "
                               "served")

    def test_sasl_listener_is_refused(self):
        line = self.refused(["--set", "listeners=EXTERNAL://127.0.0.1:0",
                             "--set", "listener.security.protocol.map=EXTERNAL:SASL_SSL"])
        self.assertIn("listener EXTERNAL://127.0.0.1:0 uses security protocol SASL_SSL", line)
        self.assertIn("not supported yet", line)

    def test_listen_and_listeners_together_are_refused(self):
        line = self.refused(["--listen", "127.0.0.1:0",
                             "--set", "listeners=PLAINTEXT://127.0.0.1:0"])
        self.assertIn("--listen and listeners both given", line)


if __name__ == "__main__":
    kgw_harness.main()
