"""Django's default hash formats, made by Django's own hashers: each verifies in constant
time and is upgraded to argon2id; one that asks for more work than luffy's ceilings, or
an unusable one (``!…``), is refused at the cost of one argon2id check, never run."""

import re

import pytest
from django.conf import settings

from luffy.core import passwords
from tests import legacy_django
from tests.accounts import add_user, login, store_hash, stored_hash

PASSWORD = "lètmein old backend"


@pytest.fixture(scope="module", autouse=True)
def django_hashers(tmp_path_factory):
    """Django's settings, for make_password (the database is the import tests')."""
    if not settings.configured:
        legacy_django.configure(legacy_django.source_url(tmp_path_factory))


def make_password(algorithm):
    from django.contrib.auth.hashers import make_password as django_make_password

    return django_make_password(PASSWORD, hasher=algorithm)


@pytest.fixture
def burns(monkeypatch):
    """The argon2id checks spent on a hash that is not run."""
    spent = []
    burn = passwords.burn_time
    monkeypatch.setattr(passwords, "burn_time", lambda p: spent.append(p) or burn(p))
    return spent


@pytest.mark.parametrize("algorithm", legacy_django.ALGORITHMS)
def test_each_format_verifies_and_is_upgraded(app, algorithm, burns):
    user = add_user(app)
    store_hash(app, user.id, make_password(algorithm))
    client = app.test_client()
    assert login(client, password=PASSWORD + "!").status_code == 401
    assert stored_hash(app, user.id).startswith(algorithm + "$")
    assert login(client, password=PASSWORD).status_code == 200
    assert stored_hash(app, user.id).startswith("$argon2id$")
    assert burns == []  # a real check each time, never the stand-in


def _over(stored, algorithm):
    """``stored`` asking for more work than luffy's ceiling of its format."""
    if algorithm in ("pbkdf2_sha256", "pbkdf2_sha1"):
        _, _, rest = stored.split("$", 2)
        return f"{algorithm}$1000001${rest}"
    if algorithm == "argon2":
        return re.sub(r"\$m=\d+,", f"$m={passwords.ARGON2_MAX_MEMORY_KIB + 1},", stored, count=1)
    if algorithm == "bcrypt_sha256":
        return stored.replace("$2b$12$", f"$2b${passwords.BCRYPT_MAX_ROUNDS + 1}$", 1)
    _, _, rest = stored.split("$", 2)
    return f"scrypt${2 ** 20}${rest}"  # 128 MiB at r=8


@pytest.mark.parametrize("algorithm", legacy_django.ALGORITHMS)
def test_a_hash_over_the_ceiling_is_refused_not_run(app, algorithm, burns):
    user = add_user(app)
    stored = _over(make_password(algorithm), algorithm)
    store_hash(app, user.id, stored)
    response = login(app.test_client(), password=PASSWORD)
    assert response.status_code == 401
    assert burns == [PASSWORD]
    assert stored_hash(app, user.id) == stored


def test_an_unusable_password_costs_one_argon2id_check(app, burns):
    from django.contrib.auth.hashers import make_password as django_make_password

    user = add_user(app)
    unusable = django_make_password(None)
    assert unusable.startswith("!")
    store_hash(app, user.id, unusable)
    for guess in (PASSWORD, unusable, unusable[1:]):
        assert login(app.test_client(), password=guess).status_code == 401
    assert burns == [PASSWORD, unusable, unusable[1:]]


@pytest.mark.parametrize("broken", [
    "argon2$argon2id$v=19$m=nope$salt$hash",
    "bcrypt_sha256$$2b$xx$abc",
    "scrypt$16384$salt$8",
    "scrypt$16385$salt$8$1$AAAA",  # n not a power of two
    "pbkdf2_sha1$10$salt",
])
def test_malformed_django_hashes_refuse_without_a_500(app, broken, burns):
    user = add_user(app)
    store_hash(app, user.id, broken)
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert burns == [PASSWORD]
