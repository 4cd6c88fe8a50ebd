"""The Celery app and the beat entry that ticks the dispatcher.

Tasks are acked early: a killed worker's task is lost, never re-run by the broker's visibility
timeout; its rows stay 'queued' and come back through the dispatcher's lease (DESIGN §2, §4).
Nothing connects at import time.
"""

from __future__ import annotations

import os

from celery import Celery

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
)


def _configure() -> None:
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_FOLDER
        for sub in ("queue", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }
    if settings.DRIP_VISIBILITY_TIMEOUT_S:
        app.conf.broker_transport_options = {"visibility_timeout": settings.DRIP_VISIBILITY_TIMEOUT_S}
    app.conf.beat_schedule = {
        "dispatch-due": {"task": "drip.dispatch_due", "schedule": settings.DRIP_DISPATCH_EVERY_S},
    }


@app.on_after_configure.connect
def _setup(sender: Celery, **_: object) -> None:
    _configure()
