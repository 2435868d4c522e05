"""luffy for gunicorn, with every code comparison recorded (tests/test_codes_race.py).

``hmac.compare_digest``, as luffy/core/codes.py calls it, is wrapped: the real
comparison runs, and its outcome is pushed onto the Redis list named by
``COMPARED_LIST`` in ``REDIS_URL`` (1: the code matched, 0: it did not). Every worker and thread pushes to
one list, so the list holds the comparisons in the order Redis saw them.
"""

import hmac
import os
import types

import redis

from luffy.core import codes
from wsgi import app  # noqa: F401  (what gunicorn serves)

_record = redis.Redis.from_url(os.environ["REDIS_URL"])
_list = os.environ["COMPARED_LIST"]


def _compare_digest(a, b):
    same = hmac.compare_digest(a, b)
    _record.rpush(_list, int(same))
    return same


codes.hmac = types.SimpleNamespace(new=hmac.new, compare_digest=_compare_digest)
