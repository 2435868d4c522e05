"""The background tasks: one message each. They import no app; the worker's task
class (luffy/worker.py) runs them inside one, so they read its settings.

A task carries its message sealed (luffy/core/envelopes.py): it opens it, sends it
only if its destination may receive it (:func:`envelopes.wanted`: the decision the
request did not make), and hands the provider the task's id as the message's
idempotency key, the same on every retry of the message.

A provider that is down or slow raises :class:`DeliveryError` (and a database that
cannot answer the decision, an SQLAlchemy error): the task is retried with exponential
backoff (2, 4, 8 ... 60 s) up to ``MESSAGE_MAX_RETRIES`` times. A message the provider
refuses for good, or that cannot be opened, is logged and dropped.
"""

import logging

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from luffy.core import envelopes, senders
from luffy.logs import masked

log = logging.getLogger(__name__)


def _deliver(task, channel, sealed, send):
    """Open ``sealed``, and ``send(message, key)`` it if its destination may have it."""
    try:
        message = envelopes.unseal(sealed)
    except envelopes.Unreadable as e:
        log.error("%s dropped: %s", task.name, e)
        return
    to = masked(message["to"])
    try:
        if not envelopes.wanted(channel, message):
            log.info("%s to %s not sent: its destination does not take it", task.name, to)
            return
        send(message, task.request.id)
    except senders.Undeliverable as e:
        log.error("%s to %s dropped: %s", task.name, to, e)
        return
    except (senders.DeliveryError, SQLAlchemyError) as e:
        retries = task.request.retries
        reason = e if isinstance(e, senders.DeliveryError) else f"database: {e.__class__.__name__}"
        log.warning("%s to %s failed (try %d): %s", task.name, to, retries + 1, reason)
        raise task.retry(exc=e, countdown=min(2 ** (retries + 1), 60),
                         max_retries=current_app.config["MESSAGE_MAX_RETRIES"])
    log.info("%s to %s delivered", task.name, to)


@shared_task(bind=True, name="luffy.send_sms", ignore_result=True)
def send_sms(self, sealed):
    """Send one sealed SMS."""
    _deliver(self, "sms", sealed, lambda m, key: senders.send_sms(m["to"], m["text"], key))


@shared_task(bind=True, name="luffy.send_email", ignore_result=True)
def send_email(self, sealed):
    """Send one sealed email."""
    _deliver(self, "email", sealed,
             lambda m, key: senders.send_email(m["to"], m["subject"], m["text"], key))
