"""The benchmark of luffy against a bare-WSGI floor: ``python -m bench`` (see README.md)."""
