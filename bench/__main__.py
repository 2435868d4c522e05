"""The benchmark: luffy against its floors and a fastapi-users peer, in one run.

    .venv/bin/python -m bench            # every scenario, 10 s each; writes bench/RESULTS.md
    .venv/bin/python -m bench --smoke    # every scenario for 1 s: does it start? (CI)

See bench/README.md for what it does and what the numbers mean.
"""

import argparse
import json
import logging
import os
import secrets
import sys
import time
from datetime import datetime, timezone

from bench import seed
from bench.load import CYCLE, SCENARIOS, ensure_wrk, run_scenarios
from bench.machine import load_at_start, machine_info
from bench.memory import worker_memory
from bench.paths import BENCH, OUT
from bench.servers import (
    GUNICORN_ARGS, LABELS, PEER_GUNICORN_ARGS, RATE_LIMIT, create_app_time, ensure_peer_venv,
    luffy_env, peer_env, start_servers,
)
from bench.verdicts import verdicts

log = logging.getLogger("bench").info


def parse_args(argv=None):
    """The command line, with the environment's BENCH_* defaults; --smoke overrides."""
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
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated subset of: " + ", ".join(SCENARIOS))
    p.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", seed.PG_ADMIN_URL),
                   help="a superuser connection to create the database with")
    p.add_argument("--database", default=os.environ.get("BENCH_DATABASE", seed.DATABASE),
                   help="the database the benchmark drops and recreates (default luffy_bench)")
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", seed.REDIS_URL),
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
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


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


def prepare(args):
    """A new database and Redis DB with the accounts, and the floors' data file."""
    secret = secrets.token_hex(32)
    env = luffy_env(seed.database_url(args.pg_admin_url, args.database), args.redis_url, secret)
    log(f"database {args.database}: drop and create")
    pg_version = seed.create_database(args.pg_admin_url, args.database)
    log(f"seeding {args.accounts} accounts (one insert, one argon2id hash) and their carts")
    accounts, hashed, redis_version = seed.seed(env, args.accounts)
    seed.write_floor_data(secret, hashed, accounts)
    return env, accounts, hashed, pg_version, redis_version


def prepare_peer(peer_python, env, hashed, n):
    """The peer's table, filled with the same ``n`` accounts; its (python, env)."""
    peer = (peer_python, peer_env(env, hashed))
    log(f"seeding the fastapi-users peer's table with the same {n} accounts")
    seed.seed_peer(*peer, n)
    return peer


def main(argv=None):
    """Run the benchmark; exit status 1 when the run is invalid (any error answer)."""
    logging.basicConfig(format="%(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    args = parse_args(argv)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t_start = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    wrk_bin = ensure_wrk()
    peer_python = ensure_peer_venv() if args.peers else None
    load_before = load_at_start(args.wait_quiet)
    env, accounts, hashed, pg_version, redis_version = prepare(args)
    log("timing create_app()")
    app_time = create_app_time(env, runs=2 if args.smoke else 5)
    peer = prepare_peer(peer_python, env, hashed, args.accounts) if peer_python else None
    servers = {}
    try:
        servers = start_servers(env, peer)
        results, rounds = run_scenarios(args, wrk_bin, servers, accounts)
        mem = worker_memory(servers, rounds)
    finally:
        for server in servers.values():
            server.stop()

    v = verdicts(results, mem)
    info = machine_info(pg_version, redis_version, wrk_bin, peer_python, load_before)
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
