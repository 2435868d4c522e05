"""Instructions per request, counted by callgrind: a figure the machine's load cannot move.

    .venv/bin/python -m bench.instructions me verify refresh healthz login
    .venv/bin/python -m bench.instructions sessions events   # the security center's reads
    .venv/bin/python -m bench.instructions --io me verify refresh healthz login   # the same-I/O floor

Needs valgrind (``apt-get install -y valgrind``) and the accounts that a ``python -m bench``
run leaves in its database (``luffy_bench``, Redis DB 13). For each
request kind it runs luffy's WSGI app in-process (production configuration) under
``valgrind --tool=callgrind`` twice, with 20 and with 120 requests (a login: 5 and 25,
its argon2id check being slow under valgrind), and prints the difference divided by the
difference in requests: the instructions one request costs in luffy's process, start-up
excluded. PostgreSQL's and Redis's own work is not in it. Both runs use one hash seed
(``PYTHONHASHSEED=0``): with a random seed per run the layout of every dict and set
differs between the two, and the difference moved by up to 100 k (healthz: 662 k and
762 k with random seeds, 658 k twice with seed 0). Extra ``LUFFY_*`` variables in
the environment reach the app, so a setting can be compared with and without.
"""

import io
import os
import re
import subprocess
import sys

from bench.paths import ROOT
from bench.seed import (
    DATABASE, FLOOR_DATA, PASSWORD, PG_ADMIN_URL, REDIS_URL, account, database_url,
)
from bench.servers import luffy_settings

ENV = {
    **luffy_settings(database_url(PG_ADMIN_URL, DATABASE), REDIS_URL, "instructions-" + "x" * 32),
    "LUFFY_LOG_LEVEL": "WARNING",
    "PYTHONHASHSEED": "0",  # the same dict and set layouts in both runs (see above)
}
KINDS = ("healthz", "verify", "me", "refresh", "login", "sessions", "events")
# Requests in the two runs whose difference is counted: a login's argon2id check is slow
# under callgrind, so fewer of them (the difference is divided by what it spans).
RUNS = {"login": (5, 25)}


def child(kind, n, target="luffy"):
    """Serve ``n`` requests of ``kind`` by calling the WSGI app directly."""
    from werkzeug.test import Client, EnvironBuilder

    if target == "io":
        from bench.io_floor import app
    else:
        from luffy import create_app

        app = create_app()
    login = Client(app).post(
        "/users/login/", json={"username": account(1)["username"], "password": PASSWORD})
    tokens = login.get_json()
    if login.status_code != 200:
        raise SystemExit(f"login failed ({login.status_code}): run python -m bench first")
    builder = {
        "healthz": lambda: EnvironBuilder("/healthz"),
        "verify": lambda: EnvironBuilder("/users/login/verify", method="POST",
                                         json={"token": tokens["token"]}),
        "me": lambda: EnvironBuilder("/users/me",
                                     headers={"Authorization": "Bearer " + tokens["token"]}),
        "refresh": lambda: EnvironBuilder("/users/login/refresh", method="POST",
                                          json={"refresh": tokens["refresh"]}),
        "login": lambda: EnvironBuilder("/users/login/", method="POST", json={
            "username": account(1)["username"], "password": PASSWORD}),
        # The security center's reads (luffy only: the floors have no such endpoints).
        "sessions": lambda: EnvironBuilder(
            "/users/sessions", headers={"Authorization": "Bearer " + tokens["token"]}),
        "events": lambda: EnvironBuilder(
            "/users/events", headers={"Authorization": "Bearer " + tokens["token"]}),
    }[kind]()
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    statuses = []
    for _ in range(n):
        request = {**environ, "wsgi.input": io.BytesIO(body)}
        for _chunk in app(request, lambda status, headers, exc_info=None: statuses.append(status)):
            pass
    if not all(status.startswith("200") for status in statuses):
        raise SystemExit(f"{kind}: not every answer was 200: {sorted(set(statuses))}")


def count(kind, n, target="luffy"):
    """Instructions callgrind collected for a whole child run."""
    env = {**os.environ, **{k: v for k, v in ENV.items() if k not in os.environ}}
    if target == "io":  # the io floor reads the argon2id parameters from the last run's file
        env.setdefault("BENCH_FLOOR_DATA", str(FLOOR_DATA))
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-m", "bench.instructions", "--child", kind, str(n), target],
        cwd=ROOT, env=env, capture_output=True, text=True)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not match:
        raise SystemExit(f"{kind}: callgrind run failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main(argv):
    """Print the instructions per request of each kind in ``argv`` (``--io``: the io floor's)."""
    if argv[:1] == ["--child"]:
        child(argv[1], int(argv[2]), argv[3])
        return
    target = "luffy"
    if argv[:1] == ["--io"]:
        target, argv = "io", argv[1:]
    for kind in argv or (KINDS if target == "luffy" else KINDS[:5]):
        if kind not in KINDS:
            raise SystemExit(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
        low, high = RUNS.get(kind, (20, 120))
        per_request = (count(kind, high, target) - count(kind, low, target)) / (high - low)
        print(f"{target:<5} {kind:<8} {per_request / 1000:8.0f} k instructions per request",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
