"""Endpoints for operators and other services: health, readiness, the JWKS, and the
schemas of their answers."""

import logging

import redis
from flask import Blueprint, current_app, jsonify
from marshmallow import Schema, fields, validate
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from luffy.core.schemas import ErrorSchema
from luffy.errors import error_response
from luffy.extensions import db, redis_clients
from luffy.markers import answers

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)


# The answers of these endpoints.

CHECK_STATE = fields.String(validate=validate.OneOf(["ok", "unavailable"]))


class HealthSchema(Schema):
    """``GET /healthz``."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessSchema(HealthSchema):
    """``GET /readyz`` when every dependency answers."""

    checks = fields.Dict(keys=fields.String(), values=CHECK_STATE, required=True,
                         metadata={"description": "database, redis, cart_redis"})


class ReadinessErrorSchema(ErrorSchema):
    """``GET /readyz`` when a dependency is down: the error shape plus the checks."""

    checks = fields.Dict(keys=fields.String(), values=CHECK_STATE, required=True)


class JWKSSchema(Schema):
    """``GET /.well-known/jwks.json`` (RFC 7517); empty with an HMAC algorithm."""

    keys = fields.List(fields.Dict(), required=True)


@bp.get("/healthz")
@answers(HealthSchema)
def healthz():
    """The process answers; no dependency is asked."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@answers(ReadinessSchema, errors=(503,), error=ReadinessErrorSchema)
def readyz():
    """200 when the database and Redis answer; 503 naming the ones that do not."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as e:
        db.session.rollback()
        log.warning("readiness: database down: %s", e.__class__.__name__)
        checks["database"] = "unavailable"
    for name, client in (("redis", redis_clients.main), ("cart_redis", redis_clients.cart)):
        try:
            client.ping()
            checks[name] = "ok"
        except redis.RedisError as e:
            log.warning("readiness: %s down: %s", name, e.__class__.__name__)
            checks[name] = "unavailable"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return error_response(503, "service_unavailable", "Unavailable: " + ", ".join(failed),
                              checks=checks)
    return jsonify({"status": "ok", "checks": checks})


@bp.get("/.well-known/jwks.json")
@answers(JWKSSchema)
def jwks():
    """The public verifying keys (RFC 7517); empty with an HMAC algorithm."""
    response = jsonify({"keys": current_app.extensions["luffy_keys"].jwks})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
