"""Where messages leave: SMTP for email; the log, an in-house webhook or Twilio for SMS.

Each send takes the message's ``key``, the same on every retry of one message: the
webhook gets it as ``Idempotency-Key``, Twilio as ``I-Twilio-Idempotency-Token`` (the
header Twilio itself uses for idempotency), and an email as its ``Message-ID``, so a
provider that took a message but answered too late can drop the retry.

A sender either delivers, raises :class:`DeliveryError` (the provider is down, slow
or busy: the task retries) or raises :class:`Undeliverable` (the provider refused
this message for good: retrying cannot help). The ``log`` backends, chosen by an
unset ``MAIL_SERVER`` or ``SMS_BACKEND=log``, are for development; production
refuses them (config.check_production_messages).
"""

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import parseaddr

from flask import current_app

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The provider could not take the message now; a later try may succeed."""


class Undeliverable(Exception):
    """The provider refused the message; no retry will change that."""


def _message_id(key):
    """``<key@the sender's domain>``: one Message-ID for every try of one email."""
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
    return f"<{key}@{domain or 'luffy'}>"


def send_email(to, subject, text, key):
    """Send a plain-text email through ``MAIL_SERVER``, or write it to the log."""
    config = current_app.config
    if not config["MAIL_SERVER"]:
        log.warning("email (log backend, development only) to %s: %s: %s", to, subject, text)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = _message_id(key)
    message.set_content(text)
    smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
    try:
        with smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"],
                        timeout=config["MAIL_TIMEOUT"]) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as e:
        codes = [code for code, _ in e.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            raise Undeliverable(f"SMTP refused the recipient: {codes}") from None
        raise DeliveryError(f"SMTP deferred the recipient: {codes}") from None
    except smtplib.SMTPResponseException as e:
        if 500 <= e.smtp_code < 600 and e.smtp_code != 530:  # 530: log in first (config)
            raise Undeliverable(f"SMTP refused the message: {e.smtp_code}") from None
        raise DeliveryError(f"SMTP answered {e.smtp_code}") from None
    except (OSError, smtplib.SMTPException) as e:  # refused, timed out, TLS failed...
        raise DeliveryError(f"SMTP server unavailable: {e.__class__.__name__}") from None


def send_sms(to, text, key):
    """Send ``text`` to the mobile ``to`` through ``SMS_BACKEND``; ``key`` names the message."""
    backend = current_app.config["SMS_BACKEND"]
    if backend == "log":
        log.warning("sms (log backend, development only) to %s: %s", to, text)
    elif backend == "webhook":
        _post(current_app.config["SMS_WEBHOOK_URL"], json={"to": to, "text": text},
              headers={"Idempotency-Key": key})
    elif backend == "twilio":
        _twilio(to, text, key)
    else:
        raise Undeliverable(f"unknown SMS_BACKEND {backend!r}")


def e164(mobile):
    """``mobile`` in E.164: as it is with a "+", else after ``SMS_COUNTRY_CODE``."""
    return mobile if mobile.startswith("+") else current_app.config["SMS_COUNTRY_CODE"] + mobile


def _twilio(to, text, key):
    """Twilio's Messages API: a form POST with HTTP Basic auth; 201 means queued."""
    config = current_app.config
    sid, sender = config["TWILIO_ACCOUNT_SID"], config["TWILIO_FROM"]
    url = f"{config['TWILIO_BASE_URL'].rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
    form = {"To": e164(to), "Body": text,
            ("MessagingServiceSid" if sender.startswith("MG") else "From"): sender}
    _post(url, data=form, auth=(sid, config["TWILIO_AUTH_TOKEN"]),
          headers={"I-Twilio-Idempotency-Token": key})


def _post(url, **kwargs):
    """POST to a provider: 2xx delivered, 429/5xx/no answer retried, other 4xx refused."""
    import requests  # on first use: web workers that hand messages to a broker never post

    try:
        response = requests.post(url, timeout=current_app.config["SMS_TIMEOUT"], **kwargs)
    except requests.RequestException as e:
        raise DeliveryError(f"SMS provider unavailable: {e.__class__.__name__}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryError(f"SMS provider answered {response.status_code}")
    if not 200 <= response.status_code < 300:
        raise Undeliverable(f"SMS provider refused the message: {response.status_code} "
                            f"{response.text[:200]}")
    return response
