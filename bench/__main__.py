"""The benchmark: luffy against its floors and a fastapi-users peer, in one run.

    .venv/bin/python -m bench            # every scenario, 10 s each; writes bench/RESULTS.md
    .venv/bin/python -m bench --smoke    # every scenario for 1 s: does it start? (CI)

See bench/README.md for what it does and what the numbers mean.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
PY = sys.executable
PASSWORD = "bench password 0123"
GUNICORN_ARGS = ["-w", "2", "-k", "gthread", "--threads", "4"]
PEER_GUNICORN_ARGS = ["-w", "2", "-k", "uvicorn_worker.UvicornWorker"]
PEER_REQUIREMENTS = BENCH / "peer_fastapi" / "requirements.txt"
PEER_VENV = OUT / "peer-venv"
RATE_LIMIT = "1000000 per minute"

# name, wrk connections, the bar of issue 12: luffy req/s >= bar x the same-I/O floor's req/s
SCENARIOS = [
    ("me", 8, 0.6),
    ("verify", 8, 0.7),
    ("refresh", 8, 0.6),
    ("login", 2, 0.9),
    ("login_email", 2, 0.9),
    ("login_mobile", 2, 0.9),
]
# Issue 12's reference figures for the old Django backend with persistent connections
# (CONN_MAX_AGE=600), req/s in two runs on the issue's 2-core machine (gunicorn -w 2
# gthread 4 threads, wrk with a new connection per request). Not measured here.
DJANGO_PERSISTENT = {"me": (600, 978), "verify": (1056, 2166), "refresh": (652, 1002),
                     "login": (7.2, 9), "login_email": (7.2, 9), "login_mobile": (7.2, 9)}
DJANGO_BAR = 1.5  # me, verify, refresh: luffy >= 1.5 x Django's better run
# The same-I/O floor's req/s in those two runs (issue 12's table). Django / io floor, a
# ratio both runs measured on one machine, lets luffy be compared with Django through the
# io floor measured here: (luffy / io floor) / (Django / io floor). Context, not a bar.
ISSUE_IO_FLOOR = {"me": (1421, 2682), "verify": (2423, 3065), "refresh": (2162, 2693)}
PEER_BAR = 1.0  # me, refresh: luffy >= 1.0 x fastapi-users
PEER_BAR_SCENARIOS = ("me", "refresh")
FRESH_RSS_MARGIN_MB = 45  # a fresh luffy worker <= the io floor's fresh worker + 45 MB
LEAK_TOLERANCE_MB = 1.0  # a worker's RSS may rise this much from one load round to the next
# The scenarios that need tokens first; bench/flask_floor.py (the floor's views in bare
# Flask, the framework's ceiling) is measured on these too.
TOKEN_SCENARIOS = ("me", "verify", "refresh")
CYCLE = 16  # how many accounts each scenario cycles through
SERVER_LABELS = {"luffy": "luffy", "floor": "floor", "io": "io floor", "flask": "bare Flask",
                 "peer": "fastapi-users"}


def loadavg():
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def wait_quiet(seconds):
    """Wait up to ``seconds`` for the 1-minute load average to drop below nproc / 2."""
    limit = (os.cpu_count() or 1) / 2
    deadline = time.monotonic() + seconds
    while loadavg()[0] >= limit and time.monotonic() < deadline:
        log(f"load average {loadavg()[0]:.2f} >= {limit:g}: waiting for a quieter machine")
        time.sleep(10)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", default=os.environ.get("BENCH_SMOKE") == "1",
                   help="1 s per scenario, no warm-up, 100 accounts, RESULTS.md untouched")
    p.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 10)),
                   help="seconds of load per scenario and server (default 10)")
    p.add_argument("--slices", type=int, default=int(os.environ.get("BENCH_SLICES", 5)),
                   help="each server's load is cut into this many slices, run in turn with the "
                        "other servers' (default 5): a slow spell of a shared CPU hits all alike")
    p.add_argument("--warmup", type=float, default=float(os.environ.get("BENCH_WARMUP", 2)),
                   help="seconds of unmeasured load before each measurement (default 2)")
    p.add_argument("--accounts", type=int, default=1000, help="accounts to seed (default 1000)")
    p.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS),
                   help="comma-separated subset of: " + ", ".join(s[0] for s in SCENARIOS))
    p.add_argument("--pg-admin-url", default=os.environ.get(
        "BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="a superuser connection to create the database with")
    p.add_argument("--database", default=os.environ.get("BENCH_DATABASE", "luffy_bench"),
                   help="the database the benchmark drops and recreates (default luffy_bench)")
    p.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
                   help="a Redis DB of the benchmark's own: it is flushed (default DB 13)")
    p.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    p.add_argument("--wait-quiet", metavar="SECONDS", type=float,
                   default=float(os.environ.get("BENCH_WAIT_QUIET", 0)),
                   help="first wait up to SECONDS for the 1-minute load average to fall below "
                        "half the CPU count (the machine is shared; the load goes into the results)")
    p.add_argument("--profile", metavar="SECONDS", type=float, default=0,
                   help="also record py-spy profiles of luffy's workers for me/verify/refresh")
    p.add_argument("--peers", action=argparse.BooleanOptionalAction,
                   default=os.environ.get("BENCH_PEERS", "1") != "0",
                   help="also measure the fastapi-users peer (default on; its venv is created "
                        "under bench/out/ on first use, about 30 s)")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.accounts, args.no_results, args.slices = 1, 0, 100, True, 1
    names = [s[0] for s in SCENARIOS]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(names)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


# --- set-up -------------------------------------------------------------------------


def ensure_wrk():
    """wrk, installed with apt when missing."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    log("wrk is missing: apt-get install -y wrk")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run(prefix + ["apt-get", "update", "-qq"], check=False)
    subprocess.run(prefix + ["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(admin_url, name):
    return admin_url.rsplit("/", 1)[0] + "/" + name


def create_database(admin_url, name):
    """Drop and recreate ``name``."""
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"not a plain database name: {name!r}")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
        return conn.execute("SHOW server_version").fetchone()[0]


def luffy_env(db_url, redis_url, secret):
    """The production environment luffy runs with in the benchmark."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LUFFY_", "SERVER_SOFTWARE")) and k not in ("REDIS_URL", "CART_REDIS_URL")}
    env.update(
        LUFFY_CONFIG="production", SECRET_KEY=secret, DATABASE_URL=db_url, REDIS_URL=redis_url,
        # The bench measures throughput, not the throttle: every account is hammered.
        LUFFY_LOGIN_RATE_LIMIT=RATE_LIMIT,
        # Production refuses the log-only message backends and a start without a broker;
        # the bench sends no message, so the broker is never connected to.
        LUFFY_MAIL_SERVER="127.0.0.1", LUFFY_SMS_BACKEND="webhook",
        LUFFY_SMS_WEBHOOK_URL="http://127.0.0.1:9/sms", LUFFY_CELERY_BROKER_URL=redis_url,
        PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def account(i):
    return {
        "id": i,
        "username": f"bench{i:05d}",
        "email": f"bench{i:05d}@bench.example",
        "mobile": f"139{i:08d}",
        "nickname": f"Bench {i}",
        "avatar": f"https://cdn.bench.example/avatars/{i}.png",
        "money": round(10 + i % 100 + 0.5, 2),
        "credit": i % 50,
        "cart_total": i % 5,
    }


def seed(env, n):
    """Schema by the migrations, then ``n`` accounts in one insert with one shared hash."""
    subprocess.run([PY, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True, text=True)
    code = r"""
import json, sys
from decimal import Decimal
from sqlalchemy import insert, text
from luffy import create_app
from luffy.auth.identifiers import fold
from luffy.auth.models import User
from luffy.auth.passwords import hash_password
from luffy.extensions import db, redis_clients

accounts = json.load(sys.stdin)
app = create_app()
with app.app_context():
    hashed = hash_password(sys.argv[1])
    db.session.execute(insert(User), [
        {"id": a["id"], "username": a["username"], "email": a["email"], "mobile": a["mobile"],
         "username_key": fold(a["username"]), "email_key": fold(a["email"]),
         "password": hashed, "nickname": a["nickname"], "avatar": a["avatar"],
         "money": Decimal(str(a["money"])), "credit": a["credit"], "is_active": True,
         "token_version": 0} for a in accounts])
    db.session.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), "
                            "(SELECT max(id) FROM users))"))
    db.session.commit()
    cart = redis_clients.cart
    cart.flushdb()
    pipe = cart.pipeline(transaction=False)
    for a in accounts:
        for k in range(a["cart_total"]):
            pipe.hset(f"cart_{a['id']}", f"course_{k}", 1)
    pipe.execute()
    print(json.dumps({"hash": hashed, "users": db.session.execute(text("SELECT count(*) FROM users")).scalar(),
                      "redis": cart.info("server")["redis_version"]}))
