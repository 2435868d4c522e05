"""The background tasks: one message each. They import no app; the worker's task
class (luffy/worker.py) runs them inside one, so they read its settings.

A provider that is down or slow raises :class:`DeliveryError`: the task is retried
with exponential backoff (2, 4, 8 ... 60 s) up to ``MESSAGE_MAX_RETRIES`` times. A
message the provider refuses for good is logged and dropped.
"""

import logging

from celery import shared_task
from flask import current_app

from luffy.accounts import senders
from luffy.logs import masked

log = logging.getLogger(__name__)


def _deliver(task, send, to, *args):
    try:
        send(to, *args)
    except senders.Undeliverable as e:
        log.error("%s to %s dropped: %s", task.name, masked(to), e)
        return
    except senders.DeliveryError as e:
        retries = task.request.retries
        log.warning("%s to %s failed (try %d): %s", task.name, masked(to), retries + 1, e)
        raise task.retry(exc=e, countdown=min(2 ** (retries + 1), 60),
                         max_retries=current_app.config["MESSAGE_MAX_RETRIES"])
    log.info("%s to %s delivered", task.name, masked(to))


@shared_task(bind=True, name="luffy.send_sms", ignore_result=True)
def send_sms(self, to, text):
    """Send one SMS."""
    _deliver(self, senders.send_sms, to, text)


@shared_task(bind=True, name="luffy.send_email", ignore_result=True)
def send_email(self, to, subject, text):
    """Send one email."""
    _deliver(self, senders.send_email, to, subject, text)
