"""The floor: the same work as luffy's hot paths in a bare WSGI callable, no framework.

It is what the benchmark compares luffy with: PyJWT HS256 tokens carrying the same
claims and header as luffy's, argon2-cffi with the same argon2id parameters, and an
in-memory account dict in place of the database. It is served by the same gunicorn
settings (``gunicorn bench.floor:app -w 2 -k gthread --threads 4``).

- ``POST /users/login/``: look the identifier up (username, email in any case, mobile),
  check the argon2id hash, answer an access and a refresh token and ``cart_total``;
- ``POST /users/login/refresh``: decode the refresh token, reload the account from the
  dict, answer a new access token;
- ``POST /users/login/verify``: decode the token;
- ``GET /users/me``: decode the Bearer access token, answer the profile dict.

The accounts, their one shared hash and the secret come from the JSON file named by
``BENCH_FLOOR_DATA`` (written by ``python -m bench``).
"""

import hashlib
import json
import os
import time
import uuid

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
ACCESS_LIFETIME = 300
REFRESH_LIFETIME = 86400


def _load(path):
    with open(path) as f:
        return json.load(f)


DATA = _load(os.environ["BENCH_FLOOR_DATA"])
SECRET = DATA["secret"]
KID = hashlib.sha256(b"luffy-kid:" + SECRET.encode()).hexdigest()[:16]
HEADERS = {"kid": KID}
HASHER = PasswordHasher(memory_cost=DATA["memory_cost"], time_cost=DATA["time_cost"],
                        parallelism=DATA["parallelism"], type=Type.ID)
BY_ID = {}
BY_IDENTIFIER = {}
for account in DATA["accounts"]:
    account = {**account, "password": DATA["hash"]}
    BY_ID[account["id"]] = account
    for key in ("username", "email", "mobile"):
        if account[key]:
            BY_IDENTIFIER[account[key].lower() if key == "email" else account[key]] = account
DUMMY_HASH = HASHER.hash("floor timing equaliser")
PROFILE = ("id", "username", "email", "mobile", "nickname", "avatar", "money", "credit")


def _token(user_id, token_type, lifetime, extra=None):
    now = int(time.time())
    claims = {"fresh": False, "iat": now, "jti": str(uuid.uuid4()), "type": token_type,
              "user_id": user_id, "nbf": now, "csrf": str(uuid.uuid4()), "exp": now + lifetime,
              **(extra or {}), "token_type": token_type}
    return jwt.encode(claims, SECRET, algorithm=ALGORITHM, headers=HEADERS)


def access_token(account):
    return _token(account["id"], "access", ACCESS_LIFETIME, {
        "nickname": account["nickname"], "avatar": account["avatar"],
        "money": account["money"], "credit": account["credit"], "ver": 0})


def decode(raw, token_type=None):
    """The claims of a well-signed, unexpired token (of ``token_type``), else ``None``."""
    try:
        claims = jwt.decode(raw, SECRET, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        return None
    if token_type is not None and claims.get("token_type") != token_type:
        return None
    return claims


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


def login(environ):
    body = _body(environ)
    identifier, password = body.get("username"), body.get("password")
    if not isinstance(identifier, str) or not isinstance(password, str):
        raise Reject("400 Bad Request", "invalid")
    account = BY_IDENTIFIER.get(identifier) or BY_IDENTIFIER.get(identifier.lower())
    try:
        HASHER.verify(account["password"] if account else DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        account = None
    if account is None:
        raise Reject(code="authentication_failed")
    return {"token": access_token(account),
            "refresh": _token(account["id"], "refresh", REFRESH_LIFETIME),
            "cart_total": account["cart_total"]}


def refresh(environ):
    claims = decode(_body(environ).get("refresh") or "", "refresh")
    account = claims and BY_ID.get(claims["user_id"])
    if not account:
        raise Reject()
    return {"access": access_token(account)}


def verify(environ):
    if decode(_body(environ).get("token") or "") is None:
        raise Reject()
    return {}


def me(environ):
    scheme, _, raw = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    claims = decode(raw.strip(), "access") if scheme.lower() == "bearer" else None
    account = claims and BY_ID.get(claims["user_id"])
    if not account:
        raise Reject()
    return {key: account[key] for key in PROFILE}


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
