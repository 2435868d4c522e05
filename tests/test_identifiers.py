"""Identifiers match exactly on every database: MySQL's collations must not blur them."""

import pytest

from tests.accounts import PASSWORD


def test_username_case_and_trailing_space_do_not_match(auth, user):
    for near_miss in ("ALICE", "Alice", "alice ", " alice", "13800000001 ", "alice@example.com "):
        assert auth.login(near_miss).status_code == 401, near_miss
    assert auth.login("alice").status_code == 200


def test_usernames_differing_in_case_are_two_accounts(auth, make_user):
    lower = make_user("alice", email=None, mobile=None)
    upper = make_user("ALICE", password="another password", email=None, mobile=None)
    assert lower.id != upper.id
    assert auth.login("alice").status_code == 200
    assert auth.login("ALICE", "another password").status_code == 200
    assert auth.login("ALICE", PASSWORD).status_code == 401


def test_four_byte_characters_are_stored_and_matched(auth, make_user):
    make_user("🦊fox", email="🦊@example.com", mobile=None)
    assert auth.login("🦊fox").status_code == 200
    assert auth.login("🦊@EXAMPLE.com").status_code == 200
    assert auth.login("🐺fox").status_code == 401


# Python's lower() maps a final capital sigma to "ς" and "İ" to "i̇"; the databases'
# lower() do not agree (SQLite folds ASCII only). One normalisation, in Python, decides.
SIGMA_USERNAME, SIGMA_EMAIL = "qΣ@example.com", "qς@example.com"


def refused(app, *args, **kwargs):
    """Whether ``accounts.create`` refuses these identifiers, as the CLI would."""
    from luffy.core import accounts
    from luffy.errors import APIError

    with app.app_context():
        try:
            accounts.create(*args, **kwargs)
        except APIError:
            return True
        return False


def test_fold_is_nfkc_casefold():
    from luffy.core.identifiers import fold

    assert fold(SIGMA_USERNAME) == fold(SIGMA_EMAIL) == fold("QΣ@EXAMPLE.COM") == "qσ@example.com"
    assert fold("İ@example.com") == fold("i̇@example.com")
    assert fold("STRASSE@example.com") == fold("straße@example.com") == "strasse@example.com"
    assert fold("ｑ@ｅｘａｍｐｌｅ.com") == "q@example.com"
    assert fold(fold("ﬃ@EXAMPLE.com")) == fold("ﬃ@EXAMPLE.com") == "ffi@example.com"


def test_an_email_shaped_username_and_an_email_equal_once_folded_cannot_both_exist(app, make_user):
    make_user("sigma", email=None, mobile=None)
    make_user(SIGMA_USERNAME, email=None, mobile=None)
    assert refused(app, "other", PASSWORD, email=SIGMA_EMAIL)


def test_an_email_equal_once_folded_blocks_an_email_shaped_username(app, make_user):
    make_user("sigma", email=SIGMA_EMAIL, mobile=None)
    assert refused(app, SIGMA_USERNAME, PASSWORD)
    assert refused(app, "QΣ@EXAMPLE.COM", PASSWORD)


@pytest.mark.parametrize("first, second", [
    ("straße@example.com", "STRASSE@example.com"),
    ("İ@example.com", "i̇@example.com"),
    ("qς@example.com", "QΣ@example.com"),
    ("ｑ@example.com", "q@example.com"),
])
def test_emails_equal_once_folded_are_one_email(app, make_user, first, second):
    make_user("first", email=first, mobile=None)
    assert refused(app, "second", PASSWORD, email=second)


def test_a_mobile_folding_to_an_email_is_refused(app, make_user):
    make_user("first", email="１３９@example.com", mobile=None)
    assert refused(app, "second", PASSWORD, mobile="139@example.com")


def test_an_email_logs_in_in_any_case_and_compatibility_form(auth, make_user):
    make_user("sigma", email=SIGMA_EMAIL, mobile=None)
    for typed in (SIGMA_EMAIL, SIGMA_USERNAME, "QΣ@EXAMPLE.COM", "qσ@example.com",
                  "ｑς@ｅｘａｍｐｌｅ.com"):
        assert auth.login(typed).status_code == 200, typed
    assert auth.login(SIGMA_EMAIL + " ").status_code == 401


def test_dotted_capital_i_email_logs_in(auth, make_user):
    make_user("istanbul", email="İstanbul@example.com", mobile=None)
    assert auth.login("i̇stanbul@example.com").status_code == 200
    assert auth.login("İSTANBUL@EXAMPLE.COM").status_code == 200
    assert auth.login("istanbul@example.com").status_code == 401  # no dot: another address


def test_the_keys_follow_the_identifiers(app, make_user):
    from luffy.core.models import User
    from luffy.extensions import db

    created = make_user("Sigma", email="QΣ@Example.com", mobile=None)
    with app.app_context():
        user = db.session.get(User, created.id)
        assert (user.email, user.email_key, user.username_key) == \
            ("qς@example.com", "qσ@example.com", "sigma")
        user.email = None
        user.username = "Renamed"
        db.session.commit()
        assert (user.email_key, user.username_key) == (None, "renamed")


def test_the_database_refuses_two_equal_email_keys(app, make_user):
    """Even past ``identifier_taken`` (two creations racing), the unique key holds."""
    from sqlalchemy.exc import IntegrityError

    from luffy.core.models import User
    from luffy.extensions import db

    make_user("first", email="straße@example.com", mobile=None)
    with app.app_context():
        db.session.add(User(username="second", email="strasse@example.com", password="x"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_an_identifier_too_long_once_normalised_is_refused(app):
    assert refused(app, "ﷺ" * 10, PASSWORD, email=None, mobile=None)  # 10 characters, 180 folded
    assert refused(app, "alice", PASSWORD, email="ﷺ" * 14 + "@example.com", mobile=None)
