"""The Celery app, built the way Flask's Celery example does (``celery_init_app``).

``CELERY_BROKER_URL`` names the broker (Redis or RabbitMQ); without one, tasks run
in-process (``task_always_eager``), so the embedded default needs no broker (production
refuses to start without one: config.check_production_messages). The worker needs the
web processes' ``SECRET_KEY`` (messages are sealed with it) and database. A task
is acknowledged only after it ran, and given back to the queue when its worker dies,
so a restart loses no message. ``app.config["CELERY"]`` (a mapping) may override any
of Celery's own settings.
"""

import threading

from celery import Celery, Task

_building = threading.Lock()


def celery_of(app):
    """The Celery app of ``app``, built on first use: a web worker imports Celery (and the
    tasks, the senders) only when it first queues a message (luffy/speed.py)."""
    celery_app = app.extensions.get("celery")
    if celery_app is None:
        with _building:
            celery_app = app.extensions.get("celery") or celery_init_app(app)
    return celery_app


def celery_init_app(app):
    """Build the Celery app of ``app``, keep it in ``app.extensions["celery"]``."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["CELERY_BROKER_URL"]
    settings = {
        "broker_url": broker,
        "task_always_eager": not broker,
        "task_default_queue": app.config["CELERY_QUEUE"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        # Redis: a message taken by a worker that vanished is handed out again after this.
        "broker_transport_options": {"visibility_timeout": 600, "socket_connect_timeout": 2},
        "worker_hijack_root_logger": False,
        "imports": ("luffy.core.tasks",),
        **app.config.get("CELERY", {}),
    }
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(settings)
    celery_app.set_default()
    from luffy.core import tasks  # noqa: F401  (its shared tasks join the app)

    app.extensions["celery"] = celery_app
    return celery_app
