"""The servers under test: luffy, the floors and the fastapi-users peer, each under gunicorn.

Each gets its environment here (luffy's production settings, the floors' data file, the
peer's own venv and table) and a free loopback port.
"""

import hashlib
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.memory import rss_mb
from bench.paths import BENCH, OUT, PY, ROOT
from bench.seed import FLOOR_DATA, argon2_parameters

log = logging.getLogger(__name__).info

GUNICORN_ARGS = ["-w", "2", "-k", "gthread", "--threads", "4"]
PEER_GUNICORN_ARGS = ["-w", "2", "-k", "uvicorn_worker.UvicornWorker"]
PEER_GUNICORN_CONF = BENCH / "peer_fastapi" / "gunicorn.conf.py"  # luffy's, less its log masking
PEER_REQUIREMENTS = BENCH / "peer_fastapi" / "requirements.txt"
PEER_VENV = OUT / "peer-venv"
RATE_LIMIT = "1000000 per minute"
LABELS = {"luffy": "luffy", "floor": "floor", "io": "io floor", "flask": "bare Flask",
          "peer": "fastapi-users"}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def luffy_settings(db_url, redis_url, secret):
    """The settings luffy runs with in the benchmark (production, no throttle in the way)."""
    return {
        "LUFFY_CONFIG": "production", "SECRET_KEY": secret, "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        # The bench measures throughput, not the throttle: every account is hammered.
        "LUFFY_LOGIN_RATE_LIMIT": RATE_LIMIT,
        # Production refuses the log-only message backends and a start without a broker;
        # the bench sends no message, so the broker is never connected to.
        "LUFFY_MAIL_SERVER": "127.0.0.1", "LUFFY_SMS_BACKEND": "webhook",
        "LUFFY_SMS_WEBHOOK_URL": "http://127.0.0.1:9/sms", "LUFFY_CELERY_BROKER_URL": redis_url,
    }


def luffy_env(db_url, redis_url, secret):
    """The production environment luffy runs with in the benchmark."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LUFFY_", "SERVER_SOFTWARE")) and k not in ("REDIS_URL", "CART_REDIS_URL")}
    env.update(luffy_settings(db_url, redis_url, secret),
               PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def floor_env(env):
    """The dict floor's and bare Flask's environment: luffy's, without its settings and stores."""
    out = {k: v for k, v in env.items()
           if not k.startswith("LUFFY_") and k not in ("DATABASE_URL", "REDIS_URL")}
    out["BENCH_FLOOR_DATA"] = str(FLOOR_DATA)
    return out


def io_env(env):
    """The same-I/O floor's environment: the dict floor's, with luffy's database and Redis."""
    return {**floor_env(env), "DATABASE_URL": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"]}


def peer_env(env, hashed):
    """The fastapi-users peer's environment: its own table in the benchmark's database."""
    argon2 = argon2_parameters(hashed)
    out = {k: v for k, v in env.items()
           if not k.startswith(("LUFFY_", "VIRTUAL_ENV")) and k not in ("DATABASE_URL", "REDIS_URL")}
    out.update(
        PEER_DATABASE_URL=env["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1),
        BENCH_FLOOR_DATA=str(FLOOR_DATA), PASSWORD_HASH_MEMORY_COST=str(argon2["memory_cost"]),
        PASSWORD_HASH_TIME_COST=str(argon2["time_cost"]),
        PASSWORD_HASH_PARALLELISM=str(argon2["parallelism"]))
    return out


def ensure_peer_venv():
    """The fastapi-users peer's own venv under bench/out/, (re)created when its pins change."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / "requirements.sha256"
    wanted = hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    log(f"creating the fastapi-users peer's venv in {PEER_VENV.relative_to(ROOT)} (once)")
    shutil.rmtree(PEER_VENV, ignore_errors=True)
    subprocess.run([PY, "-m", "venv", str(PEER_VENV)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "-r", str(PEER_REQUIREMENTS)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pip install of the peer failed:\n{done.stdout}\n{done.stderr}"
                         "\n(run with --no-peers to leave the peer out)")
    stamp.write_text(wanted + "\n")
    return python


def create_app_time(env, runs=5):
    """Median seconds of ``from luffy import create_app; create_app()`` in a new process."""
    code = ("import json, time; t0 = time.perf_counter(); from luffy import create_app; "
            "t1 = time.perf_counter(); create_app(); t2 = time.perf_counter(); "
            "print(json.dumps({'import': t1 - t0, 'create': t2 - t1, 'total': t2 - t0}))")
    samples = []
    for _ in range(runs):
        done = subprocess.run([PY, "-c", code], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"runs": runs, **{k: statistics.median(s[k] for s in samples)
                             for k in ("import", "create", "total")}}


class Server:
    """``gunicorn APP`` with the benchmark's settings on a free loopback port."""

    def __init__(self, name, app, env, python=PY, gunicorn_args=GUNICORN_ARGS):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = OUT / f"{name}-gunicorn.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(python), "-m", "gunicorn", app, "-b", f"127.0.0.1:{self.port}", *gunicorn_args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.wait_ready()
            self.fresh_rss = self.settled_rss()  # before any load (a /healthz or two served)
        except BaseException:  # a server that never became ready is not left running
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def settled_rss(self, timeout=20):
        """The workers' RSS once it stops moving: a worker that answered no /healthz yet may
        still be importing its app."""
        last, same, deadline = None, 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.rss_mb()
            same = same + 1 if now == last and len(now) == 2 else 0
            if same >= 3:
                break
            last = now
            time.sleep(0.3)
        return last

    def wait_ready(self, timeout=60):
        """Wait until ``/healthz`` answers 200 and both workers run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name}: gunicorn exited with {self.process.returncode}; "
                                 f"see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200 and len(self.workers()) == 2:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.name}: gunicorn did not become healthy; see {self.log_path}")

    def workers(self):
        """The pids of the master's children (the workers)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def rss_mb(self):
        """VmRSS of each worker, MB (MiB)."""
        return rss_mb(self.workers())

    def stop(self):
        """Stop gunicorn (killed if it has not stopped within 20 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def running(env, peer):
    """Every server of the run, started one after the other and stopped on leaving.

    ``peer`` is the fastapi-users peer's (python, env), or None to leave it out.
    """
    log("starting luffy, the floor, the same-I/O floor and bare Flask under gunicorn "
        + " ".join(GUNICORN_ARGS) + (", fastapi-users under " + " ".join(PEER_GUNICORN_ARGS)
                                     if peer else ""))
    with ExitStack() as started:
        servers = {
            "luffy": started.enter_context(Server("luffy", "wsgi:app", env)),
            "floor": started.enter_context(Server("floor", "bench.floor:app", floor_env(env))),
            "io": started.enter_context(Server("io", "bench.io_floor:app", io_env(env))),
            "flask": started.enter_context(Server("flask", "bench.flask_floor:app", floor_env(env))),
        }
        if peer:
            servers["peer"] = started.enter_context(Server(
                "peer", "bench.peer_fastapi.app:app", peer[1], python=peer[0],
                gunicorn_args=["-c", str(PEER_GUNICORN_CONF), *PEER_GUNICORN_ARGS]))
        yield servers
