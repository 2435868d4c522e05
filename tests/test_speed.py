"""The speed tricks of luffy/speed.py give the answers of the plain paths they replace,
on every database: the compiled one-row reads, the HMAC keys checked once, the profile
dumped without marshmallow."""

from decimal import Decimal

import jwt
import pytest
from sqlalchemy.exc import DBAPIError

from luffy import speed
from luffy.core import tokens
from luffy.core.schemas import UserSchema, profile
from luffy.extensions import db

SECRET = "a test secret that is long enough for HS256 and then some"


def test_a_compiled_read_gives_the_row_and_types_sqlalchemy_gives(app, make_user):
    alice = make_user(nickname="Alice", money="12.50", credit=30)
    bob = make_user("bob", email=None, mobile=None, is_active=False)
    with app.app_context():
        for account in (alice, bob):
            plain = db.session.execute(tokens.ACCOUNT.statement, {"user_id": account.id}).first()
            fast = tokens.ACCOUNT.first({"user_id": account.id})
            assert fast is not None and tuple(fast) == tuple(plain)
            assert [type(value) for value in fast] == [type(value) for value in plain]
            assert fast.username == account.username
        assert type(fast.is_active) is bool and type(fast.money) is Decimal
        assert tokens.ACCOUNT.first({"user_id": 2**31 - 1}) is None
        db.session.rollback()


def test_a_compiled_read_of_a_refresh_token_joins_its_account(app, client, auth, user):
    refresh = auth.tokens()["refresh"]
    jti = jwt.decode(refresh, options={"verify_signature": False})["jti"]
    with app.app_context():
        plain = db.session.execute(tokens.ACCOUNT_WITH_TOKEN.statement, {"jti": jti}).first()
        fast = tokens.ACCOUNT_WITH_TOKEN.first({"jti": jti})
        assert tuple(fast) == tuple(plain)
        assert (fast.token_user, fast.used_at, fast.revoked_at) == (user.id, None, None)
        db.session.rollback()


def test_a_compiled_read_that_fails_raises_sqlalchemys_error(app):
    from sqlalchemy import select, text

    broken = speed.CompiledRead(select(text("no_such_column")).where(text("1 = :x")))
    with app.app_context():
        with pytest.raises(DBAPIError):
            broken.first({"x": 1})
        # The pool is still good for the next read.
        assert tokens.ACCOUNT.first({"user_id": 1}) is None
        db.session.rollback()


def test_hmac_keys_are_checked_once_and_still_checked(app):
    algorithm = jwt.get_algorithm_by_name("HS256")
    assert isinstance(algorithm, speed.PreparedHMAC)
    token = jwt.encode({"sub": "1"}, SECRET, algorithm="HS256")
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == {"sub": "1"}
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == {"sub": "1"}  # kept key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "x", algorithms=["HS256"])
    pem = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
    for _ in range(2):  # a refused key is refused every time, never kept
        with pytest.raises(jwt.InvalidKeyError):
            algorithm.prepare_key(pem)
    with pytest.raises(jwt.InvalidKeyError):
        algorithm.prepare_key("")
    speed.prepare_hmac_keys_once()  # again: the same objects stay registered
    assert jwt.get_algorithm_by_name("HS256") is algorithm


def test_the_kept_keys_are_bounded():
    algorithm = speed.PreparedHMAC(speed.HMACAlgorithm.SHA256)
    for i in range(algorithm.KEEP + 10):
        assert algorithm.prepare_key(f"secret number {i}") == f"secret number {i}".encode()
    assert len(algorithm._accepted) == algorithm.KEEP


@pytest.mark.parametrize("account", [
    tokens.Account(1, "alice", "alice@example.com", True, "13800000001", "Alice",
                   "https://cdn.example/a.png", Decimal("12.50"), 30, True, 0),
    tokens.Account(2, "bob", None, False, None, "", "", Decimal("0.00"), 0, True, 3),
    tokens.Account(3, "c", "", True, "13900000000", "名字", "", Decimal("99999999.99"), 7, False, 0),
])
def test_the_profile_function_dumps_what_the_schema_dumps(account):
    assert profile(account) == UserSchema().dump(account)
    assert [type(v) for v in profile(account).values()] == \
        [type(v) for v in UserSchema().dump(account).values()]
