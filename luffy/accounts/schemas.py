"""The marshmallow schemas of the accounts endpoints. Mobile numbers are checked
against ``MOBILE_PATTERN`` when loaded, so the setting holds wherever one is taken."""

import re

from flask import current_app
from marshmallow import ValidationError, fields, validate, validates_schema

from luffy.auth.schemas import NEW_PASSWORD, PASSWORD, InputSchema

CODE = validate.Regexp(r"^[0-9]{6}$", error="A code is six digits.")
NOT_A_MOBILE = "Not a valid mobile number."


def check_mobile(value):
    """Raise unless ``value`` matches ``MOBILE_PATTERN``."""
    if len(value) > 15 or not re.fullmatch(current_app.config["MOBILE_PATTERN"], value):
        raise ValidationError(NOT_A_MOBILE)


class Mobile(fields.String):
    """A mobile number as ``MOBILE_PATTERN`` allows it."""

    def __init__(self, **kwargs):
        super().__init__(validate=check_mobile, metadata={
            "description": "matches `MOBILE_PATTERN` (default `^1[3-9]\\d{9}$`)"}, **kwargs)


COOKIES = fields.Boolean(load_default=False, metadata={
    "description": "also set the HttpOnly token cookies (no token in the body)"})


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
    email = fields.Email(load_default=None, validate=validate.Length(max=254))
    nickname = fields.String(load_default="", validate=validate.Length(max=50))
    cookies = COOKIES

    @validates_schema
    def _username_names_no_one_else(self, data, **_kwargs):
        """A username shaped like an email or another mobile could squat that identifier."""
        username = data.get("username")
        if username is None:
            return
        if "@" in username:
            raise ValidationError("A username cannot contain @.", "username")
        if username != data.get("mobile") and re.fullmatch(current_app.config["MOBILE_PATTERN"], username):
            raise ValidationError("A username cannot be a mobile number other than yours.", "username")


class EmailCodeRequestSchema(InputSchema):
    """``POST /users/email/code``."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
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

    email = fields.Email(required=True, validate=validate.Length(max=254))
    code = fields.String(required=True, validate=CODE)


class PasswordResetSchema(InputSchema):
    """``POST /users/password/reset``."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=254),
                             metadata={"description": "the mobile number or the email"})
    code = fields.String(required=True, validate=CODE)
    new_password = fields.String(required=True, validate=NEW_PASSWORD)
