"""The clinic's settings: saved versions in the database (newest wins), the environment's
values (settings.DRIP_CLINIC and friends) until the first save.

``current()`` is what rendering, the sender, replies and previews read. It is read once per
request or Celery task (the cache is forgotten when either starts, and on every save), not once
per message.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, time
from typing import Any, cast

from celery.signals import task_prerun
from django.conf import settings
from django.contrib.auth.models import User
from django.core.signals import request_started
from django.db import IntegrityError, transaction

from drip.core.schedule import Caps, Schedule, SendWindow
from drip.models import Actor, AuditEvent, ClinicSettings, actor_name

# Every key current() returns, in the order the settings page shows them.
FACTS = (
    "clinic_name",
    "clinic_sms_name",
    "clinic_phone",
    "clinic_address",
    "clinic_instructions",
    "time_zone",
    "window_start",
    "window_end",
    "sms_per_day",
    "sms_per_7_days",
    "email_per_day",
    "crisis_text",
    "from_email",
)
_cache = threading.local()


def defaults() -> dict[str, Any]:
    """The first-start values, from the environment (drip/settings.py)."""
    return {
        **settings.DRIP_CLINIC,
        "time_zone": settings.DRIP_CLINIC_TIME_ZONE,
        "window_start": "08:00",  # the widest window a schedule may have: narrows nothing
        "window_end": "21:00",
        "sms_per_day": Caps.sms_per_day,
        "sms_per_7_days": Caps.sms_per_7_days,
        "email_per_day": Caps.email_per_day,
        "from_email": settings.DEFAULT_FROM_EMAIL,
    }


def newest() -> ClinicSettings | None:
    return ClinicSettings.objects.order_by("-version").first()


def saved_since(instant: datetime) -> bool:
    """Whether a settings version was saved after ``instant`` (one query)."""
    return ClinicSettings.objects.filter(saved_at__gt=instant).exists()


def current() -> dict[str, Any]:
    """The clinic's facts: the newest saved version over the environment's defaults."""
    if not hasattr(_cache, "row"):
        _cache.row = newest()
    saved = _cache.row.facts if _cache.row is not None else {}
    return {**defaults(), **saved}


def forget(**_: object) -> None:
    """Read the settings again on the next current() (a new request or task, or a save)."""
    if hasattr(_cache, "row"):
        del _cache.row


request_started.connect(forget, dispatch_uid="drip.clinic.forget.request")
task_prerun.connect(forget, dispatch_uid="drip.clinic.forget.task", weak=False)


def bounded(schedule: Schedule, facts: dict[str, Any] | None = None) -> Schedule:
    """The schedule within the clinic's limits: the clinic's send window narrows the schedule's
    (where they do not overlap, the clinic's own window applies), and each of the clinic's caps
    is an upper bound on the schedule's."""
    facts = current() if facts is None else facts
    ours = schedule.send_window
    clinic_window = SendWindow(_time(facts["window_start"]), _time(facts["window_end"]))
    window = SendWindow(max(ours.start, clinic_window.start), min(ours.end, clinic_window.end))
    caps = Caps(*(min(getattr(schedule.caps, cap), int(facts[cap])) for cap in _CAPS))
    if window.start >= window.end:
        window = clinic_window
    if (window, caps) == (ours, schedule.caps):
        return schedule  # unchanged: keep the cached object (and its cached properties)
    return dataclasses.replace(schedule, send_window=window, caps=caps)


_CAPS = tuple(f.name for f in dataclasses.fields(Caps))


def _time(text: str) -> time:
    return time.fromisoformat(text)


class StaleSettings(Exception):
    """Someone saved the settings since this form was opened."""


def save(facts: dict[str, Any], *, on_version: int, actor: Actor, now: datetime) -> ClinicSettings:
    """Save a new version (``on_version``: the version the form showed; 0 = the defaults),
    audited with the names of the fields that changed (never their values)."""
    before, shown = current(), newest()
    if on_version != (shown.version if shown else 0):
        raise StaleSettings("someone saved the clinic settings meanwhile")
    try:
        with transaction.atomic():
            row = ClinicSettings.objects.create(
                version=on_version + 1, facts={k: facts[k] for k in FACTS}, saved_at=now,
                saved_by=actor_name(actor), user=None if isinstance(actor, str) else cast(User, actor),
            )  # fmt: skip
    except IntegrityError:
        raise StaleSettings("someone saved the clinic settings meanwhile") from None
    changed = sorted(k for k in FACTS if before.get(k) != facts[k])
    AuditEvent.record(actor, "clinic_settings_saved", at=now,
                      detail={"version": row.version, "changed": changed})  # fmt: skip
    forget()
    return row
