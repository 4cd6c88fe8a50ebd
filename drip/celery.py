"""The Celery app and the beat entry that ticks the dispatcher.

Tasks are acked early: a killed worker's task is lost, never re-run by the broker's visibility
timeout; its rows stay 'queued' and come back through the dispatcher's lease (DESIGN §2, §4).
Database connections live as long as Django's CONN_MAX_AGE says, as in a web request:
Celery's Django fixup would otherwise close them around every task, and a new PostgreSQL
connection per task was a measurable share of the sender's cost. Django's own rule (close if
unusable, broken or too old) runs before each task instead.
Nothing connects at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drip.settings")

app = Celery("drip")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=False,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    imports=["drip.tasks"],
    CELERY_DB_REUSE_MAX=2**31,  # read by Celery's Django fixup: do not close around each task
)


@task_prerun.connect
def _fresh_enough_connections(**_: object) -> None:
    from django.db import close_old_connections

    close_old_connections()  # broken, errored or older than CONN_MAX_AGE: closed, reopened on use


def _configure() -> None:
    from django.conf import settings

    options: dict[str, object] = {}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options.update(_filesystem_broker_folders(settings.CELERY_BROKER_FOLDER))
    if settings.DRIP_VISIBILITY_TIMEOUT_S:
        options["visibility_timeout"] = settings.DRIP_VISIBILITY_TIMEOUT_S
    if options:
        app.conf.broker_transport_options = options
    app.conf.beat_schedule = {
        "dispatch-due": {"task": "drip.dispatch_due", "schedule": settings.DRIP_DISPATCH_EVERY_S},
    }


def _filesystem_broker_folders(folder: Path) -> dict[str, object]:
    """Every folder of the filesystem broker under the data folder (kombu's defaults, such as
    ``control/`` for broadcasts, are relative to the current folder)."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


@app.on_after_configure.connect
def _setup(sender: Celery, **_: object) -> None:
    _configure()


def enqueue_now(task: Any, *args: object) -> bool:
    """Hand ``task(*args)`` to the broker at once, or give up at once and say so (False).

    For work whose rows are already safe in the database and that the dispatcher tick picks up
    anyway (crisis alerts, staff replies): a web request must not wait on a broker that is down
    (kombu would retry for seconds)."""
    options = {**(app.conf.broker_transport_options or {}), "max_retries": 0}
    try:
        with app.connection_for_write(transport_options=options) as connection:
            # `connection` is a documented apply_async option that celery-types leaves out.
            task.apply_async(args, retry=False, connection=connection)
    except Exception:  # any broker failure: the caller's rows wait for the tick
        return False
    return True