"""
    accounts = [account(i) for i in range(1, n + 1)]
    done = subprocess.run([PY, "-c", code, PASSWORD], cwd=ROOT, env=env, check=True,
                          input=json.dumps(accounts), capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["users"] != n:
        raise SystemExit(f"seeded {result['users']} accounts, not {n}")
    return accounts, result["hash"], result["redis"]


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


def peer_env(base_env, db_url, floor_data, hashed):
    """The fastapi-users peer's environment: its own table in the benchmark's database."""
    m = re.search(r"\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    env = {k: v for k, v in base_env.items()
           if not k.startswith(("LUFFY_", "VIRTUAL_ENV")) and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PEER_DATABASE_URL=db_url.replace("postgresql://", "postgresql+asyncpg://", 1),
               BENCH_FLOOR_DATA=str(floor_data), PASSWORD_HASH_MEMORY_COST=m.group(1),
               PASSWORD_HASH_TIME_COST=m.group(2), PASSWORD_HASH_PARALLELISM=m.group(3))
    return env


def seed_peer(python, env, n):
    """Create and fill the peer's table (bench/peer_fastapi/seed.py) with its own venv."""
    done = subprocess.run([str(python), "-m", "bench.peer_fastapi.seed"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"seeding the peer failed:\n{done.stderr}")
    users = json.loads(done.stdout.strip().splitlines()[-1])["users"]
    if users != n:
        raise SystemExit(f"seeded {users} peer accounts, not {n}")


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


# --- servers --------------------------------------------------------------------------


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
        self.wait_ready()
        self.fresh_rss = self.settled_rss()  # before any load (a /healthz or two served)

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
        sizes = {}
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
            sizes[pid] = round(kb / 1024, 1)
        return sizes

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def call(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read()[:300]


def sessions(server, accounts):
    """Log each account in once: ``[(access, refresh), ...]``."""
    out = []
    for a in accounts:
        status, body = call("POST", server.url + "/users/login/",
                            {"username": a["username"], "password": PASSWORD})
        if status != 200:
            raise SystemExit(f"{server.name}: login of {a['username']} answered {status}: {body}")
        out.append((body["token"], body["refresh"]))
    return out


def request_lines(scenario, accounts, tokens):
    """The requests of ``scenario``, one tab-separated line each (see scenario.lua)."""
    lines = []
    for a, (access, refresh) in zip(accounts, tokens or [(None, None)] * len(accounts)):
        if scenario == "me":
            lines.append(("GET", "/users/me", f"Authorization: Bearer {access}", "-"))
        elif scenario == "verify":
            lines.append(("POST", "/users/login/verify", "-", json.dumps({"token": access})))
        elif scenario == "refresh":
            lines.append(("POST", "/users/login/refresh", "-", json.dumps({"refresh": refresh})))
        else:
            key = {"login": "username", "login_email": "email", "login_mobile": "mobile"}[scenario]
            lines.append(("POST", "/users/login/", "-",
                          json.dumps({"username": a[key], "password": PASSWORD})))
    return lines


def check_once(server, line):
    """One request of the scenario must succeed before wrk hammers it."""
    method, path, header, body = line
    headers = dict([header.split(": ", 1)]) if header != "-" else {}
    status, answer = call(method, server.url + path, None if body == "-" else json.loads(body), headers)
    if status != 200:
        raise SystemExit(f"{server.name}: {method} {path} answered {status}: {answer}")


def wrk(wrk_bin, server, scenario, connections, lines, seconds, tag):
    """Run wrk for ``seconds``; its numbers as a dict."""
    path = OUT / f"{server.name}-{scenario}{tag}.requests"
    path.write_text("".join("\t".join(line) + "\n" for line in lines))
    threads = min(2, connections)
    cmd = [wrk_bin, "-t", str(threads), "-c", str(connections), "-d", f"{max(seconds, 1):g}s",
           "--timeout", "10s", "--latency", "-H", "Connection: close",
           "-s", str(BENCH / "scenario.lua"), server.url]
    done = subprocess.run(cmd, env={**os.environ, "BENCH_REQUESTS": str(path)},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.M)
    if not match:
        raise SystemExit(f"wrk printed no BENCH_JSON line:\n{done.stdout}\n{done.stderr}")
    r = json.loads(match.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["errors"] = r["non2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    r["p50_ms"], r["p99_ms"] = r["p50_us"] / 1000, r["p99_us"] / 1000
    r["connections"], r["threads"] = connections, threads
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    r["wrk_non2xx_or_3xx"] = int(m.group(1)) if m else 0
    return r


def merged(slices):
    """One result from a server's slices: counts summed; p50 and p99 the slices' medians."""
    r = {key: sum(part[key] for part in slices)
         for key in ("requests", "duration_us", "non2xx", "connect_errors", "read_errors",
                     "write_errors", "timeouts", "errors", "wrk_non2xx_or_3xx")}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["p50_ms"] = statistics.median(part["p50_ms"] for part in slices)
    r["p99_ms"] = statistics.median(part["p99_ms"] for part in slices)
    r["slices_rps"] = [round(part["rps"], 1) for part in slices]
    r["bad_sample"] = next((part["bad_sample"] for part in slices if part.get("bad_sample")), None)
    r["connections"], r["threads"] = slices[0]["connections"], slices[0]["threads"]
    return r


def profile(server, scenario, seconds):
    """py-spy of every worker while wrk runs: the hottest frames, into bench/out/."""
    spy = Path(PY).parent / "py-spy"
    if not spy.exists():
        subprocess.run([PY, "-m", "pip", "install", "-q", "py-spy"], check=True)
    procs = []
    for pid in server.workers():
        out = OUT / f"profile-{scenario}-{pid}.txt"
        procs.append((out, subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--duration", f"{int(seconds)}",
             "--format", "raw", "--rate", "200", "--nonblocking", "--gil", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    return procs


# --- the run --------------------------------------------------------------------------


def machine_info(pg_version, redis_version, wrk_bin):
    cpu = "unknown"
    try:
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    versions = {}
    for package in ("flask", "werkzeug", "gunicorn", "sqlalchemy", "flask-sqlalchemy", "psycopg",
                    "redis", "flask-jwt-extended", "pyjwt", "argon2-cffi", "flask-limiter"):
        try:
            versions[package if package != "redis" else "redis-py"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package if package != "redis" else "redis-py"] = "-"
    wrk_version = subprocess.run([wrk_bin, "--version"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "postgresql server": pg_version,
        "redis server": redis_version,
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("Copyright")[0].strip(),
        **versions,
    }


def _ratio(a, b):
    return a["rps"] / b["rps"] if a and b and b["rps"] else None


def memory(servers, rounds):
    """Fresh-worker RSS and growth from one load round to the next, per server.

    ``rounds[server][scenario]`` is a list of ``{pid: MB}``, one after each slice (a load
    round). A worker *grows* when its RSS rises by more than ``LEAK_TOLERANCE_MB`` in two or
    more of a scenario's round-to-round steps: a leak rises with every round, while a single
    step is a new steady state (the 19 MiB argon2id block a worker keeps the first time it
    runs two checks at once). A scenario with one slice (--smoke) has no step.
    """
    out = {}
    for name, server in servers.items():
        worst, where, leaks = None, None, []
        for scenario, snaps in rounds.get(name, {}).items():
            rises = {}
            for before, after in zip(snaps, snaps[1:]):
                for pid, mb in after.items():
                    if pid in before:
                        rise = round(mb - before[pid], 1)
                        rises.setdefault(pid, []).append(rise)
                        if worst is None or rise > worst:
                            worst, where = rise, scenario
            for pid, steps in rises.items():
                if sum(step > LEAK_TOLERANCE_MB for step in steps) >= 2:
                    leaks.append({"scenario": scenario, "pid": pid, "steps_mb": steps})
        last = next((snaps[-1] for snaps in reversed(list(rounds.get(name, {}).values()))
                     if snaps), {})
        steps_seen = any(len(snaps) > 1 for snaps in rounds.get(name, {}).values())
        out[name] = {"fresh_mb": server.fresh_rss or {}, "after_mb": last,
                     "max_round_growth_mb": worst, "growth_scenario": where,
                     "growing_workers": leaks if steps_seen else None}
    return out


def verdicts(results, mem):
    """Per scenario: the ratios and every bar of issue 12; the memory bars; validity."""
    rows = []
    for name, connections, io_bar in SCENARIOS:
        if name not in results:
            continue
        r = results[name]
        lr = r["luffy"]
        django = max(DJANGO_PERSISTENT[name])
        bars = [{"what": "luffy/io floor", "bar": io_bar, "value": _ratio(lr, r["io"])}]
        if name in TOKEN_SCENARIOS:
            bars.append({"what": "luffy/Django persistent", "bar": DJANGO_BAR,
                         "value": lr["rps"] / django})
        if name in PEER_BAR_SCENARIOS:
            bars.append({"what": "luffy/fastapi-users", "bar": PEER_BAR,
                         "value": _ratio(lr, r.get("peer"))})
        io_ratio = _ratio(lr, r["io"])
        django_io = max(d / f for d, f in zip(DJANGO_PERSISTENT[name], ISSUE_IO_FLOOR[name])) \
            if name in ISSUE_IO_FLOOR else None
        errors = sum(part["errors"] for part in r.values())
        for bar in bars:
            bar["pass"] = bar["value"] is not None and bar["value"] >= bar["bar"] and errors == 0
        rows.append({"scenario": name, "connections": connections, "bars": bars,
                     "servers": r, "errors": errors, "django": DJANGO_PERSISTENT[name],
                     "floor_ratio": _ratio(lr, r["floor"]), "io_ratio": _ratio(lr, r["io"]),
                     "flask_ratio": _ratio(r.get("flask"), r["floor"]),
                     "peer_ratio": _ratio(lr, r.get("peer")),
                     "django_io": django_io,
                     "django_scaled": io_ratio / django_io if io_ratio and django_io else None,
                     "pass": all(bar["pass"] for bar in bars)})
    luffy_fresh = max(mem["luffy"]["fresh_mb"].values(), default=0.0)
    io_fresh = max(mem["io"]["fresh_mb"].values(), default=0.0)
    leaks = mem["luffy"]["growing_workers"]
    memory_bars = {
        "fresh": {"luffy_mb": luffy_fresh, "io_mb": io_fresh, "margin_mb": FRESH_RSS_MARGIN_MB,
                  "pass": bool(luffy_fresh and io_fresh)
                  and luffy_fresh - io_fresh <= FRESH_RSS_MARGIN_MB},
        "leak": {"growing_workers": leaks, "tolerance_mb": LEAK_TOLERANCE_MB,
                 "max_step_mb": mem["luffy"]["max_round_growth_mb"],
                 "pass": None if leaks is None else not leaks},
    }
    total_errors = sum(row["errors"] for row in rows)
    return {"rows": rows, "memory": mem, "memory_bars": memory_bars, "errors": total_errors,
            "valid": total_errors == 0,
            "all_pass": all(row["pass"] for row in rows) and memory_bars["fresh"]["pass"]
            and memory_bars["leak"]["pass"] is not False and total_errors == 0}


def _rps(part):
    return f"{part['rps']:.1f}" if part else "-"


def _x(ratio):
    return f"{ratio:.2f}" if ratio is not None else "-"


def _verdict(ok):
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def _mb(sizes):
    return ", ".join(f"{mb:.1f}" for mb in sizes.values()) or "-"


def memory_lines(v):
    """The memory findings, one line each (Markdown-friendly)."""
    mem, bars = v["memory"], v["memory_bars"]
    lines = []
    for name, m in mem.items():
        growth = m["max_round_growth_mb"]
        growing = m["growing_workers"]
        lines.append(f"{SERVER_LABELS[name]}: fresh {_mb(m['fresh_mb'])} MB, after the last round "
                     f"{_mb(m['after_mb'])} MB, largest rise from one round to the next "
                     + ("-" if growth is None else f"{growth:+.1f} MB ({m['growth_scenario']})")
                     + ("" if not growing else "; GROWING: " + ", ".join(
                         f"{g['pid']} in {g['scenario']} {g['steps_mb']}" for g in growing)))
    fresh, leak = bars["fresh"], bars["leak"]
    lines.append(f"bar: a fresh luffy worker ({fresh['luffy_mb']:.1f} MB) <= the io floor's "
                 f"({fresh['io_mb']:.1f} MB) + {fresh['margin_mb']} MB: {_verdict(fresh['pass'])}")
    lines.append("bar: no luffy worker grows from one load round to the next (more than "
                 f"{leak['tolerance_mb']} MB in two steps of a scenario): "
                 + ("- (one round per scenario)" if leak["pass"] is None
                    else f"largest step {leak['max_step_mb']:+.1f} MB, "
                         f"{len(leak['growing_workers'])} growing: {_verdict(leak['pass'])}"))
    return lines


def table(v, app_time):
    head = (f"{'scenario':<13} {'conns':>5} {'luffy':>8} {'floor':>8} {'l/floor':>7} {'io floor':>8} "
            f"{'l/io':>5} {'bar':>4} {'flask':>8} {'fl/floor':>8} {'fastapi-u':>9} {'l/fau':>5} "
            f"{'Django*':>11} {'luffy p50/p99':>15} {'io p50/p99':>13} {'errors':>6}  verdict")
    lines = ["req/s per server (flask = bare Flask, fastapi-u = fastapi-users; "
             "* = issue 12's figures from the issue's machine, not measured here)",
             head, "-" * len(head)]
    for r in v["rows"]:
        s = r["servers"]
        lr, io = s["luffy"], s["io"]
        lines.append(
            f"{r['scenario']:<13} {r['connections']:>5} {_rps(lr):>8} {_rps(s['floor']):>8} "
            f"{_x(r['floor_ratio']):>7} {_rps(io):>8} {_x(r['io_ratio']):>5} {r['bars'][0]['bar']:>4} "
            f"{_rps(s.get('flask')):>8} {_x(r['flask_ratio']):>8} {_rps(s.get('peer')):>9} "
            f"{_x(r['peer_ratio']):>5} {'%g / %g' % r['django']:>11} "
            f"{lr['p50_ms']:>6.1f}/{lr['p99_ms']:<8.1f} {io['p50_ms']:>5.1f}/{io['p99_ms']:<7.1f} "
            f"{r['errors']:>6}  {'PASS' if r['pass'] else 'FAIL'}")
    lines += ["", "bars (issue 12):"]
    for r in v["rows"]:
        for bar in r["bars"]:
            value = f"{bar['value']:.3f}" if bar["value"] is not None else "-"
            lines.append(f"  {r['scenario']:<13} {bar['what']:<24} {value:>6} "
                         f">= {bar['bar']:<4} {_verdict(bar['pass']) if bar['value'] is not None else 'not measured'}")
    lines += ["", "context (not a bar): luffy / Django through the io floor, "
              "(luffy / io floor) / (Django / io floor, the higher of the issue's two runs):"]
    lines += [f"  {r['scenario']:<13} {r['io_ratio']:.3f} / {r['django_io']:.3f} = "
              f"{r['django_scaled']:.2f} x Django" for r in v["rows"] if r.get("django_scaled")]
    lines.append("")
    lines += memory_lines(v)
    lines.append(f"create_app(): {app_time['total'] * 1000:.0f} ms (import {app_time['import'] * 1000:.0f} ms"
                 f" + create {app_time['create'] * 1000:.0f} ms), median of {app_time['runs']} fresh processes")
    lines.append(f"errors (non-2xx + socket errors, every server): {v['errors']} -> "
                 + ("VALID run" if v["valid"] else "INVALID RUN: the numbers do not count"))
    return "\n".join(lines)


def busy_note(info):
    load = float(info["load average at start (1/5/15 min)"].split(" / ")[0])
    if load < (info["nproc"] or 1) / 2:
        return ""
    return (f"\n**The machine was busy** (1-minute load average {load:.2f} on {info['nproc']} CPUs at "
            "the start): other work competed with the servers and with wrk, so every absolute "
            "number is low and noisy; the servers ran in turn, slice by slice, so their ratio is "
            "the fairer figure.\n")


def write_results(path, v, app_time, info, args, started, elapsed):
    rows = ["| scenario | conns | luffy req/s | floor req/s | luffy/floor | io floor req/s "
            "| luffy/io floor | bar | bare Flask req/s | bare Flask/floor | fastapi-users req/s "
            "| luffy/fastapi-users | Django persistent req/s (issue's machine, not measured here) "
            "| luffy p50 / p99 ms | io floor p50 / p99 ms | non-2xx + socket errors (all servers) "
            "| verdict |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for r in v["rows"]:
        s = r["servers"]
        lr, io = s["luffy"], s["io"]
        rows.append(
            f"| {r['scenario']} | {r['connections']} | {_rps(lr)} | {_rps(s['floor'])} | "
            f"{_x(r['floor_ratio'])} | {_rps(io)} | {_x(r['io_ratio'])} | >= {r['bars'][0]['bar']} | "
            f"{_rps(s.get('flask'))} | {_x(r['flask_ratio'])} | {_rps(s.get('peer'))} | "
            f"{_x(r['peer_ratio'])} | {'%g / %g' % r['django']} | "
            f"{lr['p50_ms']:.2f} / {lr['p99_ms']:.2f} | {io['p50_ms']:.2f} / {io['p99_ms']:.2f} | "
            f"{r['errors']} | {'PASS' if r['pass'] else 'FAIL'} |")
    bars = ["| scenario | bar | value | verdict |", "|---|---|--:|---|"]
    for r in v["rows"]:
        for bar in r["bars"]:
            value = f"{bar['value']:.3f}" if bar["value"] is not None else "-"
            bars.append(f"| {r['scenario']} | {bar['what']} >= {bar['bar']} | {value} | "
                        f"{_verdict(bar['pass']) if bar['value'] is not None else 'not measured'} |")
    scaled = "\n".join(
        f"| {r['scenario']} | {r['io_ratio']:.3f} | {r['django_io']:.3f} | {r['django_scaled']:.2f} |"
        for r in v["rows"] if r.get("django_scaled"))
    mem = "\n".join(f"- {line}" for line in memory_lines(v))
    machine = "\n".join(f"| {k} | {val} |" for k, val in info.items())
    text = f"""# Benchmark results

Written by `.venv/bin/python -m bench` on {started} ({elapsed:.0f} s). Rerun it to
replace this file; the raw numbers of every run are in `bench/out/` (not committed).
How it works and what it measures: [README.md](README.md).

**{"VALID run: no non-2xx answer and no socket error." if v["valid"] else
   "INVALID RUN: " + str(v["errors"]) + " non-2xx answers or socket errors; the numbers do not count."}**
{"Every bar passes." if v["all_pass"] else "Not every bar passes: see the FAIL lines."}
{busy_note(info)}

Settings: gunicorn `{" ".join(GUNICORN_ARGS)}` for luffy, the floor, the same-I/O floor and
bare Flask, `{" ".join(PEER_GUNICORN_ARGS)}` for fastapi-users; production configuration,
PostgreSQL and Redis on 127.0.0.1, {args.accounts} seeded accounts; wrk with `Connection: close`
(a new connection per request), 2 threads, {args.duration:g} s per scenario and server in
{args.slices} slices run in turn with the other servers', after {args.warmup:g} s of warm-up; each scenario cycles through {CYCLE} accounts.
`LUFFY_LOGIN_RATE_LIMIT` is `{RATE_LIMIT}` so that the run measures throughput, not the
throttle (it counts only failures, and there are none; refreshes are not throttled).

{chr(10).join(rows)}

The bars of issue 12 (a bar passes only in a run without errors):

{chr(10).join(bars)}

Context, not a bar: Django was not measured here, so its bar compares luffy with figures
from another machine and another day. The issue's runs measured the same-I/O floor too;
Django / io floor from them, and luffy / io floor from this run, compare the two through
the floor that both runs share:

| scenario | luffy / io floor (here) | Django / io floor (the higher of the issue's two runs) | luffy / Django through the floor |
|---|--:|--:|--:|
{scaled}

Memory (VmRSS of each gunicorn worker; a load round is one slice):

{mem}

- `create_app()` in a fresh process (production configuration, median of {app_time["runs"]}):
  {app_time["total"] * 1000:.0f} ms = import {app_time["import"] * 1000:.0f} ms + create {app_time["create"] * 1000:.0f} ms.
- Django persistent: the old backend with `CONN_MAX_AGE=600`, two runs on the issue's
  machine (issue 12); the bar compares luffy with the better of the two.

## Machine

| | |
|---|---|
{machine}
"""
    path.write_text(text)


def start_servers(args, env, floor_env, io_env, peer):
    """Every server of the run, started one after the other (``peer``: (python, env) or None)."""
    servers = {}
    log("starting luffy, the floor, the same-I/O floor and bare Flask under gunicorn "
        + " ".join(GUNICORN_ARGS) + (", fastapi-users under " + " ".join(PEER_GUNICORN_ARGS)
                                     if peer else ""))
    servers["luffy"] = Server("luffy", "wsgi:app", env)
    servers["floor"] = Server("floor", "bench.floor:app", floor_env)
    servers["io"] = Server("io", "bench.io_floor:app", io_env)
    servers["flask"] = Server("flask", "bench.flask_floor:app", floor_env)
    if peer:
        servers["peer"] = Server("peer", "bench.peer_fastapi.app:app", peer[1], python=peer[0],
                                 gunicorn_args=PEER_GUNICORN_ARGS)
    return servers


def run_scenarios(args, wrk_bin, servers, accounts):
    """Every scenario on every server, slice by slice; the results and the RSS rounds."""
    results, rounds = {}, {name: {} for name in servers}
    cycle = accounts[:CYCLE]
    for name, connections, _bar in SCENARIOS:
        if name not in args.scenarios:
            continue
        results[name] = {}
        which_servers = [w for w in ("luffy", "floor", "io", "flask", "peer") if w in servers
                         and (w != "flask" or name in TOKEN_SCENARIOS)]
        lines = {}
        for which in which_servers:
            server = servers[which]
            tokens = sessions(server, cycle) if name in TOKEN_SCENARIOS else None
            lines[which] = request_lines(name, cycle, tokens)
            check_once(server, lines[which][0])
            if args.warmup:
                wrk(wrk_bin, server, name, connections, lines[which], args.warmup, "-warmup")
        spies = profile(servers["luffy"], name, args.profile) \
            if args.profile and name in TOKEN_SCENARIOS else []
        slices = {which: [] for which in which_servers}
        for which in which_servers:
            rounds[which][name] = []
        for i in range(args.slices):  # in turn, so that a slow spell hits every server
            for which in which_servers:
                slices[which].append(wrk(wrk_bin, servers[which], name, connections, lines[which],
                                         args.duration / args.slices, f"-{i}"))
                rounds[which][name].append(servers[which].rss_mb())
        for _out, spy in spies:
            spy.wait()
        for which in which_servers:
            r = results[name][which] = merged(slices[which])
            r["rss_rounds_mb"] = [list(snap.values()) for snap in rounds[which][name]]
            log(f"  {name:<13} {which:<6} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.2f} ms  "
                f"p99 {r['p99_ms']:.2f} ms  errors {r['errors']}  slices {r['slices_rps']}"
                + (f"  (first bad answer: {r['bad_sample']})" if r["bad_sample"] else ""))
    return results, rounds


def main(argv=None):
    args = parse_args(argv)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t_start = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    wrk_bin = ensure_wrk()
    peer_python = ensure_peer_venv() if args.peers else None
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    load_before = loadavg()
    if load_before[0] >= (os.cpu_count() or 1) / 2:
        log(f"warning: load average {load_before[0]:.2f} on {os.cpu_count()} CPUs: other work "
            "competes with the benchmark, whose numbers will be low and noisy")
    secret = secrets.token_hex(32)
    db_url = database_url(args.pg_admin_url, args.database)
    env = luffy_env(db_url, args.redis_url, secret)

    log(f"database {args.database}: drop and create")
    pg_version = create_database(args.pg_admin_url, args.database)
    log(f"seeding {args.accounts} accounts (one insert, one argon2id hash) and their carts")
    accounts, hashed, redis_version = seed(env, args.accounts)
    log("timing create_app()")
    app_time = create_app_time(env, runs=2 if args.smoke else 5)

    floor_data = OUT / "floor-data.json"
    m = re.search(r"\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    floor_data.write_text(json.dumps({
        "secret": secret, "hash": hashed, "accounts": accounts,
        "memory_cost": int(m.group(1)), "time_cost": int(m.group(2)), "parallelism": int(m.group(3)),
    }))
    floor_env = {k: v for k, v in env.items()
                 if not k.startswith("LUFFY_") and k not in ("DATABASE_URL", "REDIS_URL")}
    floor_env["BENCH_FLOOR_DATA"] = str(floor_data)
    io_env = {**floor_env, "DATABASE_URL": db_url, "REDIS_URL": args.redis_url}
    peer = None
    if peer_python:
        peer = (peer_python, peer_env(env, db_url, floor_data, hashed))
        log(f"seeding the fastapi-users peer's table with the same {args.accounts} accounts")
        seed_peer(peer_python, peer[1], args.accounts)

    servers = {}
    try:
        servers = start_servers(args, env, floor_env, io_env, peer)
        results, rounds = run_scenarios(args, wrk_bin, servers, accounts)
        mem = memory(servers, rounds)
    finally:
        for server in servers.values():
            server.stop()

    v = verdicts(results, mem)
    info = machine_info(pg_version, redis_version, wrk_bin)
    if peer_python:
        freeze = subprocess.run([str(peer_python), "-m", "pip", "freeze"], capture_output=True,
                                text=True).stdout
        for package in ("fastapi-users", "fastapi", "uvicorn", "SQLAlchemy", "asyncpg", "pwdlib"):
            found = re.search(rf"^{re.escape(package)}==(\S+)$", freeze, re.M | re.I)
            info[f"peer: {package.lower()}"] = found.group(1) if found else "-"
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in load_before)
    info["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in loadavg())
    elapsed = time.monotonic() - t_start
    print(table(v, app_time))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raw = {"started": started, "smoke": args.smoke, "duration": args.duration, "warmup": args.warmup,
           "slices": args.slices, "accounts": args.accounts, "peers": args.peers,
           "elapsed_s": round(elapsed, 1), "machine": info, "create_app_s": app_time, **v}
    for path in (OUT / f"results-{stamp}.json", OUT / "latest.json"):
        path.write_text(json.dumps(raw, indent=2, default=str))
    if not args.no_results:
        write_results(BENCH / "RESULTS.md", v, app_time, info, args, started, elapsed)
        log("wrote bench/RESULTS.md")
    log(f"raw numbers: bench/out/results-{stamp}.json  ({elapsed:.0f} s)")
    return 0 if v["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
