"""What the browser tests seed and expect: alice, her cart, the access lifetime."""

ACCESS_LIFETIME = 3  # seconds: short, so that every test sees automatic refreshes
ALICE = {
    "username": "alice", "email": "Alice@Example.com", "mobile": "13800000001",
    "password": "correct horse 1", "nickname": "Alice", "money": "12.50", "credit": "30",
}
CART_ITEMS = 2
