"""The same-I/O floor: luffy's hot paths with exactly the I/O the contract needs, no framework.

Where :mod:`bench.floor` answers from a dict, this floor reads luffy's own tables (``users``
and ``refresh_tokens``, created by ``flask db upgrade``) and luffy's Redis keys, with the
least machinery that can: a bare WSGI callable, PyJWT HS256 (the claims and ``kid`` header of
luffy's tokens), psycopg with one autocommit connection per thread, one redis-py client per
process, argon2-cffi at the seeded hash's parameters. Per request (issue 12):

- ``GET /users/me``: decode, one Redis ``EXISTS luffy:deny:<jti>`` (the access denylist),
  one ``SELECT`` of the profile by primary key where the account is active (and the token's
  ``ver`` is current: the same row, no extra I/O);
- ``POST /users/login/verify``: decode, one ``EXISTS`` (a refresh token instead gets the
  refresh ``SELECT``; the benchmark verifies access tokens);
- ``POST /users/login/refresh``: decode, one ``SELECT`` of the refresh record joined to its
  active account by ``jti`` (not revoked, same ``user_id``), sign a new access token;
- ``POST /users/login/``: one ``SELECT`` of the active account by username,
  ``lower(email)`` or mobile, the argon2id check (a dummy check for an unknown identifier),
  one ``INSERT`` of the refresh record, one ``HLEN cart_<id>``.

Settings come from the environment: ``SECRET_KEY``, ``DATABASE_URL`` (a ``postgresql://``
URL), ``REDIS_URL``, and ``BENCH_FLOOR_DATA`` (the file ``python -m bench`` writes, for the
argon2id parameters). Served like luffy: ``gunicorn bench.io_floor:app -w 2 -k gthread
--threads 4``.
"""

import hashlib
import json
import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt
import psycopg
import redis
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
ACCESS_LIFETIME = 300
REFRESH_LIFETIME = 86400


def _argon2_parameters(path):
    with open(path) as f:
        data = json.load(f)
    return {key: data[key] for key in ("memory_cost", "time_cost", "parallelism")}


SECRET = os.environ["SECRET_KEY"]
KID = hashlib.sha256(b"luffy-kid:" + SECRET.encode()).hexdigest()[:16]
HEADERS = {"kid": KID}
DATABASE_URL = os.environ["DATABASE_URL"]
HASHER = PasswordHasher(**_argon2_parameters(os.environ["BENCH_FLOOR_DATA"]), type=Type.ID)
DUMMY_HASH = HASHER.hash("io floor timing equaliser")
REDIS = redis.Redis.from_url(os.environ["REDIS_URL"])

_local = threading.local()

PROFILE_SQL = (
    "SELECT id, username, email, mobile, nickname, avatar, money, credit FROM users "
    "WHERE id = %s AND is_active AND token_version <= %s")
REFRESH_SQL = (
    "SELECT u.id, u.nickname, u.avatar, u.money, u.credit, u.token_version "
    "FROM refresh_tokens r JOIN users u ON u.id = r.user_id "
    "WHERE r.jti = %s AND r.revoked_at IS NULL AND r.user_id = %s AND u.is_active")
LOGIN_SQL = (
    "SELECT id, password, nickname, avatar, money, credit, token_version FROM users "
    "WHERE is_active AND (username = %s OR lower(email) = lower(%s) OR mobile = %s) LIMIT 2")
INSERT_REFRESH_SQL = (
    "INSERT INTO refresh_tokens (jti, family, user_id, created_at, expires_at) "
    "VALUES (%s, %s, %s, %s, %s)")
PROFILE = ("id", "username", "email", "mobile", "nickname", "avatar", "money", "credit")


