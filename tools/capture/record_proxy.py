#!/usr/bin/env python3
"""Kafka recording proxy: forwards TCP between clients and a Kafka broker and
writes every request and response frame to a text file.

The happy path is: listen on one port per upstream broker -> for each client
connection dial that broker -> two threads copy whole frames (4-byte
big-endian size prefix) each way -> requests are labelled from their header
(api_key, api_version, correlation_id) and responses from the request with the
same correlation id -> each frame is appended to --out, original bytes.

Brokers advertise their own address in Metadata, FindCoordinator and
DescribeCluster responses, and clients would then dial the broker directly.
So in those responses only, every upstream port that directly follows the
upstream host string (int16 length or compact uvarint length + host bytes +
int32 port) is replaced with the matching proxy port: same length, so nothing
is re-encoded. The file keeps the bytes the broker sent and says which frames
were changed on their way to the client. With --fix-controller, a Metadata
controller_id that names no listed broker is also replaced (see
fix_metadata_controller).

Possible failure modes are: the upstream refuses the connection (the client
connection is closed, a note goes to stderr); a frame size below 0 or above
--max-frame (both sockets of that connection are closed); the output file
cannot be written (the proxy exits 1). SIGTERM or SIGINT stop the proxy
cleanly.

Output format, one frame per line:
    <req|resp> <api_key> <api_version> <correlation_id> <hex> [key=value ...]
hex is the whole frame without its 4-byte size prefix. Optional trailing
tokens: conn=<n> (connection number, in accept order) and, on responses
changed on their way to the client, rewritten=<offset>:<old>:<new>[,...]:
the int32 at that offset of the hex'd frame (a port, or with
--fix-controller a Metadata controller_id) was sent as <new>. Responses
that match no request get api_key and api_version -1. Lines starting with
'#' are comments.
"""

import argparse
import datetime
import os
import signal
import socket
import struct
import sys
import threading

# APIs whose responses advertise broker host:port.
_ADVERTISING_APIS = {
    3,  # Metadata
    10,  # FindCoordinator
    60,  # DescribeCluster
}

_DEFAULT_MAX_FRAME = 256 << 20


def _parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}': expected HOST:PORT")
    return host.strip("[]"), int(port)


def _uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class PortRewriter:
    """Replaces upstream ports with proxy ports where they follow a host."""

    def __init__(self, mapping):
        # mapping: list of ((upstream_host, upstream_port), proxy_port)
        self._patterns = []
        for (host, up_port), proxy_port in mapping:
            h = host.encode()
            old = struct.pack(">i", up_port)
            new = struct.pack(">i", proxy_port)
            for prefix in (struct.pack(">h", len(h)) + h, _uvarint(len(h) + 1) + h):
                self._patterns.append((prefix + old, len(prefix), new, up_port, proxy_port))

    def rewrite(self, frame):
        """Returns (bytes to send, list of (offset, old, new))."""
        changes = []
        buf = None
        for needle, port_off, new, old_port, new_port in self._patterns:
            start = 0
            while True:
                i = frame.find(needle, start)
                if i < 0:
                    break
                if buf is None:
                    buf = bytearray(frame)
                buf[i + port_off : i + port_off + 4] = new
                changes.append((i + port_off, old_port, new_port))
                start = i + len(needle)
        if buf is None:
            return frame, changes
        changes.sort()
        return bytes(buf), changes


def fix_metadata_controller(frame, api_version):
    """Returns (frame, changes) with a dangling Metadata controller_id fixed.

    The librdkafka 2.0.2 mock cluster answers controller_id 0 while its
    brokers are numbered from 1, so clients that need the controller
    (kafkajs' idempotent producer, admin calls) wait for a broker that does
    not exist. Only non-flexible versions 1..8 are handled; anything that
    does not parse is left alone.
    """
    if not 1 <= api_version <= 8:
        return frame, []
    try:
        off = 4  # correlation id
        if api_version >= 3:
            off += 4  # throttle_time_ms
        (count,) = struct.unpack_from(">i", frame, off)
        off += 4
        ids = []
        for _ in range(max(count, 0)):
            (node_id, host_len) = struct.unpack_from(">ih", frame, off)
            off += 6 + max(host_len, 0) + 4  # node_id, host, port
            (rack_len,) = struct.unpack_from(">h", frame, off)
            off += 2 + max(rack_len, 0)
            ids.append(node_id)
        if api_version >= 2:
            (cluster_len,) = struct.unpack_from(">h", frame, off)
            off += 2 + max(cluster_len, 0)
        (controller,) = struct.unpack_from(">i", frame, off)
    except struct.error:
        return frame, []
    if not ids or controller in ids:
        return frame, []
    new = min(ids)
    buf = bytearray(frame)
    struct.pack_into(">i", buf, off, new)
    return bytes(buf), [(off, controller, new)]


