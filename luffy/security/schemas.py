"""The marshmallow schemas of the security endpoints."""

from marshmallow import Schema, fields, post_dump, validate

from luffy.core.schemas import PASSWORD, TOKEN, InputSchema

MAX_ID = 2**31 - 1  # events.id is a 32-bit INTEGER on PostgreSQL and MySQL


class EventsQuerySchema(InputSchema):
    """``GET /users/events``."""

    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID),
                            metadata={"description": "only events with a smaller id: the "
                                                     "last id of the previous page"})


class EventSchema(Schema):
    """One entry of the security log."""

    id = fields.Integer(required=True)
    type = fields.String(required=True, metadata={"description": "login, login_failed, logout, "
                         "session_ended, password_changed, password_reset, email_confirmed, "
                         "email_changed, 2fa_enabled, 2fa_disabled, recovery_code_used, new_device"})
    at = fields.Function(lambda event: event.at.isoformat(timespec="seconds") + "Z", required=True,
                         metadata={"type": "string", "format": "date-time", "description": "UTC"})
    ip = fields.String(required=True, allow_none=True)
    user_agent = fields.String(required=True, allow_none=True)
    method = fields.String(metadata={"description": "a login's (or failed login's): password, "
                                                    "sms, register or 2fa; absent otherwise"})

    @post_dump
    def _without_method(self, data, **_kwargs):
        if data.get("method") is None:
            data.pop("method", None)
        return data


class EventsSchema(Schema):
    """``GET /users/events``: a page of the log, newest first."""

    events = fields.List(fields.Nested(EventSchema), required=True)
    more = fields.Boolean(required=True, metadata={"description": "older events remain"})


CODE = validate.Length(min=1, max=64)
CODE_DESCRIPTION = "the 6 digits of the authenticator app (spaces allowed), or a recovery code"


class PasswordSchema(InputSchema):
    """``POST /users/2fa/totp``."""

    password = fields.String(required=True, validate=PASSWORD)


class TotpCodeSchema(InputSchema):
    """``POST /users/2fa/totp/confirm``."""

    code = fields.String(required=True, validate=CODE,
                         metadata={"description": "the 6 digits the app shows for the new secret"})


class PasswordAndCodeSchema(InputSchema):
    """``POST /users/2fa/recovery-codes`` and ``DELETE /users/2fa``."""

    password = fields.String(required=True, validate=PASSWORD)
    code = fields.String(required=True, validate=CODE, metadata={"description": CODE_DESCRIPTION})


class TotpSecretSchema(Schema):
    """A new TOTP secret, not in force until confirmed."""

    secret = fields.String(required=True, metadata={"description": "base32, for typing into the app"})
    otpauth_uri = fields.String(required=True, metadata={
        "description": "`otpauth://totp/...`, the content of the QR code that apps scan"})


class RecoveryCodesSchema(Schema):
    """Ten single-use recovery codes, shown this once."""

    recovery_codes = fields.List(fields.String(), required=True)


class MfaLoginSchema(InputSchema):
    """``POST /users/login/2fa``."""

    mfa_token = fields.String(required=True, validate=TOKEN,
                              metadata={"description": "the login's `mfa_token`"})
    code = fields.String(required=True, validate=CODE, metadata={"description": CODE_DESCRIPTION})
    cookies = fields.Boolean(load_default=False,
                             metadata={"description": "also set the HttpOnly token cookies"})
