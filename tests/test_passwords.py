"""Password hashes: argon2id at OWASP's parameters, and older hashes upgraded on login."""

import secrets

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from werkzeug.security import generate_password_hash

from config import ProductionConfig
from luffy import create_app
from luffy.core import accounts
from luffy.extensions import db
from tests.accounts import PASSWORD, add_user, login, store_hash, stored_hash
from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import PRODUCTION_MESSAGES

# Django's own test vector (django/contrib/auth tests, Django 5.1: 870000 iterations).
DJANGO_PASSWORD = "lètmein"
DJANGO_HASH = "pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac="


def test_production_parameters_are_owasps_argon2id_minimum():
    # 19 MiB, two passes, one lane: OWASP Password Storage Cheat Sheet.
    assert ProductionConfig.PASSWORD_HASH_MEMORY_COST == 19 * 1024
    assert ProductionConfig.PASSWORD_HASH_TIME_COST == 2
    assert ProductionConfig.PASSWORD_HASH_PARALLELISM == 1


def test_production_app_hashes_with_argon2id_m19456_t2_p1(make_app, redis_client, tmp_path):
    make_app()  # on a real database: empties the tables
    app = create_app("production", {
        "SECRET_KEY": secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL or f"sqlite:///{tmp_path}/prod.sqlite3",
        "REDIS_URL": REDIS_URL or "memory://",  # production needs one named
        **PRODUCTION_MESSAGES,
    }, redis_main=redis_client, redis_cart=redis_client)
    try:
        with app.app_context():
            db.create_all()
            user = accounts.create("alice", PASSWORD, email="alice@example.com")
            user_id = user.id
        created = stored_hash(app, user_id)
        assert created.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        # An account migrated from werkzeug is rewritten at the same parameters on login.
        store_hash(app, user_id, generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"))
        assert login(app.test_client()).status_code == 200
        upgraded = stored_hash(app, user_id)
        assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        PasswordHasher().verify(upgraded, PASSWORD)  # a standard argon2 hash of the password
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_testing_config_hashes_with_its_own_cheaper_parameters(app, user):
    assert stored_hash(app, user.id).startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_django_pbkdf2_hash_logs_in_and_is_rewritten(app, client, user):
    store_hash(app, user.id, DJANGO_HASH)
    response = login(client, password=DJANGO_PASSWORD)
    assert response.status_code == 200 and "token" in response.get_json()
    rewritten = stored_hash(app, user.id)
    assert rewritten.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1, type=Type.ID).verify(
        rewritten, DJANGO_PASSWORD)
    # The rewritten hash keeps working, and only for the same password.
    assert login(client, password=DJANGO_PASSWORD).status_code == 200
    assert login(client, password="letmein").status_code == 401


@pytest.mark.parametrize("password", ["lètmeinz", "letmein", "LÈTMEIN", "lètmein "])
def test_wrong_password_on_a_django_hash_fails(app, client, user, password):
    store_hash(app, user.id, DJANGO_HASH)
    response = login(client, password=password)
    assert response.status_code == 401
    assert response.get_json()["code"] == "authentication_failed"
    assert stored_hash(app, user.id) == DJANGO_HASH  # untouched


def django_hash(password, iterations, salt="seasalt"):
    """A Django ``pbkdf2_sha256`` hash, made the way Django makes it."""
    import base64
    import hashlib

    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def test_django_iteration_ceiling_is_a_documented_setting():
    assert ProductionConfig.DJANGO_PBKDF2_MAX_ITERATIONS == 1_000_000
    assert int(DJANGO_HASH.split("$")[1]) <= ProductionConfig.DJANGO_PBKDF2_MAX_ITERATIONS


@pytest.fixture
def ceiling_app(make_app):
    return make_app(DJANGO_PBKDF2_MAX_ITERATIONS=2000)


