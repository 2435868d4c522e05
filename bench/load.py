"""The load: each scenario's requests, wrk runs cut into slices taken in turn, and their merge."""

import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from bench.paths import BENCH, OUT, PY
from bench.seed import PASSWORD

log = logging.getLogger(__name__).info

# Each scenario and its wrk connections (a login is slow: fewer connections keep it CPU-bound).
SCENARIOS = {"me": 8, "verify": 8, "refresh": 8, "login": 2, "login_email": 2, "login_mobile": 2}
# The scenarios that need tokens first; bench/flask_floor.py (the floor's views in bare
# Flask, the framework's ceiling) is measured on these too.
TOKEN_SCENARIOS = ("me", "verify", "refresh")
CYCLE = 16  # how many accounts each scenario cycles through
ORDER = ("luffy", "floor", "io", "flask", "peer")  # the servers' turns in every round


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
    """One HTTP request with a JSON body: its status and its decoded answer."""
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


def scenario_lines(server, scenario, accounts):
    """``scenario``'s requests on ``server``, with tokens from fresh logins where it needs them."""
    tokens = sessions(server, accounts) if scenario in TOKEN_SCENARIOS else None
    return request_lines(scenario, accounts, tokens)


def send(server, line):
    """Send one request line; anything but a 200 stops the run."""
    method, path, header, body = line
    headers = dict([header.split(": ", 1)]) if header != "-" else {}
    status, answer = call(method, server.url + path, None if body == "-" else json.loads(body), headers)
    if status != 200:
        raise SystemExit(f"{server.name}: {method} {path} answered {status}: {answer}")


def wrk(wrk_bin, server, scenario, lines, seconds, tag):
    """Run wrk for ``seconds``; its numbers as a dict."""
    connections = SCENARIOS[scenario]
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


def run_scenario(args, wrk_bin, servers, scenario, accounts):
    """One scenario on every server that serves it, slice by slice: results and RSS rounds."""
    which_servers = [w for w in ORDER if w in servers
                     and (w != "flask" or scenario in TOKEN_SCENARIOS)]
    lines = {}
    for which in which_servers:
        server = servers[which]
        lines[which] = scenario_lines(server, scenario, accounts)
        send(server, lines[which][0])  # one request must succeed before wrk hammers it
        if args.warmup:
            wrk(wrk_bin, server, scenario, lines[which], args.warmup, "-warmup")
    spies = profile(servers["luffy"], scenario, args.profile) \
        if args.profile and scenario in TOKEN_SCENARIOS else []
    slices = {which: [] for which in which_servers}
    rounds = {which: [] for which in which_servers}
    for i in range(args.slices):  # in turn, so that a slow spell hits every server
        for which in which_servers:
            slices[which].append(wrk(wrk_bin, servers[which], scenario, lines[which],
                                     args.duration / args.slices, f"-{i}"))
            rounds[which].append(servers[which].rss_mb())
    for _out, spy in spies:
        spy.wait()
    results = {}
    for which in which_servers:
        r = results[which] = merged(slices[which])
        r["rss_rounds_mb"] = [list(snap.values()) for snap in rounds[which]]
        log(f"  {scenario:<13} {which:<6} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.2f} ms  "
            f"p99 {r['p99_ms']:.2f} ms  errors {r['errors']}  slices {r['slices_rps']}"
            + (f"  (first bad answer: {r['bad_sample']})" if r["bad_sample"] else ""))
    return results, rounds


def run_scenarios(args, wrk_bin, servers, accounts):
    """Every chosen scenario on every server: ``results[scenario][server]`` and the RSS rounds."""
    results, rounds = {}, {name: {} for name in servers}
    for scenario in SCENARIOS:
        if scenario in args.scenarios:
            results[scenario], scenario_rounds = run_scenario(
                args, wrk_bin, servers, scenario, accounts[:CYCLE])
            for which, snaps in scenario_rounds.items():
                rounds[which][scenario] = snaps
    return results, rounds
