"""One-time codes, in the main Redis (``REDIS_URL``).

A code is six digits from :mod:`secrets`. Redis keeps only a keyed hash of it (HMAC
of the destination, the purpose and the code), under a key made of keyed hashes of
the destination and the purpose, for ``CODE_TTL`` seconds; a new code replaces the
destination's older code of the same purpose, and no other: a sign-up code requested
for a registered number (which the worker then does not send) leaves the owner's login
code alive.

Checking and using are two steps (:func:`check`, :func:`consume`) so that a request
can refuse other fields without spending a right code. A check first takes one of the
code's ``CODE_MAX_TRIES`` tries in one atomic step (a Lua script), then compares; a
right code gives its try back. So however many guesses arrive at once, no code is
compared with more than ``CODE_MAX_TRIES`` wrong ones, and once they are used up it is
never compared again. :func:`consume` deletes the code if it is still the one checked,
atomically too: of concurrent requests holding it, exactly one uses it.

How often codes may be sent is the throttle's (:func:`luffy.core.throttle.reserve_send`),
counted under :func:`destination_key`. When Redis is down, redis-py's ConnectionError
becomes a 503 (luffy/errors.py): no code is sent or accepted without its record.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app

from luffy.core import throttle
from luffy.extensions import redis_clients

WRONG_CODE = "Wrong or expired code."  # the one answer to a code that does not match

# Take one try of the live code in KEYS[1] if it has one left (ARGV[1]: the tries a
# code has): its digest, else false.
TAKE_TRY = """
local code = redis.call('HMGET', KEYS[1], 'digest', 'tries')
if not code[1] or (tonumber(code[2]) or 0) >= tonumber(ARGV[1]) then
  return false
end
redis.call('HINCRBY', KEYS[1], 'tries', 1)
return code[1]
"""
# Give a try back to the code in KEYS[1] if it is still the one whose digest is ARGV[1]
# (and has a try taken: a new code that happens to be the same has none).
GIVE_TRY_BACK = """
local code = redis.call('HMGET', KEYS[1], 'digest', 'tries')
if code[1] == ARGV[1] and (tonumber(code[2]) or 0) > 0 then
  redis.call('HINCRBY', KEYS[1], 'tries', -1)
end
"""
# Delete the code in KEYS[1] if it is still the one whose digest is ARGV[1]: 1, else 0.
# (Here and above, ARGV[1] is a digest that Redis handed out, not a guess's.)
USE = """
if redis.call('HGET', KEYS[1], 'digest') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Claim:
    """A code that matched: ``key`` held ``digest`` when it was checked."""

    key: str
    digest: str


def _hmac(*parts):
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"luffy one-time codes",
                   hashlib.sha256).digest()
    return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def sms(mobile):
    """The destination name of a mobile number."""
    return f"sms:{mobile}"


def email(address):
    """The destination name of an email address (case-insensitive)."""
    return f"email:{address.lower()}"


def destination_key(destination):
    """The opaque name of ``destination`` in Redis: its code keys and its send limits."""
    return _hmac("destination", destination)[:32]


def code_key(destination, purpose):
    """The Redis key of ``destination``'s live code for ``purpose``."""
    return f"luffy:code:{destination_key(destination)}:{_hmac('purpose', purpose)[:16]}"


def issue(destination, purpose):
    """A new code for ``destination`` and ``purpose``; it replaces an older one of that purpose."""
    code = f"{secrets.randbelow(10 ** 6):06d}"
    key = code_key(destination, purpose)
    pipe = redis_clients.main.pipeline()  # MULTI: never a record without its expiry
    pipe.delete(key)
    pipe.hset(key, mapping={"digest": _hmac("code", destination, purpose, code), "tries": 0})
    pipe.expire(key, current_app.config["CODE_TTL"])
    pipe.execute()
    return code


def check(destination, purpose, code):
    """A :class:`Claim` when ``code`` is the live code of ``destination`` for ``purpose``.

    Else ``None``. The try is taken before the comparison and kept when the code is
    wrong; once the tries are used up, the code is never compared again.
    """
    key = code_key(destination, purpose)
    presented = _hmac("code", destination, purpose, code)  # the same work with or without a code
    main = redis_clients.main
    stored = main.register_script(TAKE_TRY)(keys=[key], args=[current_app.config["CODE_MAX_TRIES"]])
    if stored is None or not hmac.compare_digest(stored, presented):
        return None
    main.register_script(GIVE_TRY_BACK)(keys=[key], args=[stored])  # only wrong codes count
    return Claim(key, stored)


def consume(claim):
    """Use a checked code: True for exactly one of the requests that hold it."""
    return redis_clients.main.register_script(USE)(keys=[claim.key], args=[claim.digest]) == 1


def state(destination):
    """What an operator sees of ``destination``: its live codes (wrong tries and seconds
    left of each, whatever their purpose), resend wait, sends today."""
    r = redis_clients.main
    live = []
    for key in r.scan_iter(match=f"luffy:code:{destination_key(destination)}:*"):  # one a purpose
        digest, tries = r.hmget(key, "digest", "tries")
        if digest is not None and int(tries or 0) < current_app.config["CODE_MAX_TRIES"]:
            live.append({"tries": int(tries or 0), "ttl": max(r.ttl(key), 0)})
    sent, wait = throttle.sends_today(destination_key(destination))
    return {"codes": sorted(live, key=lambda code: code["ttl"]), "resend_wait": wait,
            "sends_24h": sent}


def clear(destination, address=None):
    """Forget the send limits of ``destination`` (and of ``address``); its codes stay."""
    throttle.clear_sends(destination_key(destination), address)