class Recorder:
    """Appends frame lines to the output file; thread-safe."""

    def __init__(self, path, header_lines):
        self._lock = threading.Lock()
        self._f = open(path, "w", encoding="ascii")
        for line in header_lines:
            self._f.write(f"# {line}\n")
        self._f.flush()
        self.failed = False

    def frame(self, direction, api_key, api_version, corr, payload, conn, changes=None):
        line = f"{direction} {api_key} {api_version} {corr} {payload.hex()} conn={conn}"
        if changes:
            line += " rewritten=" + ",".join(f"{o}:{a}:{b}" for o, a, b in changes)
        with self._lock:
            if self._f is None:
                return
            try:
                self._f.write(line + "\n")
                self._f.flush()
            except OSError as e:
                if not self.failed:
                    print(f"record_proxy: cannot write output: {e}", file=sys.stderr)
                self.failed = True

    def close(self):
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None


def _recv_exact(sock, buf, n):
    """Reads into buf until it holds n bytes; False on EOF."""
    while len(buf) < n:
        chunk = sock.recv(max(65536, n - len(buf)))
        if not chunk:
            return False
        buf += chunk
    return True


class Connection:
    """One client connection and its upstream connection."""

    def __init__(self, proxy, conn_id, client, upstream_addr):
        self.proxy = proxy
        self.id = conn_id
        self.client = client
        self.upstream_addr = upstream_addr
        self.upstream = None
        self.inflight = {}  # correlation_id -> (api_key, api_version)
        self.lock = threading.Lock()
        self.closed = False

    def start(self):
        try:
            self.upstream = socket.create_connection(self.upstream_addr, timeout=10)
            self.upstream.settimeout(None)
        except OSError as e:
            print(f"record_proxy: conn {self.id}: upstream {self.upstream_addr}: {e}",
                  file=sys.stderr)
            self.client.close()
            return
        for s in (self.client, self.upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._pump, args=(True,), daemon=True).start()
        threading.Thread(target=self._pump, args=(False,), daemon=True).start()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pump(self, is_request):
        src, dst = (self.client, self.upstream) if is_request else (self.upstream, self.client)
        buf = bytearray()
        try:
            while True:
                if not _recv_exact(src, buf, 4):
                    break
                (size,) = struct.unpack_from(">i", buf, 0)
                if size < 0 or size > self.proxy.max_frame:
                    side = "request" if is_request else "response"
                    print(f"record_proxy: conn {self.id}: bad {side} frame size {size}, closing",
                          file=sys.stderr)
                    break
                if not _recv_exact(src, buf, 4 + size):
                    break
                frame = bytes(buf[4 : 4 + size])
                del buf[: 4 + size]
                if is_request:
                    self._on_request(frame)
                    dst.sendall(struct.pack(">i", size) + frame)
                else:
                    dst.sendall(struct.pack(">i", size) + self._on_response(frame))
        except OSError:
            pass
        self.close()

    def _on_request(self, frame):
        if len(frame) >= 8:
            api_key, api_version, corr = struct.unpack_from(">hhi", frame, 0)
        else:
            api_key, api_version, corr = -1, -1, -1
        with self.lock:
            # Remembered before forwarding, so the response always finds it.
            self.inflight[corr] = (api_key, api_version)
        self.proxy.recorder.frame("req", api_key, api_version, corr, frame, self.id)

    def _on_response(self, frame):
        corr = struct.unpack_from(">i", frame, 0)[0] if len(frame) >= 4 else -1
        with self.lock:
            api_key, api_version = self.inflight.pop(corr, (-1, -1))
        out, changes = frame, []
        if api_key in _ADVERTISING_APIS:
            out, changes = self.proxy.rewriter.rewrite(frame)
        if api_key == 3 and self.proxy.fix_controller:
            out, more = fix_metadata_controller(out, api_version)
            changes = sorted(changes + more)
        self.proxy.recorder.frame("resp", api_key, api_version, corr, frame, self.id, changes)
        return out


