"""The benchmark: luffy against its floors and a fastapi-users peer, in one run.

    .venv/bin/python -m bench            # every scenario, 10 s each; writes bench/RESULTS.md
    .venv/bin/python -m bench --smoke    # every scenario for 1 s: does it start? (CI)

See bench/README.md for what it does and what the numbers mean.
"""

import argparse
import logging
import os
import secrets
import sys
import time
from datetime import datetime, timezone

from bench import seed
from bench.load import SCENARIOS, ensure_wrk, run_scenarios
from bench.machine import load_at_start, machine_info
from bench.memory import worker_memory
from bench.paths import BENCH, OUT
from bench.report import table, write_raw, write_results
from bench.servers import create_app_time, ensure_peer_venv, luffy_env, peer_env, running
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
    with running(env, peer) as servers:
        results, rounds = run_scenarios(args, wrk_bin, servers, accounts)
        mem = worker_memory(servers, rounds)

    v = verdicts(results, mem)
    info = machine_info(pg_version, redis_version, wrk_bin, peer_python, load_before)
    elapsed = time.monotonic() - t_start
    print(table(v, app_time))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    write_raw({"started": started, "smoke": args.smoke, "duration": args.duration,
               "warmup": args.warmup, "slices": args.slices, "accounts": args.accounts,
               "peers": args.peers, "elapsed_s": round(elapsed, 1), "machine": info,
               "create_app_s": app_time, **v}, stamp)
    if not args.no_results:
        write_results(BENCH / "RESULTS.md", v, app_time, info, args, started, elapsed)
        log("wrote bench/RESULTS.md")
    log(f"raw numbers: bench/out/results-{stamp}.json  ({elapsed:.0f} s)")
    return 0 if v["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