@pytest.mark.parametrize("iterations, status", [(2000, 200), (2001, 401), (10 ** 12, 401)])
def test_a_django_hash_over_the_iteration_ceiling_is_refused_not_run(
        ceiling_app, monkeypatch, iterations, status):
    """Over the ceiling, even the right password is refused, and the hash is not run:
    the login costs one argon2id check, like an unknown hash."""
    import hashlib

    from luffy.core import passwords

    app = ceiling_app
    user = add_user(app)
    # The hash is built before the spies: 10**12 iterations are never computed.
    stored = django_hash(DJANGO_PASSWORD, min(iterations, 2001))
    store_hash(app, user.id, stored.replace("$2001$", f"${iterations}$", 1))
    runs, burns = [], []
    pbkdf2 = hashlib.pbkdf2_hmac
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", lambda *a: runs.append(a[3]) or pbkdf2(*a))
    burn = passwords.burn_time
    monkeypatch.setattr(passwords, "burn_time", lambda p: burns.append(p) or burn(p))
    response = login(app.test_client(), password=DJANGO_PASSWORD)
    assert response.status_code == status
    if status == 200:
        assert runs == [iterations] and burns == []
        assert stored_hash(app, user.id).startswith("$argon2id$")
    else:
        assert response.get_json()["code"] == "authentication_failed"
        assert runs == [] and burns == [DJANGO_PASSWORD]
        assert stored_hash(app, user.id).startswith("pbkdf2_sha256$")


@pytest.mark.parametrize("broken", [
    "pbkdf2_sha256$notanumber$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=",
    "pbkdf2_sha256$870000$seasalt",
    "bcrypt_sha256$$2b$12$20AmWL1wKJZAHPiI1HEk4eZuAlMGHkK1rw4oou26bnwGmAE8F0JGK",
    "!unusable-django-password",
])
def test_malformed_or_unknown_hashes_refuse_without_a_500(app, client, user, broken):
    store_hash(app, user.id, broken)
    assert login(client, password=DJANGO_PASSWORD).status_code == 401


def test_weaker_argon2_hash_is_upgraded_on_login(app, client, user):
    weak = PasswordHasher(memory_cost=256, time_cost=1, parallelism=1, type=Type.ID).hash(PASSWORD)
    store_hash(app, user.id, weak)
    assert login(client).status_code == 200
    upgraded = stored_hash(app, user.id)
    assert upgraded != weak and upgraded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_argon2i_hash_is_upgraded_to_argon2id(app, client, user):
    old = PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1, type=Type.I).hash(PASSWORD)
    store_hash(app, user.id, old)
    assert login(client).status_code == 200
    assert stored_hash(app, user.id).startswith("$argon2id$")


def test_current_hash_is_left_alone(app, client, user):
    current = stored_hash(app, user.id)
    assert login(client).status_code == 200
    assert stored_hash(app, user.id) == current


def test_wrong_password_does_not_upgrade_a_weak_hash(app, client, user):
    weak = PasswordHasher(memory_cost=256, time_cost=1, parallelism=1, type=Type.ID).hash(PASSWORD)
    store_hash(app, user.id, weak)
    assert login(client, password="not the password").status_code == 401
    assert stored_hash(app, user.id) == weak


def test_werkzeug_scrypt_hash_verifies_and_is_upgraded(app, client, user):
    scrypt = generate_password_hash(PASSWORD, method="scrypt")
    assert scrypt.startswith("scrypt:")
    store_hash(app, user.id, scrypt)
    assert login(client, password="not the password").status_code == 401
    assert stored_hash(app, user.id) == scrypt
    assert login(client).status_code == 200
    upgraded = stored_hash(app, user.id)
    assert upgraded.startswith("$argon2id$")
    with pytest.raises(VerificationError):
        PasswordHasher().verify(upgraded, "not the password")


def test_password_change_writes_argon2id(app, client, auth, user):
    store_hash(app, user.id, DJANGO_HASH)
    token = auth.tokens(password=DJANGO_PASSWORD)["token"]
    response = client.post("/users/password", headers={"Authorization": f"Bearer {token}"},
                           json={"old_password": DJANGO_PASSWORD, "new_password": "a new passphrase"})
    assert response.status_code == 200
    assert stored_hash(app, user.id).startswith("$argon2id$")
    assert login(client, password="a new passphrase").status_code == 200
