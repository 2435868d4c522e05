"""The marshmallow schemas of the accounts endpoints. Mobile numbers and emails are
judged by luffy.core.schemas (``Mobile``, ``Email``), the one place for both, so the
same rules hold wherever one is taken."""

import unicodedata

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from luffy.core.schemas import (
    NEW_PASSWORD, PASSWORD, Email, InputSchema, Mobile, check_email, check_mobile, is_mobile,
)

CODE = validate.Regexp(r"^[0-9]{6}$", error="A code is six digits.")


def check_mobile_or_email(value):
    """A reset's ``username``: an email when it holds an @, else a mobile number."""
    if "@" in value:
        check_email(value)
    else:
        check_mobile(value)


def _ascii_digits(value):
    """``value`` with each decimal digit of any script (fullwidth, Arabic-Indic...) in ASCII."""
    return "".join(str(unicodedata.decimal(char)) if char.isdecimal() else char for char in value)


COOKIES = fields.Boolean(load_default=False, metadata={
    "description": "also set the HttpOnly token cookies (no token in the body)"})


class MobilePathSchema(Schema):
    """The ``<mobile>`` of ``/users/mobile/<mobile>`` and ``/users/sms/<mobile>``."""

    mobile = Mobile(required=True)


class SmsCodeRequestSchema(InputSchema):
    """``POST /users/sms/<mobile>``."""

    purpose = fields.String(load_default="register",
                            validate=validate.OneOf(["register", "login", "reset"]))


class CodeSentSchema(InputSchema):
    """A code is on its way."""

    resend_after = fields.Integer(required=True, metadata={"description": "seconds"})


class MobileStateSchema(InputSchema):
    """``GET /users/mobile/<mobile>``."""

    mobile = fields.String(required=True)
    registered = fields.Boolean(required=True)


class SmsLoginSchema(InputSchema):
    """``POST /users/login/sms``."""

    mobile = Mobile(required=True)
    sms_code = fields.String(required=True, validate=CODE)
    cookies = COOKIES


class RegisterSchema(InputSchema):
    """``POST /users/register``."""

    mobile = Mobile(required=True)
    sms_code = fields.String(required=True, validate=CODE)
    password = fields.String(required=True, validate=NEW_PASSWORD)
    re_password = fields.String(required=True, validate=PASSWORD)
    username = fields.String(load_default=None, validate=validate.Length(min=1, max=150),
                             metadata={"description": "default: the mobile number"})
    email = Email(load_default=None)
    nickname = fields.String(load_default="", validate=validate.Length(max=50))
    cookies = COOKIES

    @validates_schema
    def _username_names_no_one_else(self, data, **_kwargs):
        """A username shaped like an email or another mobile could squat that identifier
        (a mobile in another script's digits too: it reads as the number)."""
        username = data.get("username")
        if username is None:
            return
        if "@" in username:
            raise ValidationError("A username cannot contain @.", "username")
        shown = _ascii_digits(username)
        if shown != data.get("mobile") and is_mobile(shown):
            raise ValidationError("A username cannot be a mobile number other than yours.", "username")


class EmailCodeRequestSchema(InputSchema):
    """``POST /users/email/code``."""

    email = Email(required=True)
    purpose = fields.String(required=True, validate=validate.OneOf(["confirm", "reset"]),
                            metadata={"description": "`confirm` needs an access token and `password`"})
    password = fields.String(load_default=None, validate=PASSWORD, metadata={
        "description": "the account's password: required with `confirm` (a wrong one counts "
                       "as a failed password attempt)"})

    @validates_schema
    def _confirm_takes_the_password(self, data, **_kwargs):
        """A token alone does not put a new email on an account."""
        if data.get("purpose") == "confirm" and data.get("password") is None:
            raise ValidationError("Missing data for required field.", "password")


class EmailConfirmSchema(InputSchema):
    """``POST /users/email/confirm``."""

    email = Email(required=True)
    code = fields.String(required=True, validate=CODE)


class PasswordResetSchema(InputSchema):
    """``POST /users/password/reset``."""

    username = fields.String(required=True, validate=check_mobile_or_email, metadata={
        "maxLength": 254, "description": "the mobile number or (holding an @) the email"})
    code = fields.String(required=True, validate=CODE)
    new_password = fields.String(required=True, validate=NEW_PASSWORD)
