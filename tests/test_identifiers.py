"""Identifiers match exactly on every database: MySQL's collations must not blur them."""

from tests.conftest import PASSWORD


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
