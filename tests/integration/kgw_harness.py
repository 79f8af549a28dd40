"""Start, stop, kill and restart a real kgw process for integration tests.

Stdlib only. Every test script does:

    import kgw_harness
    kgw_harness.require_modules("confluent_kafka")   # exit 77 (meson: SKIP)
    ...
    with kgw_harness.Kgw() as kgw:                   # or kgw = Kgw(); kgw.start()
        bootstrap = kgw.bootstrap                    # "127.0.0.1:PORT"
    ...
    if __name__ == "__main__":
        kgw_harness.main()

The happy path is: start() runs kgw on 127.0.0.1 port 0 with a fresh
temporary data dir, waits for its one stdout line "kgw: listening on
HOST:PORT" and reads the port from it; stop() sends SIGTERM and requires
exit code 0; kill() sends SIGKILL; restart() starts again on the same data
dir (on a new port). Possible failure modes: kgw exits or stays silent at
start (KgwError with the tail of its stderr), does not stop on SIGTERM within
the timeout (it is killed, then KgwError), or exits non-zero on SIGTERM.
Whatever happens, processes are killed and temporary dirs removed at exit
(atexit, also when the test runner gets SIGTERM from meson's timeout), and
main() prints the tail of every kgw's stderr when a test failed.

The kgw binary is $KGW (meson sets it) or build/kgw under the source root.
"""

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES_DIR = os.path.join(SOURCE_ROOT, "tests", "fixtures")

# Generous bounds that only keep a broken kgw from hanging the suite.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0

SKIP_EXIT_CODE = 77  # meson's "skipped"


class KgwError(Exception):
    pass


def kgw_path():
    path = os.environ.get("KGW") or os.path.join(SOURCE_ROOT, "build", "kgw")
    if not os.access(path, os.X_OK):
        raise KgwError(f"kgw binary not found or not executable: {path} (set KGW)")
    return path


def skip_all(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP_EXIT_CODE)


