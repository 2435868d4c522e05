"""Private PostgreSQL and Redis servers that a test may stop and start at will.

Never the machine's shared ones: each lives in a temporary directory on a free port
and is destroyed with it. As root, PostgreSQL runs as the ``postgres`` user.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from tests.servers import free_port


def _wait_for_port(port, up=True, timeout=30):
    """Block until 127.0.0.1:``port`` accepts connections (or, ``up=False``, refuses them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not go {'up' if up else 'down'}")


def postgres_bin(name):
    """Path of a PostgreSQL server program, or ``None``."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    return found[-1]


class Postgres:
    """A throwaway PostgreSQL cluster; ``url`` reaches its ``postgres`` database."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="luffy-pg-")
        self.data = os.path.join(self.dir, "data")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()

    def _run(self, program, *args):
        command = [postgres_bin(program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, cwd=self.dir)

    def start(self):
        """Start the server and wait until it takes connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "log"),
                  "-w", "start")
        _wait_for_port(self.port)

    def stop(self):
        """Stop the server (fast: open connections are cut)."""
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        _wait_for_port(self.port, up=False)

    def destroy(self):
        """Stop it if it runs and delete its files."""
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A throwaway redis-server without persistence; ``url`` is its DB 0."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self):
        """Start it (again, on the same port) and wait until it answers."""
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port)

    def stop(self):
        """Stop it; everything it held is gone."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        _wait_for_port(self.port, up=False)

    def kill(self):
        """SIGKILL it, as a crash would; everything it held is gone."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)
        _wait_for_port(self.port, up=False)

    def freeze(self):
        """SIGSTOP it: the kernel still takes connections, nothing answers them."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        """SIGCONT it: it answers again, with everything it held."""
        self.process.send_signal(signal.SIGCONT)

    def destroy(self):
        """Stop it, frozen or not."""
        if self.process and self.process.poll() is None:
            self.thaw()
        self.stop()


def available():
    """Why throwaway servers cannot run here, or ``None`` when they can."""
    if not postgres_bin("initdb") or not postgres_bin("pg_ctl"):
        return "PostgreSQL server programs (initdb, pg_ctl) not installed"
    if not shutil.which("redis-server"):
        return "redis-server not installed"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser"
    return None