def connection():
    """This thread's autocommit connection (a new one if the server closed it)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(DATABASE_URL, autocommit=True)
    return conn


def fetch(sql, params, many=False):
    cursor = connection().execute(sql, params)
    return cursor.fetchall() if many else cursor.fetchone()


def _token(user_id, token_type, lifetime, extra=None, jti=None):
    now = int(time.time())
    claims = {"fresh": False, "iat": now, "jti": jti or str(uuid.uuid4()), "type": token_type,
              "user_id": user_id, "nbf": now, "csrf": str(uuid.uuid4()), "exp": now + lifetime,
              **(extra or {}), "token_type": token_type}
    return jwt.encode(claims, SECRET, algorithm=ALGORITHM, headers=HEADERS)


def access_token(user_id, nickname, avatar, money, credit, version):
    return _token(user_id, "access", ACCESS_LIFETIME, {
        "nickname": nickname, "avatar": avatar, "money": float(money), "credit": credit,
        "ver": version})


def decode(raw, token_type=None):
    """The claims of a well-signed, unexpired token (of ``token_type``), else ``None``."""
    try:
        claims = jwt.decode(raw, SECRET, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        return None
    if token_type is not None and (claims.get("token_type") != token_type
                                   or claims.get("type") != token_type):
        return None
    return claims


def denied(claims):
    return REDIS.exists(f"luffy:deny:{claims['jti']}") > 0


class Reject(Exception):
    """Answer 401 (or another status) with a JSON error."""

    def __init__(self, status="401 Unauthorized", code="token_not_valid"):
        super().__init__(code)
        self.status, self.code = status, code


def _body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(length)) if length else {}
    except ValueError:
        raise Reject("400 Bad Request", "parse_error") from None
    if not isinstance(data, dict):
        raise Reject("400 Bad Request", "invalid")
    return data


def _refresh_row(claims):
    return fetch(REFRESH_SQL, (claims["jti"], claims["user_id"]))


def login(environ):
    body = _body(environ)
    identifier, password = body.get("username"), body.get("password")
    if not isinstance(identifier, str) or not isinstance(password, str) or not identifier:
        raise Reject("400 Bad Request", "invalid")
    rows = [] if "\x00" in identifier else fetch(LOGIN_SQL, (identifier,) * 3, many=True)
    account = rows[0] if len(rows) == 1 else None
    try:
        HASHER.verify(account[1] if account else DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        account = None
    if account is None:
        raise Reject(code="authentication_failed")
    user_id, _hash, nickname, avatar, money, credit, version = account
    jti = str(uuid.uuid4())
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    connection().execute(INSERT_REFRESH_SQL, (jti, jti, user_id, now,
                                              now + timedelta(seconds=REFRESH_LIFETIME)))
    return {"token": access_token(user_id, nickname, avatar, money, credit, version),
            "refresh": _token(user_id, "refresh", REFRESH_LIFETIME, jti=jti),
            "cart_total": REDIS.hlen(f"cart_{user_id}")}


def refresh(environ):
    claims = decode(_body(environ).get("refresh") or "", "refresh")
    row = claims and _refresh_row(claims)
    if not row:
        raise Reject()
    return {"access": access_token(*row)}


def verify(environ):
    claims = decode(_body(environ).get("token") or "")
    if claims is None:
        raise Reject()
    if claims.get("token_type") == "refresh":
        if not _refresh_row(claims):
            raise Reject()
    elif claims.get("token_type") != "access" or denied(claims):
        raise Reject()
    return {}


def me(environ):
    scheme, _, raw = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    claims = decode(raw.strip(), "access") if scheme.lower() == "bearer" else None
    if claims is None or denied(claims):
        raise Reject()
    row = fetch(PROFILE_SQL, (claims["user_id"], claims.get("ver", 0)))
    if row is None:
        raise Reject()
    profile = dict(zip(PROFILE, row))
    profile["money"] = float(profile["money"])
    return profile


ROUTES = {
    ("POST", "/users/login"): (login, True),
    ("POST", "/users/login/refresh"): (refresh, True),
    ("POST", "/users/login/verify"): (verify, False),
    ("GET", "/users/me"): (me, False),
    ("GET", "/healthz"): (lambda environ: {"status": "ok"}, False),
}


def app(environ, start_response):
    """The WSGI callable."""
    path = environ.get("PATH_INFO", "/")
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    route = ROUTES.get((environ["REQUEST_METHOD"], path))
    headers = [("Content-Type", "application/json")]
    if route is None:
        status, answer = "404 Not Found", {"code": "not_found", "detail": "Not found."}
    else:
        view, no_store = route
        try:
            status, answer = "200 OK", view(environ)
            if no_store:
                headers.append(("Cache-Control", "no-store"))
        except Reject as e:
            status, answer = e.status, {"code": e.code, "detail": e.code}
    body = json.dumps(answer).encode()
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]
