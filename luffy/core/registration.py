"""Sign-up with a mobile number and the code sent to it by SMS.

The code is checked first: a wrong or expired one is the only error answered (and
counts as a try on the code), so only the holder of a live code for the mobile learns
whether a username or email is taken. A form refused with a right code does not spend
it. The account and its first session are one transaction.
"""

from sqlalchemy.exc import IntegrityError

from luffy.core import accounts, codes, devices, events, sessions
from luffy.core.strength import password_problems
from luffy.errors import APIError
from luffy.extensions import db

REGISTERED = "This mobile number is already registered."


def register(form):
    """Create the account of a sign-up ``form`` with its live code, refused fields named
    at once, and log it in: the login answer."""
    mobile, password = form["mobile"], form["password"]
    claim = codes.check(codes.sms(mobile), "register", form["sms_code"])
    if claim is None:
        raise APIError.invalid({"sms_code": [codes.WRONG_CODE]})
    username = form["username"] or mobile
    errors = {}
    if accounts.mobile_registered(mobile):
        errors["mobile"] = [REGISTERED]
    if username != mobile and accounts.identifier_taken(username=username):
        errors["username"] = [accounts.TAKEN]
    if form["email"] and accounts.identifier_taken(email=form["email"]):
        errors["email"] = [accounts.TAKEN]
    if password != form["re_password"]:
        errors["re_password"] = ["The two passwords differ."]
    problems = password_problems(password, username, mobile, form["email"], form["nickname"])
    if problems:
        errors["password"] = problems
    if errors:
        raise APIError.invalid(errors)
    if not codes.consume(claim):  # a concurrent sign-up used it first
        raise APIError.invalid({"sms_code": [codes.WRONG_CODE]})
    try:
        user = accounts.add(username, password, email=form["email"], mobile=mobile,
                            nickname=form["nickname"])
        events.record(user.id, "login", method="register")
        access, refresh = sessions.start(user)
        device = devices.seen(user, first=True)  # its first device: never new
        db.session.commit()
    except IntegrityError:  # an account with one of these identifiers was committed meanwhile
        db.session.rollback()
        raise APIError.invalid({"mobile": [REGISTERED]}) from None
    return devices.told(user, device, sessions.answer(user.id, access, refresh))
