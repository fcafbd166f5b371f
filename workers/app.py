"""The Celery app, configured from dupgate's settings."""

import logging

from celery import Celery
from celery.signals import setup_logging, worker_init

from dupgate.logs import configure_logging
from dupgate.settings import embedded_redis_url, get_settings
from dupgate.store.db import check_migrated, get_engine, migrate


def broker_url() -> str:
    """The Redis URL; `dupgate serve` sets DUPGATE_REDIS_URL for its children."""
    settings = get_settings()
    return settings.redis_url or embedded_redis_url(settings.data_dir)


settings = get_settings()
app = Celery("dupgate", broker=broker_url(), include=["dupgate.workers.tasks"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # A task is acknowledged only when it has finished, and one whose worker died is
    # delivered again: together with idempotent tasks, no upload is lost or decided twice.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=settings.task_time_limit,
    broker_transport_options={"visibility_timeout": settings.task_visibility_timeout},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # Webhook deliveries wait on other hosts' answers: on a queue of their own, so that a slow
    # receiver never holds up uploads when workers are started for one queue only.
    # Scans run for minutes: on a queue of their own too.
    task_routes={
        "dupgate.workers.tasks.deliver_webhooks": {"queue": "webhooks"},
        "dupgate.workers.tasks.deliver_webhook_stream": {"queue": "webhooks"},
        "dupgate.workers.tasks.run_collection_scan": {"queue": "scans"},
        "dupgate.workers.tasks.analyse_staged": {"queue": "analyses"},
        "dupgate.workers.tasks.make_previews": {"queue": "analyses"},
    },
    beat_schedule={
        "requeue-stale-uploads": {
            "task": "dupgate.workers.tasks.requeue_stale_uploads",
            "schedule": settings.requeue_sweep_seconds,
        },
        "requeue-stale-scans": {
            "task": "dupgate.workers.tasks.requeue_stale_scans",
            "schedule": 60.0,
        },
        "sweep-orphaned-staging": {
            "task": "dupgate.workers.tasks.sweep_orphaned_staging",
            "schedule": settings.orphan_sweep_seconds,
        },
        "deliver-webhooks": {
            "task": "dupgate.workers.tasks.deliver_webhooks",
            "schedule": settings.webhook_sweep_seconds,
        },
    },
)


@worker_init.connect
def _refuse_unmigrated_database(**_: object) -> None:
    url = settings.resolved_database_url
    if settings.uses_embedded_sqlite:
        migrate(url)
    check_migrated(url)
    # The pool forks after this: children must not share the parent's database connections.
    get_engine(url).dispose()


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: object) -> None:
    # Connected, so Celery leaves the root logger to dupgate's configuration (text or JSON,
    # the same as the gateway's); `--loglevel` still quiets Celery's own loggers.
    configure_logging(settings)
    if loglevel is not None:
        logging.getLogger("celery").setLevel(loglevel)
