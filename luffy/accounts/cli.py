"""Operator commands: ``flask codes show|clear DESTINATION`` (a mobile or an email)."""

import click
from flask.cli import AppGroup

from luffy.accounts import codes as one_time_codes

codes = AppGroup("codes", help="One-time codes and their send throttle.")


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
