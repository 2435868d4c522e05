"""The messages luffy sends: their texts, and the verbs that queue them.

Every message leaves through the task queue (luffy/core/tasks.py) sealed, addressed
with the condition under which the worker may deliver it (luffy/core/envelopes.py).
"""


import logging

from flask import current_app

from luffy.core import codes, throttle
from luffy.core.envelopes import seal
from luffy.errors import APIError
from luffy.logs import masked

log = logging.getLogger(__name__)

SMS_TEXT = {
    "register": "Your luffy sign-up code is {code}. It expires in {minutes} minutes.",
    "login": "Your luffy login code is {code}. It expires in {minutes} minutes.",
    "reset": "Your luffy password reset code is {code}. It expires in {minutes} minutes. "
             "If you did not ask for it, ignore this message.",
}
EMAIL_SUBJECT = {"confirm": "Confirm your email for luffy", "reset": "Reset your luffy password"}
EMAIL_TEXT = {
    "confirm": "Your luffy email confirmation code is {code}. It expires in {minutes} minutes.",
    "reset": SMS_TEXT["reset"],
}
# Who may receive a code (luffy.core.envelopes.wanted decides, in the worker).
SMS_ONLY_TO = {"register": "newcomer", "login": "account", "reset": "account"}
EMAIL_CHANGED_SUBJECT = "Your luffy email was changed"
EMAIL_CHANGED_TEXT = ("The email of your luffy account was changed to {email}. If you did not "
                      "change it, reset your password and contact us.")
NEW_DEVICE_SUBJECT = "New sign-in to your luffy account"
NEW_DEVICE_TEXT = {
    "email": ("Your luffy account was signed in to from a new device on {time}, from the "
              "address {address}, with {browser} on {system}.\n\nIf this was you, there is "
              "nothing to do. If it was not, change your password now, and end the sessions "
              "you do not know at /users/sessions (the Security view of the luffy page)."),
    "sms": ("luffy: a new sign-in to your account on {time} from {address}, {browser} on "
            "{system}. Not you? Change your password and end your sessions at /users/sessions."),
}
TASKS = {"sms": "luffy.send_sms", "email": "luffy.send_email"}  # luffy/core/tasks.py


def enqueue(channel, message, expires=None):
    """Hand ``message`` sealed to the task queue (or, with no broker, send it now).

    Celery, kombu and the senders are imported here, on first use (luffy/speed.py)."""
    from kombu.exceptions import OperationalError as BrokerError

    from luffy.worker import celery_of

    celery = celery_of(current_app)
    try:
        celery.tasks[TASKS[channel]].apply_async(
            (seal(message),), expires=expires,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2})
    except BrokerError as e:
        log.error("task queue unavailable: %s", e.__class__.__name__)
        raise APIError.service_unavailable("task queue") from None


def send_code(channel, destination, purpose, address, message):
    """Throttle, issue a code and enqueue ``message`` with it: the same work for every
    destination (``message["text"]`` holds ``{code}`` and ``{minutes}``); the seconds
    before the next code may be asked for."""
    throttle.reserve_send(codes.destination_key(destination), address)
    code = codes.issue(destination, purpose)
    ttl = current_app.config["CODE_TTL"]
    message["text"] = message["text"].format(code=code, minutes=max(1, ttl // 60))
    enqueue(channel, message, expires=ttl)  # a dead code is not worth sending
    return current_app.config["CODE_RESEND_INTERVAL"]


def send_sms_code(mobile, purpose, address):
    """Send a code by SMS; it goes out only where ``SMS_ONLY_TO`` says (the worker decides)."""
    return send_code("sms", codes.sms(mobile), purpose, address, {
        "to": mobile, "text": SMS_TEXT[purpose], "only_to": SMS_ONLY_TO[purpose]})


def send_email_code(email, purpose, address, user_id=None):
    """Send a code by email: to confirm ``email`` as account ``user_id``'s, or to reset a
    password. A reset code goes only to an active account's confirmed address; a
    confirmation code only to an address no other account uses (the worker decides)."""
    email = email.lower()
    message = {"to": email, "subject": EMAIL_SUBJECT[purpose], "text": EMAIL_TEXT[purpose]}
    if purpose == "confirm":
        bound = f"confirm:{user_id}"  # only this account can use the code
        message.update(only_to="free", user=user_id)
    else:
        bound = "reset"
        message.update(only_to="account")
    return send_code("email", codes.email(email), bound, address, message)


def tell_email_changed(old_address, new_address):
    """Tell a confirmed address that the account's email is now ``new_address``."""
    enqueue("email", {"to": old_address, "subject": EMAIL_CHANGED_SUBJECT,
                      "text": EMAIL_CHANGED_TEXT.format(email=masked(new_address))})


def tell_new_device(channel, to, login):
    """Tell an account's confirmed email or its mobile (``channel``: ``email`` or ``sms``)
    of a login from a new device: ``login`` names its time, address, browser and system.
    The login is done: a task queue that is down loses the notice (logged), not the login."""
    message = {"to": to, "text": NEW_DEVICE_TEXT[channel].format(**login), "only_to": "account"}
    if channel == "email":
        message["subject"] = NEW_DEVICE_SUBJECT
    try:
        enqueue(channel, message)
    except APIError:
        log.error("new-device notice to %s not queued", masked(to))