class Proxy:
    def __init__(self, listen, upstreams, recorder, max_frame, fix_controller):
        self.recorder = recorder
        self.fix_controller = fix_controller
        self.max_frame = max_frame
        self.listeners = []
        mapping = []
        for up in upstreams:
            ls = socket.socket(socket.AF_INET6 if ":" in listen[0] else socket.AF_INET)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # One fixed port is only possible with one upstream.
            ls.bind((listen[0], listen[1] if len(upstreams) == 1 else 0))
            ls.listen(128)
            self.listeners.append((ls, up))
            mapping.append((up, ls.getsockname()[1]))
        self.rewriter = PortRewriter(mapping)
        self.ports = [p for _, p in mapping]
        self._next_id = 0
        self._id_lock = threading.Lock()

    def serve(self):
        for ls, up in self.listeners:
            threading.Thread(target=self._accept_loop, args=(ls, up), daemon=True).start()

    def _accept_loop(self, ls, upstream):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            with self._id_lock:
                self._next_id += 1
                conn_id = self._next_id
            Connection(self, conn_id, client, upstream).start()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=_parse_hostport, default=("127.0.0.1", 0),
                    help="HOST:PORT to listen on; port 0 picks one (default 127.0.0.1:0). "
                    "With several upstreams every listener gets a picked port.")
    ap.add_argument("--upstream", action="append", required=True,
                    help="broker HOST:PORT; repeatable or comma-separated "
                    "(e.g. kgw-mock-cluster's bootstrap line). Spell HOST as the broker "
                    "advertises it, or its port is not rewritten")
    ap.add_argument("--out", required=True, help="output .frames file (overwritten)")
    ap.add_argument("--comment", action="append", default=[],
                    help="extra '#' header line, e.g. 'client: kcat 1.7.1'; repeatable")
    ap.add_argument("--max-frame", type=int, default=_DEFAULT_MAX_FRAME,
                    help=f"largest frame accepted, bytes (default {_DEFAULT_MAX_FRAME})")
    ap.add_argument("--fix-controller", action="store_true",
                    help="in Metadata responses, replace a controller_id that names no "
                    "listed broker with the lowest broker id (the librdkafka 2.0.2 mock "
                    "cluster advertises controller 0, which does not exist)")
    args = ap.parse_args(argv)

    upstreams = []
    for item in args.upstream:
        for part in item.split(","):
            if part.strip():
                try:
                    upstreams.append(_parse_hostport(part.strip()))
                except argparse.ArgumentTypeError as e:
                    ap.error(f"--upstream {e}")
    if not upstreams:
        ap.error("--upstream: no HOST:PORT given")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = list(args.comment) + [
        f"date: {now}",
        "upstream: " + ",".join(f"{h}:{p}" for h, p in upstreams),
        "format: <req|resp> <api_key> <api_version> <correlation_id> <hex frame without size>"
        " [conn=<n>] [rewritten=<offset>:<old_int32>:<new_int32>,...]",
    ]
    try:
        recorder = Recorder(args.out, header)
    except OSError as e:
        print(f"record_proxy: cannot open {args.out}: {e}", file=sys.stderr)
        return 1
    try:
        proxy = Proxy(args.listen, upstreams, recorder, args.max_frame, args.fix_controller)
    except OSError as e:
        print(f"record_proxy: cannot listen on {args.listen[0]}:{args.listen[1]}: {e}",
              file=sys.stderr)
        return 1

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(" ".join(str(p) for p in proxy.ports), flush=True)
    proxy.serve()
    while not stop.wait(0.5):
        if recorder.failed:
            break
    recorder.close()
    return 1 if recorder.failed else 0


if __name__ == "__main__":
    # Daemon threads may still be blocked in recv; exit without joining them.
    rc = main()
    sys.stdout.flush()
    os._exit(rc)
