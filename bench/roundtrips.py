"""Round trips per request to PostgreSQL and Redis, counted with strace: luffy against the io floor.

    .venv/bin/python -m bench.roundtrips [--requests 20] [me verify refresh login]

Needs strace and the database and floor data that a ``python -m bench`` run leaves
(``--database``/``--redis-url`` as given to that run; defaults ``luffy_bench``, DB 13). It
starts luffy and the same-I/O floor (``bench/io_floor.py``) under the benchmark's gunicorn
settings, logs 16 accounts in on each, then for each request kind traces every thread of
both workers (``strace -f -yy -e sendto,sendmsg,write``) while it sends the requests one
at a time, and counts the sends to port 5432 and to port 6379 per request: the I/O a
request costs, a figure the machine's load cannot move. A PostgreSQL request is one send
(psycopg sends a statement, or a pipeline of them, at once); so is a Redis command.
"""

import argparse
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.load import CYCLE, SCENARIOS, scenario_lines, send
from bench.paths import OUT
from bench.seed import DATABASE, FLOOR_DATA, PG_ADMIN_URL, REDIS_URL, account, database_url
from bench.servers import Server, io_env, luffy_env

KINDS = tuple(SCENARIOS)
SEND = re.compile(r"(sendto|sendmsg|write)\(\d+<TCP:\[[^\]]*->[^\]]*:(\d+)\]>")


def trace(server, lines, requests):
    """Sends per request to each port, from every thread of ``server``'s workers."""
    log = OUT / f"roundtrips-{server.name}.strace"
    pids = [f"-p{task.name}" for pid in server.workers()
            for task in Path(f"/proc/{pid}/task").iterdir()]
    spy = subprocess.Popen(["strace", "-f", "-yy", "-qq", "-e", "trace=sendto,sendmsg,write",
                            "-s", "0", "-o", str(log), *pids],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # attached
    for i in range(requests):
        send(server, lines[i % len(lines)])
    time.sleep(0.5)
    spy.terminate()
    spy.wait()
    ports = Counter(m.group(2) for m in SEND.finditer(log.read_text()))
    return {"postgresql": ports["5432"] / requests, "redis": ports["6379"] / requests}


def main(argv=None):
    """Print each request kind's sends to PostgreSQL and Redis, luffy's and the io floor's."""
    p = argparse.ArgumentParser(prog="python -m bench.roundtrips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kinds", nargs="*", help="any of: " + ", ".join(KINDS) + " (default all)")
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--database", default=DATABASE)
    p.add_argument("--redis-url", default=REDIS_URL)
    p.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = p.parse_args(argv)
    args.kinds = args.kinds or list(KINDS)
    if set(args.kinds) - set(KINDS):
        p.error(f"unknown kinds: {', '.join(sorted(set(args.kinds) - set(KINDS)))}")
    if not FLOOR_DATA.exists():
        raise SystemExit("run python -m bench first: it seeds the database and writes "
                         "bench/out/floor-data.json")
    env = luffy_env(database_url(args.pg_admin_url, args.database), args.redis_url,
                    secrets.token_hex(32))
    accounts = [account(i) for i in range(1, CYCLE + 1)]
    with Server("luffy", "wsgi:app", env) as luffy, \
            Server("io", "bench.io_floor:app", io_env(env)) as io:
        print(f"{'request':<13} {'luffy PG':>8} {'luffy Redis':>11} {'io PG':>6} {'io Redis':>8}")
        for kind in args.kinds:
            at_luffy, at_io = [trace(server, scenario_lines(server, kind, accounts), args.requests)
                               for server in (luffy, io)]
            print(f"{kind:<13} {at_luffy['postgresql']:>8.2f} {at_luffy['redis']:>11.2f} "
                  f"{at_io['postgresql']:>6.2f} {at_io['redis']:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
