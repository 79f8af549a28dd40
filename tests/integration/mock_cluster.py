"""librdkafka's mock cluster (build/tools/kgw-mock-cluster) as a legacy Kafka
cluster for the proxy tests, and a kgw --upstream in front of it.

Stdlib and kgw_harness only. The mock prints its bootstrap "HOST:PORT" as
its first stdout line and exits when its stdin closes; a missing binary
skips the whole script (exit 77). The binary is $KGW_MOCK_CLUSTER or
tools/kgw-mock-cluster next to the kgw binary.
"""

import os
import subprocess

import kgw_harness


def mock_path():
    path = os.environ.get("KGW_MOCK_CLUSTER") or os.path.join(
        os.path.dirname(kgw_harness.kgw_path()), "tools", "kgw-mock-cluster")
    if not os.access(path, os.X_OK):
        kgw_harness.skip_all(f"kgw-mock-cluster not built: {path}")
    return path


class MockCluster:
    """kgw-mock-cluster as a child: it exits when our end of its stdin closes."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([mock_path(), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.bootstrap = self.proc.stdout.readline().decode().strip()
        if not self.bootstrap:
            raise AssertionError(f"kgw-mock-cluster printed no bootstrap line "
                                 f"(exit {self.proc.poll()})")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc.poll() is not None:
            return
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_proxy(test, topic, partitions):
    """A 3-broker mock cluster with `topic` (`partitions` partitions) and a
    started kgw --upstream in front of it, both closed in `test`'s cleanup
    (kgw first). Returns (mock, kgw)."""
    mock = MockCluster("--brokers", "3", "--topic", f"{topic}:{partitions}")
    kgw = kgw_harness.Kgw("--upstream", mock.bootstrap)
    kgw.start()
    test.addCleanup(mock.close)
    test.addCleanup(kgw.close)
    return mock, kgw
