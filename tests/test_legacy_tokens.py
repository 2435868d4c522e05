"""The old backend's tokens, minted by simplejwt, while ``LEGACY_JWT_SECRET_KEY`` is set:
honoured for the accounts imported under their ids, through the one token check."""

import time
import warnings

import jwt
import pytest

from luffy.core import accounts
from luffy.core.models import RefreshToken, User
from luffy.extensions import db
from luffy.legacy.models import LegacyAccount, LegacyBlacklistedToken
from tests.simplejwt_tokens import OLD_SECRET_KEY, mint

BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}
PASSWORD = "an old backend's password"
OLD_ID = 41  # the old backend's id of the account, kept by the import


@pytest.fixture(scope="module")
def old():
    """simplejwt's tokens for the imported account, and for an id luffy gave away."""
    imported, elsewhere = mint(OLD_ID, OLD_ID + 1)
    return {"imported": imported, "elsewhere": elsewhere}


def _add(app, user_id, username, old_id=None):
    """An account with ``user_id``, imported from the old backend's ``old_id`` (None: made
    in luffy)."""
    with app.app_context():
        user = accounts.create(username, PASSWORD, email=f"{username}@example.com")
        db.session.flush()
        user.id = user_id
        if old_id is not None:
            db.session.add(LegacyAccount(old_id=old_id, account_id=user_id,
                                         source_hash="0" * 64, luffy_hash="0" * 64))
        db.session.commit()


@pytest.fixture
def legacy_app(make_app):
    app = make_app(LEGACY_JWT_SECRET_KEY=OLD_SECRET_KEY)
    _add(app, OLD_ID, "olduser", old_id=OLD_ID)
    return app


@pytest.fixture
def client(legacy_app):
    return legacy_app.test_client()


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _refresh(client, token):
    return client.post("/users/login/refresh", json={"refresh": token})


def test_simplejwt_writes_the_id_as_text_and_no_kid(old):
    token = old["imported"]["access"]
    assert "kid" not in jwt.get_unverified_header(token)
    assert _claims(token)["user_id"] == str(OLD_ID)


def test_an_old_access_token_serves_me_and_verify(client, old):
    me = client.get("/users/me", headers=_bearer(old["imported"]["access"]))
    assert me.status_code == 200 and me.get_json()["username"] == "olduser"
    verified = client.post("/users/login/verify", json={"token": old["imported"]["access"]})
    assert verified.status_code == 200 and verified.get_json() == {}


def test_an_old_token_with_an_int_user_id_is_honoured_too(client, old):
    claims = {**_claims(old["imported"]["access"]), "user_id": OLD_ID}  # older simplejwt
    token = jwt.encode(claims, OLD_SECRET_KEY, algorithm="HS256")
    assert client.get("/users/me", headers=_bearer(token)).status_code == 200


def test_an_old_refresh_token_answers_luffy_tokens_and_becomes_a_session(legacy_app, client, old):
    old_refresh = old["imported"]["refresh"]
    first = _refresh(client, old_refresh)
    assert first.status_code == 200, first.get_json()
    access = first.get_json()["access"]
    assert "kid" in jwt.get_unverified_header(access)
    assert _claims(access)["user_id"] == OLD_ID and _claims(access)["token_type"] == "access"
    with legacy_app.app_context():
        record = db.session.execute(
            db.select(RefreshToken).filter_by(jti=_claims(old_refresh)["jti"])).scalar_one()
        assert (record.user_id, record.family, record.revoked_at) == (OLD_ID, record.jti, None)
    assert _refresh(client, old_refresh).status_code == 200  # no rotation: used again
    with legacy_app.app_context():
        assert db.session.query(RefreshToken).count() == 1


def test_logout_of_an_old_refresh_token_ends_it(client, old):
    old_refresh = old["imported"]["refresh"]
    out = client.post("/users/logout", json={"refresh": old_refresh})
    assert out.status_code == 200 and out.get_json() == {}
    refused = _refresh(client, old_refresh)
    assert refused.status_code == 401 and refused.get_json() == BAD_TOKEN


def test_rotation_and_reuse_detection_apply_to_an_adopted_token(make_app, old):
    app = make_app(LEGACY_JWT_SECRET_KEY=OLD_SECRET_KEY, JWT_ROTATE_REFRESH_TOKENS=True)
    _add(app, OLD_ID, "olduser", old_id=OLD_ID)
    client = app.test_client()
    rotated = _refresh(client, old["imported"]["refresh"]).get_json()
    assert set(rotated) == {"access", "refresh"}
    reused = _refresh(client, old["imported"]["refresh"])
    assert reused.status_code == 401 and reused.get_json() == BAD_TOKEN
    # The reuse ended the session: the luffy token it had been rotated into dies too.
    assert _refresh(client, rotated["refresh"]).status_code == 401


