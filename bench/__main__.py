"""The benchmark: luffy against its floors and a fastapi-users peer, in one run.

    .venv/bin/python -m bench            # every scenario, 10 s each; writes bench/RESULTS.md
    .venv/bin/python -m bench --smoke    # every scenario for 1 s: does it start? (CI)

See bench/README.md for what it does and what the numbers mean.
"""

import argparse
import json
import logging
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bench.memory import LEAK_TOLERANCE_MB, worker_memory
from bench.paths import BENCH, OUT, PY
from bench.seed import (
    PASSWORD, create_database, database_url, seed, seed_peer, write_floor_data,
)
from bench.servers import (
    GUNICORN_ARGS, LABELS, PEER_GUNICORN_ARGS, RATE_LIMIT, create_app_time, ensure_peer_venv,
    luffy_env, peer_env, start_servers,
)

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
# The scenarios that need tokens first; bench/flask_floor.py (the floor's views in bare
# Flask, the framework's ceiling) is measured on these too.
TOKEN_SCENARIOS = ("me", "verify", "refresh")
CYCLE = 16  # how many accounts each scenario cycles through

log = logging.getLogger("bench").info


def loadavg():
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def wait_quiet(seconds):
    """Wait up to ``seconds`` for the 1-minute load average to drop below nproc / 2."""
    limit = (os.cpu_count() or 1) / 2
    deadline = time.monotonic() + seconds
    while loadavg()[0] >= limit and time.monotonic() < deadline:
        log(f"load average {loadavg()[0]:.2f} >= {limit:g}: waiting for a quieter machine")
        time.sleep(10)


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
        lines.append(f"{LABELS[name]}: fresh {_mb(m['fresh_mb'])} MB, after the last round "
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
    logging.basicConfig(format="%(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
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

    write_floor_data(secret, hashed, accounts)
    peer = None
    if peer_python:
        peer = (peer_python, peer_env(env, hashed))
        log(f"seeding the fastapi-users peer's table with the same {args.accounts} accounts")
        seed_peer(peer_python, peer[1], args.accounts)

    servers = {}
    try:
        servers = start_servers(env, peer)
        results, rounds = run_scenarios(args, wrk_bin, servers, accounts)
        mem = worker_memory(servers, rounds)
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
