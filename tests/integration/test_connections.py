"""Connection limits against a real kgw over raw sockets: slowloris clients
that trickle one byte a second into frames that declare a large size,
connections.max.idle.ms reaping idle and half-sent connections, and the
max.connections / max.connections.per.ip caps (with their overrides).

Stdlib only; the good client is kafka_wire's Conn (ApiVersions, Metadata)."""

import socket
import struct
import threading
import time
import unittest

import kgw_harness
from kafka_wire import Conn, Enc

API_METADATA, API_API_VERSIONS = 3, 18

SLOW_CONNECTIONS = 1000
SLOW_SECONDS = 12
# Each slow connection declares a frame just under socket.request.max.bytes
# (100 MiB) and sends one byte a second: kgw must hold only the bytes that
# arrived, not what the size prefix promises. 1,000 such connections with
# a buffer of the declared size (or a fixed 1 MiB) would be gigabytes.
SLOW_DECLARED = 100_000_000
# What the slow connections may add to kgw's RSS at start (the start itself
# differs by build: an ASan binary starts near 100 MiB).
RSS_LIMIT_KB = 64 * 1024
TIMEOUT = 30.0


def api_versions(conn):
    d = conn.call(API_API_VERSIONS, 0, Enc())
    return d.i16()


def metadata(conn):
    """Metadata v1 for no topics; returns the broker count."""
    d = conn.call(API_METADATA, 1, Enc().i32(0))
    return d.i32()


def connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def api_versions_frame(correlation=1):
    payload = struct.pack(">hhi", API_API_VERSIONS, 0, correlation) + struct.pack(">h", 4) + b"test"
    return struct.pack(">i", len(payload)) + payload


def answered(sock):
    """Sends ApiVersions v0 on a raw socket; True if an answer comes back,
    False if kgw closed the connection instead."""
    try:
        sock.sendall(api_versions_frame())
        head = sock.recv(4)
    except (ConnectionResetError, BrokenPipeError):
        return False
    if len(head) < 4:
        return False
    size = struct.unpack(">i", head)[0]
    got = 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            return False
        got += len(chunk)
    return True


def closed_by_kgw(sock, within):
    """True if kgw closes `sock` within `within` seconds (reads EOF or a
    reset), False if it is still open then."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class Slowloris(unittest.TestCase):
    def test_slow_frames_hold_only_what_arrived(self):
        with kgw_harness.Kgw() as kgw:
            base = kgw.rss_kb()
            socks = []
            for _ in range(SLOW_CONNECTIONS):
                s = connect(kgw.port)
                s.sendall(struct.pack(">i", SLOW_DECLARED))
                socks.append(s)
            peak = kgw.rss_kb()
            served = 0
            good = Conn(kgw.bootstrap, timeout=TIMEOUT)
            deadline = time.monotonic() + SLOW_SECONDS
            while time.monotonic() < deadline:
                tick = time.monotonic()
                for s in socks:
                    s.sendall(b"\x00")  # one byte a second on each
                # The well-formed client keeps being served meanwhile.
                self.assertEqual(api_versions(good), 0)
                self.assertEqual(metadata(good), 1)
                served += 1
                peak = max(peak, kgw.rss_kb())
                self.assertLess(peak - base, RSS_LIMIT_KB,
                                f"kgw RSS {peak} KiB (from {base} KiB at start) with "
                                f"{len(socks)} slow connections")
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            good.close()
            # Every slow connection is still open (they make progress), and
            # kgw still answers a fresh client.
            self.assertTrue(kgw.alive())
            fresh = Conn(kgw.bootstrap, timeout=TIMEOUT)
            self.assertEqual(api_versions(fresh), 0)
            fresh.close()
            for s in socks:
                s.close()
            print(f"slowloris: {SLOW_CONNECTIONS} connections x {SLOW_SECONDS} s, "
                  f"{served} rounds served, peak kgw RSS {peak // 1024} MiB from {base // 1024} MiB "
                  f"(limit: {RSS_LIMIT_KB // 1024} MiB more)", flush=True)


class IdleReaping(unittest.TestCase):
    def test_idle_and_half_sent_connections_are_closed(self):
        with kgw_harness.Kgw("--set", "connections.max.idle.ms=1000") as kgw:
            idle = connect(kgw.port)
            self.assertTrue(answered(idle))
            half = connect(kgw.port)
            half.sendall(struct.pack(">i", 100) + b"\x00\x12\x00")  # 3 of 100 bytes
            silent = connect(kgw.port)  # never sends anything
            busy = Conn(kgw.bootstrap, timeout=TIMEOUT)
            start = time.monotonic()
            # The busy connection talks every 200 ms for 3 s and stays open.
            while time.monotonic() - start < 3.0:
                self.assertEqual(metadata(busy), 1)
                time.sleep(0.2)
            for name, s in (("idle", idle), ("half-sent", half), ("silent", silent)):
                self.assertTrue(closed_by_kgw(s, 5.0), f"{name} connection still open")
                s.close()
            self.assertEqual(metadata(busy), 1)
            busy.close()


class ConnectionCaps(unittest.TestCase):
    def test_max_connections(self):
        with kgw_harness.Kgw("--set", "max.connections=5") as kgw:
            socks = [connect(kgw.port) for _ in range(5)]
            for s in socks:
                self.assertTrue(answered(s))
            extra = connect(kgw.port)
            self.assertTrue(closed_by_kgw(extra, 5.0), "a 6th connection over max.connections=5")
            extra.close()
            # A freed place is taken again.
            socks.pop().close()
            kgw_harness.wait_until(lambda: self._accepted(kgw.port), 10.0,
                                   what="a connection after one closed")
            for s in socks:
                self.assertTrue(answered(s))
                s.close()

    @staticmethod
    def _accepted(port):
        s = connect(port)
        try:
            return answered(s)
        finally:
            s.close()

    def test_max_connections_per_ip_and_overrides(self):
        with kgw_harness.Kgw("--set", "max.connections.per.ip=2",
                             "--set", "max.connections.per.ip.overrides=127.0.0.2:4") as kgw:
            local = [connect(kgw.port) for _ in range(2)]
            for s in local:
                self.assertTrue(answered(s))
            extra = connect(kgw.port)
            self.assertTrue(closed_by_kgw(extra, 5.0), "a 3rd connection from 127.0.0.1")
            extra.close()
            # 127.0.0.2 has its own, larger cap.
            other = [connect(kgw.port, "127.0.0.2") for _ in range(4)]
            for s in other:
                self.assertTrue(answered(s))
            extra = connect(kgw.port, "127.0.0.2")
            self.assertTrue(closed_by_kgw(extra, 5.0), "a 5th connection from 127.0.0.2")
            extra.close()
            for s in local + other:
                self.assertTrue(answered(s))
                s.close()


if __name__ == "__main__":
    kgw_harness.main()
