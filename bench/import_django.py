"""The import from the old Django backend: N accounts from MariaDB and from PostgreSQL
into PostgreSQL, as an operator runs it (``flask --app wsgi users import-django``).

    .venv/bin/python -m bench.import_django                  # 1,000,000 accounts
    .venv/bin/python -m bench.import_django --count 100000
    .venv/bin/python -m bench.import_django --smoke          # 2,000 accounts (CI: "does it run?")

For each source: the old table is made by Django's own migrations (tests/legacy_django,
so the test extra must be installed), then filled server-side (``generate_series`` /
MariaDB's ``seq_1_to_N``) with Django-format rows whose one password hash Django's
``make_password`` made; luffy's database is made by its migrations. Then the import runs
twice in a child process: the first run (every account new) and a re-run (nothing new).
Reported: accounts a second end to end (the command's wall time, start-up included), and
the child's peak RSS (``wait4``). Goals: 20,000/s, re-run 50,000/s, RSS under 150 MB.
Writes ``bench/out/import-django.json``.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from bench.paths import OUT, PY, ROOT
from bench.seed import PG_ADMIN_URL, create_database, database_url

MARIADB_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root"}
SOURCE = "luffy_bench_src"  # dropped and recreated on each server by every run
TARGET = "luffy_bench_import"  # on PostgreSQL, dropped and recreated by every run
PASSWORD = "bench password 0123"
GOALS = {"rate": 20_000, "rerun_rate": 50_000, "rss_mb": 150}

# Runs in a child with the test extra: Django builds the old table and hashes once.
DJANGO_SCHEMA = r"""
import sys
from tests import legacy_django
legacy_django.configure(sys.argv[1])
from django.contrib.auth.hashers import make_password
print(make_password(sys.argv[2]))
"""

COLUMNS = ("password, last_login, is_superuser, username, first_name, last_name, email, "
           "is_staff, is_active, date_joined, mobile, money, credit, avatar, nickname")
FILL_PG = f"""
INSERT INTO lf_users (id, {COLUMNS})
SELECT n, %(hash)s, NULL, false, 'user' || n, '', '', 'user' || n || '@example.com',
       false, true, now(), '138' || lpad(n::text, 8, '0'), (n %% 1000) + 0.50, n %% 100,
       CASE WHEN n %% 2 = 0 THEN 'avatar/' || n || '.png' ELSE '' END,
       CASE WHEN n %% 3 = 0 THEN NULL ELSE 'User ' || n END
FROM generate_series(1, %(count)s) AS n
"""
FILL_MARIADB = """
INSERT INTO lf_users (id, {columns})
SELECT seq, %(hash)s, NULL, 0, CONCAT('user', seq), '', '', CONCAT('user', seq, '@example.com'),
       0, 1, UTC_TIMESTAMP(6), CONCAT('138', LPAD(seq, 8, '0')), (seq %% 1000) + 0.50, seq %% 100,
       IF(seq %% 2 = 0, CONCAT('avatar/', seq, '.png'), ''),
       IF(seq %% 3 = 0, NULL, CONCAT('User ', seq))
FROM seq_1_to_{count}
"""


def mariadb_url(name):
    return f"mysql://{MARIADB_ADMIN['user']}@{MARIADB_ADMIN['host']}:{MARIADB_ADMIN['port']}/{name}"


def create_mariadb(name):
    import pymysql

    conn = pymysql.connect(**MARIADB_ADMIN, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    conn.close()


def django_schema(url):
    """Django migrates the old database; answers a hash of PASSWORD made by Django."""
    done = subprocess.run([PY, "-c", DJANGO_SCHEMA, url, PASSWORD], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def fill(kind, url, count, hashed):
    """``count`` accounts, ids 1..count, filled by the server itself."""
    started = time.monotonic()
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILL_PG, {"hash": hashed, "count": count})
            conn.execute("ANALYZE lf_users")
    else:
        import pymysql

        conn = pymysql.connect(**MARIADB_ADMIN, database=SOURCE, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(FILL_MARIADB.format(columns=COLUMNS, count=count), {"hash": hashed})
        conn.close()
    return time.monotonic() - started


def luffy_env(target_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUFFY_")
           and k not in ("DATABASE_URL", "REDIS_URL", "CART_REDIS_URL")}
    env.update(LUFFY_CONFIG="development", DATABASE_URL=target_url, PYTHONUNBUFFERED="1")
    return env


def timed(args, env):
    """Run ``args``; (seconds, peak RSS in MB, exit code, output)."""
    started = time.monotonic()
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, round(usage.ru_maxrss / 1024, 1), child.returncode, output


def one_source(kind, count, pg_admin_url, batch):
    source_url = database_url(pg_admin_url, SOURCE) if kind == "postgresql" else mariadb_url(SOURCE)
    if kind == "postgresql":
        create_database(pg_admin_url, SOURCE)
    else:
        create_mariadb(SOURCE)
    hashed = django_schema(source_url)
    seeded = fill(kind, source_url, count, hashed)
    target_url = database_url(pg_admin_url, TARGET)
    create_database(pg_admin_url, TARGET)
    env = luffy_env(target_url)
    subprocess.run([PY, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    command = [PY, "-m", "flask", "--app", "wsgi", "users", "import-django", source_url,
               "--media-url", "https://cdn.example.com/media/", "--batch", str(batch)]
    result = {"source": kind, "count": count, "seed_s": round(seeded, 1)}
    for run in ("first", "rerun"):
        seconds, rss, code, output = timed(command, env)
        if code != 0:
            raise SystemExit(f"{kind} {run} run: exit {code}\n{output[-3000:]}")
        result[run] = {"seconds": round(seconds, 1), "rate": round(count / seconds),
                       "rss_mb": rss, "summary": output.strip().splitlines()[-1]}
        print(f"  {kind:10} {run:5}: {count} accounts in {seconds:.1f} s = "
              f"{count / seconds:,.0f}/s, peak RSS {rss} MB", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.import_django", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 accounts: does it run?")
    parser.add_argument("--sources", default="mariadb,postgresql")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args(argv)
    count = 2000 if args.smoke else args.count
    results = []
    for kind in args.sources.split(","):
        print(f"{kind}: seeding {count} Django accounts, then importing twice", flush=True)
        results.append(one_source(kind, count, args.pg_admin_url, args.batch))
    verdicts = []
    for r in results:
        verdicts += [
            (f"{r['source']} first run >= {GOALS['rate']:,}/s", r["first"]["rate"] >= GOALS["rate"]),
            (f"{r['source']} re-run >= {GOALS['rerun_rate']:,}/s", r["rerun"]["rate"] >= GOALS["rerun_rate"]),
            (f"{r['source']} peak RSS < {GOALS['rss_mb']} MB",
             max(r["first"]["rss_mb"], r["rerun"]["rss_mb"]) < GOALS["rss_mb"]),
        ]
    if args.smoke:  # a few thousand accounts: the rate is the command's start-up
        verdicts = []
    for name, ok in verdicts:
        print(f"  {'met   ' if ok else 'MISSED'} {name}")
    OUT.mkdir(exist_ok=True)
    (OUT / "import-django.json").write_text(json.dumps(
        {"results": results, "goals": GOALS, "smoke": args.smoke}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
