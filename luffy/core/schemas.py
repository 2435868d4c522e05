"""The marshmallow pieces every blueprint and command shares: field rules, the profile,
the login answer and the error shape.

The two identifiers that messages go to are judged here, once, for every schema and
command that takes one: :func:`is_mobile` (``MOBILE_PATTERN`` in ASCII digits) and
:func:`check_email` (an address mail can be sent to as it is).
"""

import re
import unicodedata
from email.message import EmailMessage
from email.utils import getaddresses

from flask import current_app
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

IDENTIFIER = validate.Length(min=1, max=254)
PASSWORD = validate.Length(min=1, max=1024)
TOKEN = validate.Length(min=1, max=8192)
NEW_PASSWORD = validate.Length(min=8, max=1024)
NOT_A_MOBILE = "Not a valid mobile number."
NOT_AN_EMAIL = "Not a valid email address."
EMAIL_SYNTAX = validate.Email(error=NOT_AN_EMAIL)


def is_mobile(value):
    """Whether ``value`` is a mobile number: up to 15 characters matching ``MOBILE_PATTERN``,
    in ASCII digits only."""
    # re.ASCII makes any pattern's \d mean 0-9; isascii() keeps a pattern's "." or
    # negated class from letting a fullwidth or other script's digit through either.
    return (len(value) <= 15 and value.isascii()
            and re.fullmatch(current_app.config["MOBILE_PATTERN"], value, re.ASCII) is not None)


def check_mobile(value):
    """Raise unless :func:`is_mobile`."""
    if not is_mobile(value):
        raise ValidationError(NOT_A_MOBILE)


class Mobile(fields.String):
    """A mobile number as :func:`is_mobile` allows it."""

    def __init__(self, **kwargs):
        super().__init__(validate=check_mobile, metadata={
            "description": "matches `MOBILE_PATTERN` (default `^1[3-9]\\d{9}$`) in ASCII digits"},
            **kwargs)


def check_email(value):
    """Raise unless mail can be sent to ``value`` as it is: up to 254 characters of
    marshmallow's email syntax, no control character, a domain name (not an address),
    and what the mail library would put in RCPT TO is ``value`` itself."""
    if len(value) > 254:
        raise ValidationError("Longer than maximum length 254.")
    EMAIL_SYNTAX(value)
    domain = value.rpartition("@")[2]
    top = domain.rpartition(".")[2]
    # An IP literal ([10.0.0.1], or 10.0.0.1 unbracketed: a numeric top label) or a
    # single label (localhost) would have the mail server relay to a host by address
    # or to one of its own network. Top-level domains are letters (or xn-- punycode).
    if any(unicodedata.category(char) == "Cc" for char in value) or "." not in domain \
            or domain.startswith("[") or not (top.isalpha() or top.lower().startswith("xn--")):
        raise ValidationError(NOT_AN_EMAIL)
    # smtplib's send_message takes its recipients from the To header like this; an
    # address it would change on the way (a dropped character, a lost quote) is refused.
    message = EmailMessage()
    try:
        message["To"] = value
        recipients = [address for _name, address in getaddresses(message.get_all("To"))]
    except ValueError:
        recipients = []
    if recipients != [value]:
        raise ValidationError(NOT_AN_EMAIL)


class Email(fields.String):
    """An email address as :func:`check_email` allows it."""

    def __init__(self, **kwargs):
        super().__init__(validate=check_email, metadata={
            "format": "email", "maxLength": 254, "description": "an address mail can be "
            "sent to as it is: no control character, a domain name (not an IP literal)"},
            **kwargs)


class InputSchema(Schema):
    """Unknown fields are dropped, so a richer frontend does not break login."""

    class Meta:
        unknown = EXCLUDE


class LoginAnswerSchema(Schema):
    """The login answer."""

    token = fields.String(required=True, metadata={"description": "access token"})
    refresh = fields.String(required=True)
    cart_total = fields.Integer(required=True, allow_none=True,
                                metadata={"description": "null when the cart store is down"})


class MfaRequiredSchema(Schema):
    """A login of an account with two-factor on: no tokens yet, the second step's token."""

    mfa_required = fields.Boolean(required=True, metadata={"enum": [True]})
    mfa_token = fields.String(required=True, metadata={
        "description": "for `POST /users/login/2fa` only; lives `MFA_TOKEN_EXPIRES` seconds, "
                       "dies after 5 wrong codes"})
    methods = fields.List(fields.String(), required=True,
                          metadata={"description": "`totp`, `recovery_code`"})


# What a password or SMS login answers: the tokens, or the second step's token.
LOGIN_OR_MFA = {"oneOf": [LoginAnswerSchema, MfaRequiredSchema]}


class EmptySchema(Schema):
    """``{}``."""


class UserSchema(Schema):
    """``GET /users/me``."""

    id = fields.Integer()
    username = fields.String()
    email = fields.Function(lambda user: user.email or "", metadata={"description": "\"\" when none"})
    email_verified = fields.Boolean()
    mobile = fields.String(allow_none=True)
    nickname = fields.String()
    avatar = fields.String(metadata={"description": "absolute URL or empty"})
    money = fields.Float(metadata={"description": "rounded to cents"})
    credit = fields.Integer()


def profile(account):
    """What :class:`UserSchema` dumps for ``account``, as a plain function: ``/users/me``
    answers with it on every request (tests/test_profile_dump.py holds the two equal)."""
    return {
        "id": int(account.id),
        "username": str(account.username),
        "email": account.email or "",
        "email_verified": bool(account.email_verified),
        "mobile": None if account.mobile is None else str(account.mobile),
        "nickname": str(account.nickname),
        "avatar": str(account.avatar),
        "money": float(account.money),
        "credit": int(account.credit),
    }


class ErrorSchema(Schema):
    """Every error."""

    code = fields.String(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class NewUserSchema(Schema):
    """An account as the ``users create`` command takes it."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    email = Email(load_default=None, allow_none=True)
    mobile = Mobile(load_default=None, allow_none=True)
    password = fields.String(required=True, validate=NEW_PASSWORD)
    nickname = fields.String(load_default="", validate=validate.Length(max=50))
    avatar = fields.String(load_default="", validate=validate.Regexp(
        r"^(https?://\S+)?$", error="Not an absolute http(s) URL."))
    money = fields.Decimal(load_default=0, places=2, validate=validate.Range(min=0))
    credit = fields.Integer(load_default=0, validate=validate.Range(min=0))
    is_active = fields.Boolean(load_default=True)
