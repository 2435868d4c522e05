"""Operator commands: ``flask users ...``, ``flask tokens ...``, ``flask keys ...`` and
``flask codes ...``. Each parses its arguments and calls a service of ``luffy.core``."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError
from sqlalchemy import select

from luffy.core import accounts, events, sessions, twofactor
from luffy.core import codes as one_time_codes
from luffy.core.keys import generate_pair
from luffy.core.models import User
from luffy.core.schemas import NEW_PASSWORD, NewUserSchema
from luffy.errors import APIError
from luffy.extensions import db

users = AppGroup("users", help="Manage accounts.")
tokens = AppGroup("tokens", help="Housekeeping of stored refresh tokens.")
keys = AppGroup("keys", help="Signing keys.")
codes = AppGroup("codes", help="One-time codes and their send throttle.")
COMMANDS = (users, tokens, keys, codes)

DEMO = {"username": "demo", "email": "demo@example.com", "mobile": "13800000000",
        "password": "luffy-demo-password", "nickname": "Demo", "money": "12.50", "credit": 30}


def _find(identifier):
    user = accounts.find(identifier)
    if user is None:
        raise click.ClickException(f"no account {identifier!r}")
    return user


def _create(fields):
    try:
        data = NewUserSchema().load(fields)
        return accounts.create(**data)
    except ValidationError as e:
        raise click.ClickException(_messages(e.messages)) from None
    except APIError as e:
        raise click.ClickException(_messages(e.errors)) from None


def _warn_without_shared_redis():
    """Ended sessions are published in Redis; without REDIS_URL nobody else sees them."""
    if not current_app.config["REDIS_URL"]:
        click.echo("warning: REDIS_URL is not set, so the servers cannot learn of this at "
                   "once: /users/login/verify accepts access tokens issued before it until "
                   "they expire; /users/me and refresh refuse them now.", err=True)


def _messages(errors):
    return "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in errors.items())


@users.command("create")
@click.argument("username")
@click.option("--email", default=None)
@click.option("--mobile", default=None)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--nickname", default="")
@click.option("--avatar", default="", help="absolute URL")
@click.option("--money", default="0.00")
@click.option("--credit", default=0, type=int)
@click.option("--inactive", is_flag=True, help="create the account deactivated")
def create(username, inactive, **fields):
    """Create an account."""
    user = _create({"username": username, "is_active": not inactive, **fields})
    click.echo(f"created user {user.id} {user.username}")


@users.command("demo")
def demo():
    """Create the demo account if it is missing, and print how to log in."""
    if not accounts.identifier_taken(username=DEMO["username"]):
        _create(DEMO)
    click.echo(f"demo account: username {DEMO['username']} (or {DEMO['email']} or "
               f"{DEMO['mobile']}), password {DEMO['password']}")


@users.command("deactivate")
@click.argument("identifier")
def deactivate(identifier):
    """Refuse an account from now on, its tokens included."""
    accounts.deactivate(_find(identifier))
    _warn_without_shared_redis()
    click.echo(f"deactivated {identifier}")


@users.command("activate")
@click.argument("identifier")
def activate(identifier):
    """Let a deactivated account log in again."""
    accounts.activate(_find(identifier))
    click.echo(f"activated {identifier}")


@users.command("set-password")
@click.argument("identifier")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def set_password(identifier, password):
    """Set an account's password; its sessions end."""
    try:
        NEW_PASSWORD(password)
    except ValidationError as e:
        raise click.ClickException(f"password: {' '.join(e.messages)}") from None
    accounts.set_password(_find(identifier), password)
    _warn_without_shared_redis()
    click.echo(f"password of {identifier} changed; its sessions ended")


@users.command("2fa-off")
@click.argument("identifier")
def two_factor_off(identifier):
    """Turn an account's two-factor off (its owner lost the app and the recovery codes)."""
    user = _find(identifier)
    if not user.two_factor:
        raise click.ClickException(f"{identifier} has no two-factor")
    twofactor.off(user)
    click.echo(f"two-factor of {identifier} is off; its next login takes the password alone")


@users.command("list")
def list_users():
    """List the accounts."""
    for user in db.session.scalars(select(User).order_by(User.id)):
        state = "active" if user.is_active else "inactive"
        click.echo(f"{user.id}\t{user.username}\t{user.email or '-'}\t{user.mobile or '-'}\t{state}")


@tokens.command("flush-expired")
def flush_expired():
    """Delete stored refresh tokens past their expiry, and security-log events older than
    90 days."""
    click.echo(f"deleted {sessions.flush_expired()} expired refresh tokens")
    click.echo(f"deleted {events.prune()} security-log events older than {events.KEEP.days} days")


@keys.command("generate")
@click.option("--algorithm", default="RS256", show_default=True,
              type=click.Choice(["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
def generate(algorithm, out):
    """Write a new key pair to OUT/<name>.pem and OUT/<name>.pub.pem."""
    private_pem, public_pem, kid = generate_pair(algorithm)
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / f"{kid}.pem", out / f"{kid}.pub.pem"
    private_path.touch(mode=0o600)
    private_path.write_bytes(private_pem)
    public_path.write_bytes(public_pem)
    click.echo(f"kid {kid}\nprivate key {private_path}\npublic key {public_path}")


def _destination(value):
    return one_time_codes.email(value) if "@" in value else one_time_codes.sms(value)


@codes.command("show")
@click.argument("destination")
def show(destination):
    """Show a mobile's or email's live codes (never a code) and its throttle."""
    state = one_time_codes.state(_destination(destination))
    live = [f"live, {code['tries']} wrong tries, expires in {code['ttl']} s" for code in state["codes"]]
    click.echo(f"{destination}: code {'; code '.join(live) or 'none'}; next send in {state['resend_wait']} s; "
               f"{state['sends_24h']} sends in the last 24 hours")


@codes.command("clear")
@click.argument("destination")
@click.option("--address", default=None,
              help="also clear this client address's daily count (an IPv6 address: its /64)")
def clear(destination, address):
    """Let a mobile or email receive codes again at once (its live code stays)."""
    one_time_codes.clear(_destination(destination), address)
    click.echo(f"cleared the send throttle of {destination}" + (f" and {address}" if address else ""))
