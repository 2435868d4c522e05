"""Two-factor: TOTP (RFC 6238, with pyotp) and recovery codes.

Set-up takes the password and gives a new secret (:func:`begin`), which is in force
once a code of it comes back (:func:`confirm`), with 10 recovery codes. A code is good
in its 30-second step and one step either side, once: the account's last used step is
kept, and a code of that step or an earlier one is refused (so a code seen over a
shoulder is spent). A recovery code serves once. New recovery codes (:func:`renew`)
and turning two-factor off (:func:`disable`) take the password and a code; a wrong
code there is a failed password attempt for the throttle.

The secret is stored encrypted (Fernet, under a key derived from ``SECRET_KEY`` by
HKDF: :func:`luffy.core.envelopes.fernet`), so a database dump alone does not give it
away; recovery codes are stored as SHA-256 hashes of 60 random bits each.
"""

import hashlib
import hmac
import logging
import secrets
import time

import pyotp
from flask import current_app
from sqlalchemy import delete, or_, update

from luffy.core import accounts, events
from luffy.core.envelopes import Unreadable, fernet
from luffy.core.models import RecoveryCode, TwoFactor, utcnow
from luffy.core.throttle import account_key
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import db

log = logging.getLogger(__name__)

SECRET_INFO = b"luffy totp secrets v1"  # HKDF's context: this key serves nothing else
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # 5 bits a character, 12 characters
WRONG_CODE = "Wrong, used or expired code."
ALREADY_ON = "Two-factor is already on: turn it off first."
NOTHING_TO_CONFIRM = "No two-factor set-up is waiting for a code: ask for a new secret."
OFF = "Two-factor is off."


def _seal(secret):
    return fernet(SECRET_INFO).encrypt(secret.encode()).decode()


def _unseal(token):
    try:
        return fernet(SECRET_INFO).decrypt(token).decode()
    except Exception:  # InvalidToken: another SECRET_KEY sealed it, or it was altered
        raise Unreadable("TOTP secret not sealed with this SECRET_KEY") from None


def _normal(code):
    """A typed code without the spaces and dashes people add, lower-cased."""
    return "".join(code.split()).replace("-", "").lower()


def _digest(account_id, code):
    return hashlib.sha256(f"{account_id}:{_normal(code)}".encode()).hexdigest()


def begin(user_id, password, guard):
    """A new TOTP secret for the account, if ``password`` is its own (``guard`` may refuse
    the try: 429): ``(secret, otpauth_uri)``; not in force until :func:`confirm`. Refused
    while two-factor is on."""
    user = accounts.load(user_id)
    accounts.verify_password(user, password, guard)
    if user.two_factor:
        raise APIError.invalid({"totp": [ALREADY_ON]})
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    row = db.session.get(TwoFactor, user.id) or TwoFactor(account_id=user.id)
    row.secret, row.created_at, row.confirmed_at, row.last_step = _seal(secret), utcnow(), None, None
    db.session.add(row)
    db.session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username,
                                              issuer_name=current_app.config["TOTP_ISSUER"])
    return secret, uri


def _take_totp(row, code):
    """Whether ``code`` is the row's TOTP code of a step not yet used; takes the step."""
    code = _normal(code)
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return False
    try:
        totp = pyotp.TOTP(_unseal(row.secret))
    except Unreadable:  # SECRET_KEY changed: only a recovery code opens the account now
        log.error("the TOTP secret of account %s is unreadable with this SECRET_KEY", row.account_id)
        return False
    now = totp.timecode(time.time())
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            # Atomic: of two requests with one code, one UPDATE matches the row.
            return db.session.execute(
                update(TwoFactor).where(TwoFactor.account_id == row.account_id,
                                        or_(TwoFactor.last_step.is_(None), TwoFactor.last_step < step))
                .values(last_step=step).execution_options(synchronize_session=False)
            ).rowcount == 1
    return False


def _take_recovery_code(account_id, code):
    """Whether ``code`` is one of the account's unused recovery codes; uses it."""
    if not 1 <= len(_normal(code)) <= 64:
        return False
    return db.session.execute(
        update(RecoveryCode).where(RecoveryCode.account_id == account_id,
                                   RecoveryCode.digest == _digest(account_id, code),
                                   RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount == 1


def take_code(user, code):
    """Which second factor ``code`` is for ``user`` (whose two-factor is on), once:
    ``"totp"``, ``"recovery_code"`` (its event recorded) or ``None``. The caller commits."""
    row = db.session.get(TwoFactor, user.id)
    if row is None or row.confirmed_at is None:
        return None
    if _take_totp(row, code):
        return "totp"
    if _take_recovery_code(user.id, code):
        events.record(user.id, "recovery_code_used")
        return "recovery_code"
    return None


def _new_recovery_codes(account_id):
    """Replace the account's recovery codes with 10 new ones (in the caller's
    transaction); the codes, shown this once."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    codes = ["-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
             for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(account_id=account_id, digest=_digest(account_id, code))
                       for code in codes)
    return codes


def confirm(user_id, code):
    """Turn two-factor on with a code of the secret :func:`begin` gave: the 10 recovery
    codes; else 400 naming ``code``."""
    user = accounts.load(user_id)
    row = db.session.get(TwoFactor, user.id)
    if user.two_factor:
        raise APIError.invalid({"code": [ALREADY_ON]})
    if row is None:
        raise APIError.invalid({"code": [NOTHING_TO_CONFIRM]})
    if not _take_totp(row, code):
        raise APIError.invalid({"code": [WRONG_CODE]})
    row.confirmed_at, user.two_factor = utcnow(), True
    codes = _new_recovery_codes(user.id)
    events.record(user.id, "2fa_enabled")
    db.session.commit()
    return codes


def _verify_both(user_id, password, code, guard):
    """The account, if ``password`` is its own and ``code`` one of its second factors;
    a wrong one of either is a failed password attempt (400 naming it)."""
    user = accounts.load(user_id)
    accounts.verify_password(user, password, guard)
    if not user.two_factor:
        raise APIError.invalid({"code": [OFF]})
    if take_code(user, code) is None:
        raise PasswordRejected(account_key(user), APIError.invalid({"code": [WRONG_CODE]}))
    return user


def renew(user_id, password, code, guard):
    """New recovery codes (the old ones die), with the password and a code."""
    user = _verify_both(user_id, password, code, guard)
    codes = _new_recovery_codes(user.id)
    db.session.commit()
    return codes


def disable(user_id, password, code, guard):
    """Turn two-factor off, with the password and a code: the secret and the recovery
    codes are deleted."""
    user = _verify_both(user_id, password, code, guard)
    off(user)


def off(user):
    """Turn ``user``'s two-factor off and commit (also an operator's command)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == user.id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.account_id == user.id))
    user.two_factor = False
    events.record(user.id, "2fa_disabled")
    db.session.commit()