def test_an_old_refresh_token_the_old_backend_blacklisted_is_refused(legacy_app, client, old):
    with legacy_app.app_context():
        db.session.add(LegacyBlacklistedToken(jti=_claims(old["imported"]["refresh"])["jti"]))
        db.session.commit()
    refused = _refresh(client, old["imported"]["refresh"])
    assert refused.status_code == 401 and refused.get_json() == BAD_TOKEN
    assert client.post("/users/logout", json={"refresh": old["imported"]["refresh"]}).status_code == 401


def _update(app, **values):
    with app.app_context():
        user = db.session.get(User, OLD_ID)
        if values.pop("end_sessions", False):
            accounts.set_password(user, "a new password for luffy only")
        for key, value in values.items():
            setattr(user, key, value)
        db.session.commit()


@pytest.mark.parametrize("change", [{"is_active": False}, {"end_sessions": True}],
                         ids=["deactivated", "sessions-ended"])
def test_old_tokens_die_with_their_account_or_its_sessions(legacy_app, client, old, change):
    _update(legacy_app, **change)
    for response in (client.get("/users/me", headers=_bearer(old["imported"]["access"])),
                     client.post("/users/login/verify", json={"token": old["imported"]["access"]}),
                     _refresh(client, old["imported"]["refresh"])):
        assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_a_session_adopted_before_every_session_ended_dies_too(legacy_app, client, old):
    assert _refresh(client, old["imported"]["refresh"]).status_code == 200
    _update(legacy_app, end_sessions=True)
    assert _refresh(client, old["imported"]["refresh"]).status_code == 401


def test_old_tokens_of_an_id_imported_elsewhere_or_never_are_refused(legacy_app, client, old):
    # Luffy gave id 42 to its own account; the old backend's 42 came in under 43.
    _add(legacy_app, OLD_ID + 1, "luffyuser")
    _add(legacy_app, OLD_ID + 2, "movedold", old_id=OLD_ID + 1)
    for response in (client.get("/users/me", headers=_bearer(old["elsewhere"]["access"])),
                     client.post("/users/login/verify", json={"token": old["elsewhere"]["access"]}),
                     _refresh(client, old["elsewhere"]["refresh"]),
                     client.post("/users/logout", json={"refresh": old["elsewhere"]["refresh"]})):
        assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_without_the_legacy_key_old_tokens_are_refused(make_app, old):
    app = make_app()
    _add(app, OLD_ID, "olduser", old_id=OLD_ID)
    client = app.test_client()
    assert client.get("/users/me", headers=_bearer(old["imported"]["access"])).status_code == 401
    assert _refresh(client, old["imported"]["refresh"]).status_code == 401


def _forged(old, secret=OLD_SECRET_KEY, algorithm="HS256", headers=None, **changes):
    claims = {**_claims(old["imported"]["access"]), **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    with warnings.catch_warnings():  # HS512 with the old 54-byte key: PyJWT's advice, at forging
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


@pytest.mark.parametrize("changes", [
    {"user_id": f"0{OLD_ID}"}, {"user_id": f"{OLD_ID}.0"}, {"user_id": f" {OLD_ID}"},
    {"user_id": f"+{OLD_ID}"}, {"user_id": "４１"}, {"user_id": float(OLD_ID)}, {"user_id": True},
    {"user_id": None}, {"token_type": "sliding"}, {"token_type": None}, {"jti": None},
    {"jti": "x" * 37}, {"jti": 5}, {"iat": None}, {"iat": "now"},
    {"exp": int(time.time()) - 3600}, {"secret": "not the old backend's key, though as long as one"},
    {"headers": {"kid": "an-old-kid"}}, {"algorithm": "HS512"},
], ids=lambda c: repr(c)[:40])
def test_an_old_token_with_any_defect_is_refused(client, old, changes):
    token = _forged(old, **changes)
    response = client.get("/users/me", headers=_bearer(token))
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_a_well_forged_copy_is_what_the_defect_tests_change(client, old):
    """The defect tests above forge from a token that passes untouched."""
    assert client.get("/users/me", headers=_bearer(_forged(old))).status_code == 200
