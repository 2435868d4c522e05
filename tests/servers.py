"""Boot ``gunicorn wsgi:app`` on a free loopback port, and its Celery worker
(``celery -A wsgi:celery worker``), the way they are deployed.

Production needs a broker (``tests/backends.py``'s ``BROKER_URL``). A server that
sends no message never connects to it; one that does needs a :class:`Worker` with the
same environment and a queue of its own (``queue_name``). ``race`` sends requests
released together from threads.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.backends import BROKER_URL

ROOT = Path(__file__).resolve().parent.parent
# What a production start needs besides its secret: no development-only message backend,
# and a broker (never connected to unless a message is sent); config.py refuses the rest.
PRODUCTION_MESSAGES = {"MAIL_SERVER": "127.0.0.1", "SMS_BACKEND": "webhook",
                       "SMS_WEBHOOK_URL": "http://127.0.0.1:9/sms", "CELERY_BROKER_URL": BROKER_URL}


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url, redis_url=None, **settings):
    """The environment of a production server: its secret, database, Redis and ``LUFFY_*``.

    Without ``redis_url`` it names the in-process store (``memory://``), which
    production accepts only by name: one process only.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUFFY_", "SERVER_SOFTWARE"))}
    env.update(SECRET_KEY=secrets.token_hex(32), DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    env.pop("CART_REDIS_URL", None)
    env["REDIS_URL"] = redis_url or "memory://"
    settings = {**PRODUCTION_MESSAGES, **settings}
    for key, value in settings.items():
        env[f"LUFFY_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def flask(env, *args):
    """Run ``flask --app wsgi ARGS`` with ``env``; raises with its output on failure."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                          env=env, check=True, capture_output=True, text=True)


class Server:
    """A gunicorn process serving luffy (``app``, ``wsgi:app`` unless a test wraps it);
    ``url`` is its base address."""

    def __init__(self, env, workers=1, port=None, args=(), app="wsgi:app"):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / ".pytest_cache" / f"gunicorn-{self.port}.log"
        self.log = open(self.log_path, "w") \
            if (ROOT / ".pytest_cache").is_dir() else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", app, "-b", f"127.0.0.1:{self.port}",
             "-w", str(workers), *args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout=30):
        """Block until ``/healthz`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become healthy")

    def stop(self):
        """Terminate gunicorn and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class BareServer(Server):
    """``gunicorn`` with no arguments at all: everything from ``gunicorn.conf.py`` and ``env``."""

    def __init__(self, env, port, log_path):  # not super(): it passes -b and -w
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.log = open(log_path, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "gunicorn"], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()


def booted_workers(log_path):
    """The pids of the workers a gunicorn log says were booted."""
    return re.findall(r"Booting worker with pid: (\d+)", log_path.read_text())


def request(method, url, body=None, headers=None, form=False):
    """``(status, headers, json)`` of one HTTP request; error statuses are answers too."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        if form:
            from urllib.parse import urlencode
            data = urlencode(body).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def race(url, bodies):
    """POST each of ``bodies`` to ``url`` from its own thread, released together; the answers."""
    barrier = threading.Barrier(len(bodies))
    answers = [None] * len(bodies)

    def run(i):
        barrier.wait()
        answers[i] = request("POST", url, bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def queue_name():
    """A queue of one test's own, so that runs sharing a broker do not mix."""
    return f"luffy-test-{secrets.token_hex(4)}"


def reachable(url):
    """Why the broker at ``url`` cannot be used, or None."""
    import redis

    try:
        if url.startswith("redis"):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
    except Exception as e:  # any failure to connect means: no such broker here
        return f"no broker at {url}: {e.__class__.__name__}"
    return None


class Worker:
    """``celery -A wsgi:celery worker`` with ``env`` (a :func:`server_env`, whose secret
    and database the web side must share), on ``LUFFY_CELERY_QUEUE``: one process
    (``pool`` solo), or the production default (prefork) with one child.

    (With RabbitMQ, a solo worker fed a steady stream of messages takes some only ~10 s
    late; prefork, which production runs, does not: tests of many messages use it.)"""

    def __init__(self, env, log_path, pool="solo"):
        self.env, self.log_path, self.pool = env, log_path, pool
        self.queue = env["LUFFY_CELERY_QUEUE"]
        self.process = None

    def start(self):
        """Start the worker and wait until it consumes its queue."""
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery", "worker", "-P", self.pool, "-c", "1",
             "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None \
                and " ready." not in self.output():
            time.sleep(0.05)
        assert self.process.poll() is None and " ready." in self.output(), self.output()
        return self

    def output(self):
        """Everything the worker wrote so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self):
        """A warm shutdown (SIGTERM), as a deploy or a restart does."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def drop_queue(url, queue):
    """Delete ``queue`` from the broker at ``url`` (a test's leftovers)."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.default_channel.queue_delete(queue)
    except Exception:  # already gone, or the broker went away: nothing to clean
        pass
