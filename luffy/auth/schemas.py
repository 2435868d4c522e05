"""The marshmallow schemas of the auth endpoints' bodies and of the refresh answer."""

from marshmallow import Schema, fields

from luffy.core.schemas import IDENTIFIER, NEW_PASSWORD, PASSWORD, TOKEN, InputSchema


class LoginSchema(InputSchema):
    """``POST /users/login/``."""

    username = fields.String(required=True, validate=IDENTIFIER,
                             metadata={"description": "username, email or mobile"})
    password = fields.String(required=True, validate=PASSWORD)
    cookies = fields.Boolean(load_default=False,
                             metadata={"description": "also set the HttpOnly token cookies"})


class RefreshSchema(InputSchema):
    """``POST /users/login/refresh`` and ``/users/logout``: the refresh cookie may stand in."""

    refresh = fields.String(validate=TOKEN, load_default=None, metadata={
        "description": "required (400 `invalid` without it) unless the refresh cookie is sent"})


class VerifySchema(InputSchema):
    """``POST /users/login/verify``."""

    token = fields.String(required=True, validate=TOKEN)


class PasswordChangeSchema(InputSchema):
    """``POST /users/password``."""

    old_password = fields.String(required=True, validate=PASSWORD)
    new_password = fields.String(required=True, validate=NEW_PASSWORD)


class RefreshAnswerSchema(Schema):
    """The refresh answer; ``refresh`` only with rotation on."""

    access = fields.String(required=True)
    refresh = fields.String()
