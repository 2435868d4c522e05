"""New-device alerts: which device a login comes from, and the notice of a new one.

A browser is known by its device cookie (``DEVICE_COOKIE_NAME``): a random id signed
with the app's secret, set by every login answer, HttpOnly, 400 days. A login without a
valid one (curl, an app without cookies, a browser's first visit) is known by its user
agent and network: the exact ``User-Agent`` and the client address's /24 (IPv4) or /64
(IPv6). The answer then carries that device's cookie, so a browser is known by its
cookie from its next login on.

A login's device is new when the account has devices but has not logged in from this
one within :data:`REMEMBER` (90 days). An account's first device (its sign-up, or its
first login after this feature arrived) is recorded without a notice. A new device is a
``new_device`` event and a notice through the task queue (:func:`luffy.core.messages.tell_new_device`).

A known device costs a login one read (its row by index), and a write at most once a day
(:data:`TOUCH`: ``last_seen`` is kept to the day).
"""

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from flask import current_app, has_request_context, request
from itsdangerous import BadSignature, Signer
from sqlalchemy import exists, select
from ua_parser import parse

from luffy.core import events, messages, tokens
from luffy.core.models import Device, utcnow
from luffy.extensions import db

REMEMBER = timedelta(days=90)
TOUCH = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Sighting:
    """A login's device: its cookie id, and whether it is new to the account."""

    cookie: str
    new: bool


def _signer():
    return Signer(current_app.config["SECRET_KEY"], salt="luffy.device")


def signed(cookie_id):
    """The device cookie's value for ``cookie_id``."""
    return _signer().sign(cookie_id).decode()


def presented():
    """The device id of the request's device cookie, or ``None`` (none, or not signed here)."""
    value = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not value:
        return None
    try:
        cookie_id = _signer().unsign(value).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return cookie_id if 0 < len(cookie_id) <= Device.cookie.type.length else None


def network(address):
    """The network a client address counts by: an IPv4 address's /24, an IPv6 address's
    /64 (an IPv4-mapped one as its IPv4 address); anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def agent_key():
    """The hash of this request's user agent and network: a cookie-less client's identity."""
    agent = request.headers.get("User-Agent", "")
    where = network(request.remote_addr or "")
    return hashlib.sha256(f"{agent}\n{where}".encode()).hexdigest()


def seen(user, first=False):
    """The device of ``user``'s login now (a :class:`Sighting`), recorded in the caller's
    transaction, a ``new_device`` event with it when it is new; ``None`` outside a
    request or with ``NEW_DEVICE_ALERTS`` off. ``first``: a new account's sign-up."""
    if not has_request_context() or not current_app.config["NEW_DEVICE_ALERTS"]:
        return None
    cookie_id, key, now = presented(), agent_key(), utcnow()
    query = select(Device).where(Device.account_id == user.id)
    if cookie_id is not None:
        query = query.where(Device.cookie == cookie_id)
    else:
        query = query.where(Device.agent_key == key).order_by(Device.last_seen.desc())
    device = None if first else db.session.scalars(query.limit(1)).first()
    if device is None:
        new = not first and bool(db.session.scalar(
            select(exists().where(Device.account_id == user.id))))
        device = Device(account_id=user.id, cookie=cookie_id or secrets.token_urlsafe(32),
                        agent_key=key, first_seen=now, last_seen=now)
        db.session.add(device)
    else:
        new = now - device.last_seen > REMEMBER
        if now - device.last_seen >= TOUCH:
            device.last_seen, device.agent_key = now, key
    if new:
        events.record(user.id, "new_device")
    return Sighting(device.cookie, new)


def told(user, sighting, answer):
    """After the login committed: queue the notice of a new device, and the login
    ``answer`` (:class:`~luffy.core.sessions.LoginAnswer`) carrying the device cookie."""
    if sighting is None:
        return answer
    if sighting.new:
        tell(user)
    return replace(answer, device=signed(sighting.cookie))


def described(agent):
    """``(browser, system)`` of a ``User-Agent``, as ua-parser names them."""
    parsed = parse(agent or "")
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    return (browser if browser and browser != "Other" else "an unknown browser",
            system if system and system != "Other" else "an unknown system")


def tell(user):
    """Queue the notice of this request's login to the account's confirmed email, else by
    SMS to its mobile (neither: nothing)."""
    if user.email and user.email_verified:
        channel, to = "email", user.email
    elif user.mobile:
        channel, to = "sms", user.mobile
    else:
        return
    browser, system = described(request.headers.get("User-Agent"))
    messages.tell_new_device(channel, to, {
        "time": utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "address": tokens.client_seen()["ip"] or "an unknown address",
        "browser": browser, "system": system})