def require_modules(*names):
    """Exit 77 (meson SKIP) when a client library is not importable."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            skip_all(f"python module {name} is missing ({e}); install its Debian package")


def require_programs(*names):
    for name in names:
        if shutil.which(name) is None:
            skip_all(f"program {name} is not in PATH")


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll `predicate` until it is true; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _die_with_parent():
    # In the child before exec: SIGKILL kgw when this script dies, even by
    # a crash that skips atexit (e.g. a client library's C extension).
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# Every Kgw ever created in this process, for cleanup and failure reports.
_instances = []


class Kgw:
    """One kgw process (and its restarts) on one temporary data dir."""

    def __init__(self, *args, name="kgw"):
        self.extra_args = list(args)
        self.name = name
        self.root = tempfile.mkdtemp(prefix="kgw-it-")
        self.data_dir = os.path.join(self.root, "data")
        self.stderr_path = os.path.join(self.root, "kgw.stderr")
        self.proc = None
        self.port = None
        self.starts = 0
        self._saved_stderr = None  # kept by close(), which removes the file
        _instances.append(self)

    # -- lifecycle ---------------------------------------------------------

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, port=0):
        """Starts kgw; port 0 picks a free one (pass the old port to come
        back where clients expect it)."""
        if self.alive():
            raise KgwError("already running")
        self.starts += 1
        cmd = [kgw_path(), "--listen", f"127.0.0.1:{port}", "--data-dir", self.data_dir,
               *self.extra_args]
        stdout_path = os.path.join(self.root, f"kgw.stdout.{self.starts}")
        # glibc fills freed memory with this byte, so a use after free
        # crashes or misbehaves instead of passing by luck (meson test sets
        # it too); without the per-thread cache, whose frees skip the
        # filling.
        env = dict(os.environ)
        env.setdefault("MALLOC_PERTURB_", "165")
        env.setdefault("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
        with open(self.stderr_path, "ab") as err, open(stdout_path, "wb") as out:
            err.write(f"==== start #{self.starts}: {' '.join(cmd)}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=env, preexec_fn=_die_with_parent)
        # stdout goes to a file, not a pipe, so kgw can never block on it.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with open(stdout_path, "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if line.startswith("kgw: listening on "):
                        self.port = int(line.rsplit(":", 1)[1])
                        self.proc.kgw_watched = True  # by the watchdog, from now on
                        return self.bootstrap
            if self.proc.poll() is not None:
                raise KgwError(f"kgw exited with code {self.proc.returncode} before listening\n"
                               + self.stderr_tail())
            if time.monotonic() >= deadline:
                self._kill_quietly()
                raise KgwError(f"kgw printed no listening line in {START_TIMEOUT}s\n"
                               + self.stderr_tail())
            time.sleep(0.02)

    def stop(self):
        """SIGTERM, wait, and require a clean exit (code 0)."""
        if not self.alive():
            raise KgwError(f"kgw is not running (exit code {self.proc and self.proc.returncode})\n"
                           + self.stderr_tail())
        self.proc.kgw_exit_expected = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill_quietly()
            raise KgwError(f"kgw did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                           + self.stderr_tail())
        if rc != 0:
            raise KgwError(f"kgw exited with code {rc} after SIGTERM\n" + self.stderr_tail())

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        if not self.alive():
            raise KgwError("kgw is not running\n" + self.stderr_tail())
        self.proc.kgw_exit_expected = True
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT)

    def restart(self, kill=False, same_port=False):
        """Stop (SIGTERM, or SIGKILL with kill=True) and start on the same
        data dir, on a new port or (same_port) the old one."""
        port = self.port if same_port else 0
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start(port)

    def close(self):
        """Kill if still running and remove the temporary dir (keeping the
        stderr text for a failure report)."""
        self._kill_quietly()
        if os.path.isdir(self.root):
            self._saved_stderr = self._read_stderr()
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_quietly(self):
        if self.proc is not None:
            self.proc.kgw_exit_expected = True
        if self.alive():
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- inspection --------------------------------------------------------

    def rss_kb(self):
        """Resident set size of the running kgw, in KiB (Linux /proc)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise KgwError("no VmRSS in /proc status")

    def _read_stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return None

    def stderr_tail(self, lines=40):
        text = self._read_stderr()
        if text is None:
            text = self._saved_stderr
        if text is None:
            return f"(no stderr captured for {self.name})"
        tail = text.splitlines()[-lines:]
        return f"---- last {len(tail)} lines of {self.name} stderr ({self.stderr_path}) ----\n" + \
            "\n".join(tail)


def _cleanup():
    for k in _instances:
        k.close()


atexit.register(_cleanup)


def _watchdog():
    # A kgw that dies on its own (a crash) would leave some clients
    # retrying forever; end the whole script at once, saying why.
    while True:
        time.sleep(0.5)
        for k in list(_instances):
            proc = k.proc

            def ignored():
                return not getattr(proc, "kgw_watched", False) or \
                    getattr(proc, "kgw_exit_expected", False)

            # Checked again after poll(): stop() may have begun meanwhile.
            if proc is None or ignored() or proc.poll() is None or ignored():
                continue
            print(f"\nFATAL: {k.name} (pid {proc.pid}) exited on its own with code "
                  f"{proc.returncode}\n{k.stderr_tail(80)}", file=sys.stderr, flush=True)
            _cleanup()
            os._exit(1)


threading.Thread(target=_watchdog, name="kgw-watchdog", daemon=True).start()


def _on_sigterm(signum, frame):
    # meson's timeout sends SIGTERM: turn it into SystemExit so atexit runs.
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


def print_stderr_tails():
    for k in _instances:
        print(k.stderr_tail(), file=sys.stderr, flush=True)


class _TimedResult(unittest.TextTestResult):
    """Prints how long each test took, for the suite's runtime budget."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln(f"    ({time.monotonic() - self._started:.1f}s) {test.id()}")
        self.stream.flush()


def main():
    """unittest.main(), plus every kgw's stderr tail when something failed."""
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_TimedResult)
    prog = unittest.main(exit=False, testRunner=runner)
    ok = prog.result.wasSuccessful()
    if not ok:
        print_stderr_tails()
    _cleanup()
    sys.exit(0 if ok else 1)
