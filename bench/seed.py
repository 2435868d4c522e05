"""The benchmark's data: its database, and the same accounts for luffy, the peer and the floors."""

import json
import re
import subprocess

from bench.paths import OUT, PY, ROOT

PASSWORD = "bench password 0123"  # every seeded account's
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "luffy_bench"  # dropped and recreated by every run
REDIS_URL = "redis://127.0.0.1:6379/13"  # flushed by every run
FLOOR_DATA = OUT / "floor-data.json"  # the accounts, the hash and the secret, for the floors

# Runs in a child process with luffy's production environment: one insert, one shared hash.
SEED_LUFFY = r"""
import json, sys
from decimal import Decimal
from sqlalchemy import insert, text
from luffy import create_app
from luffy.core.identifiers import fold
from luffy.core.models import User
from luffy.core.passwords import hash_password
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


def database_url(admin_url, name):
    """``admin_url`` with its database replaced by ``name``."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


def create_database(admin_url, name):
    """Drop and recreate ``name``; the server's version."""
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"not a plain database name: {name!r}")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
        return conn.execute("SHOW server_version").fetchone()[0]


def account(i):
    """The ``i``-th seeded account (its profile and how many items its cart holds)."""
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
    accounts = [account(i) for i in range(1, n + 1)]
    done = subprocess.run([PY, "-c", SEED_LUFFY, PASSWORD], cwd=ROOT, env=env, check=True,
                          input=json.dumps(accounts), capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["users"] != n:
        raise SystemExit(f"seeded {result['users']} accounts, not {n}")
    return accounts, result["hash"], result["redis"]


def argon2_parameters(hashed):
    """The memory cost, time cost and parallelism of an argon2id hash string."""
    m = re.search(r"\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    return {"memory_cost": int(m.group(1)), "time_cost": int(m.group(2)),
            "parallelism": int(m.group(3))}


def write_floor_data(secret, hashed, accounts):
    """The floors' accounts, hash, argon2id parameters and secret, into ``FLOOR_DATA``."""
    FLOOR_DATA.write_text(json.dumps({
        "secret": secret, "hash": hashed, "accounts": accounts, **argon2_parameters(hashed)}))


def seed_peer(python, env, n):
    """Create and fill the peer's table (bench/peer_fastapi/seed.py) with its own venv."""
    done = subprocess.run([str(python), "-m", "bench.peer_fastapi.seed"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"seeding the peer failed:\n{done.stderr}")
    users = json.loads(done.stdout.strip().splitlines()[-1])["users"]
    if users != n:
        raise SystemExit(f"seeded {users} peer accounts, not {n}")
