"""What the browser tests seed and expect: alice, her cart, the access lifetime, the
resend interval of codes."""

import itertools

ACCESS_LIFETIME = 3  # seconds: short, so that every test sees automatic refreshes
ALICE = {
    "username": "alice", "email": "Alice@Example.com", "mobile": "13800000001",
    "password": "correct horse 1", "nickname": "Alice", "money": "12.50", "credit": "30",
}
CART_ITEMS = 2
RESEND_INTERVAL = 4  # seconds between two codes to one destination
SERIALS = itertools.count(1)  # the server's database is new for each run: 1, 2, ... are free


def fresh_mobile():
    """A mobile number no account has."""
    return f"1370000{next(SERIALS):04d}"
