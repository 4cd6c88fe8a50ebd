"""The sender's side of the database: claim deliveries for sending with what their checks and
messages need, and write back how each ended, a few statements per group of rows (DESIGN §4).

Plain SQL, not the ORM, because this is the hot path of every message: loading 100 rows as
Django models (three per row with select_related) and writing them back through per-field
preparation was a third of a worker's time. Ids travel as one array parameter
(``= ANY(%s)``) on PostgreSQL, so the statement text stays the same whatever the batch size.
Every write is a compare-and-set on ``status``: a repeated or late write changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, Field, dataclass, fields
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, cast

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from drip.models import Reachable


@dataclass(frozen=True, slots=True)
class Recipient(Reachable):
    """The patient as the sender needs them: contact, consent, opt-outs, time zone."""

    id: int
    first_name: str
    email: str
    phone: str
    time_zone: str
    sms_consent: bool
    email_consent: bool
    sms_opted_out_at: datetime | None
    email_opted_out_at: datetime | None


@dataclass(slots=True)
class Row:
    """A delivery claimed for sending (status 'sending'), its enrollment's state and patient.
    The sender sets the outcome fields; :func:`finish` writes them."""

    id: int
    enrollment_id: int
    step_key: str
    channel: str
    message_key: str
    anchor_infusion: int | None
    due_at: datetime
    attempts: int
    status: str
    skip_reason: str
    provider_id: str
    error_code: str
    error_text: str
    sent_at: datetime | None
    enrollment_status: str
    schedule_version_id: int
    series_size: int | None  # the enrollment's own; None: the schedule's
    patient: Recipient
    # The series' infusions as the claim read them (under the enrollment lock): the sender
    # compares them again when a row comes back unsent (see sender._replan_changed).
    infusions_seen: dict[int, InfusionState] | None = None
    # The message as handed to the provider, set when it was accepted (empty otherwise): the
    # SMS text, or the email's subject and plain text. Written by :func:`finish`, never logged.
    sent_subject: str = ""
    sent_text: str = ""


@dataclass(frozen=True, slots=True)
class InfusionState:
    number: int
    starts_at: datetime
    status: str


def _fields(cls: type) -> list[Field[Any]]:
    """The dataclass's fields that come from a column, in order: all but a Row's patient (built
    from several) and the fields with a default (set by the sender later)."""
    return [f for f in fields(cls) if f.name != "patient" and f.default is MISSING]


# The SELECT lists name each column after its field (the patient's prefixed ``patient_``), and
# ``_read_rows`` finds fields by those names: a column added, dropped or reordered cannot shift
# every field after it.
_ROW_FIELDS = [f.name for f in _fields(Row)]
_RECIPIENT_FIELDS = [f.name for f in _fields(Recipient)]
_ENROLLMENT_COLUMNS = {
    "enrollment_status": "e.status",
    "schedule_version_id": "e.schedule_version_id",
    "series_size": "e.series_size",
}
_DELIVERY = ", ".join(
    f"{_ENROLLMENT_COLUMNS[name]} AS {name}" if name in _ENROLLMENT_COLUMNS else f"d.{name}"
    for name in _ROW_FIELDS
)
_OWNER = ", ".join(f"p.{name} AS patient_{name}" for name in _RECIPIENT_FIELDS)

# PostgreSQL, before the claim: lock the series of the rows still queued, in the mode that waits
# for a move, mark or status change of the series in progress (they take FOR UPDATE) but not for
# another sender. So the infusions read after the claim are the ones the claimed rows were planned
# from: a move that committed first has re-timed its queued rows (not claimed any more), and one
# that comes later waits for this claim. Locking after the claim would deadlock with the move's
# re-plan, which waits for the claimed rows while holding the series.
_LOCK_SERIES_POSTGRES = """
SELECT id FROM drip_enrollment
WHERE id IN (SELECT enrollment_id FROM drip_delivery WHERE id = ANY(%s) AND status = 'queued')
ORDER BY id FOR KEY SHARE
"""
# PostgreSQL: claim and load in one statement (a data-modifying CTE).
_CLAIM_POSTGRES = f"""
WITH d AS (
    UPDATE drip_delivery SET status = 'sending', attempts = attempts + 1, queued_at = NULL, updated_at = %s
    WHERE id = ANY(%s) AND status = 'queued'
    RETURNING *)
SELECT {_DELIVERY}, {_OWNER}
FROM d JOIN drip_enrollment e ON e.id = d.enrollment_id JOIN drip_patient p ON p.id = e.patient_id
"""
# SQLite allows no UPDATE inside WITH: claim, then load what was won.
_CLAIM_SQLITE = (
    "UPDATE drip_delivery SET status = 'sending', attempts = attempts + 1, queued_at = NULL, "
    "updated_at = %s WHERE id IN ({ids}) AND status = 'queued' RETURNING id"
)
_LOAD_SQLITE = f"""
SELECT {_DELIVERY}, {_OWNER}
FROM drip_delivery d JOIN drip_enrollment e ON e.id = d.enrollment_id JOIN drip_patient p ON p.id = e.patient_id
WHERE d.id IN ({{ids}})
"""

_FINISH_COLUMNS = (
    "status",
    "skip_reason",
    "attempts",
    "due_at",
    "provider_id",
    "sent_at",
    "error_code",
    "error_text",
    "sent_subject",
    "sent_text",
)
_FINISH_POSTGRES = """
UPDATE drip_delivery AS d SET status = v.status, skip_reason = v.skip_reason, attempts = v.attempts,
    due_at = v.due_at, provider_id = v.provider_id, sent_at = v.sent_at, error_code = v.error_code,
    error_text = v.error_text, sent_subject = v.sent_subject, sent_text = v.sent_text,
    queued_at = NULL, updated_at = %s
FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::smallint[], %s::timestamptz[], %s::varchar[],
            %s::timestamptz[], %s::varchar[], %s::varchar[], %s::varchar[], %s::text[])
    AS v(id, status, skip_reason, attempts, due_at, provider_id, sent_at, error_code, error_text,
         sent_subject, sent_text)
WHERE d.id = v.id AND d.status = 'sending'
"""
_FINISH_SQLITE = (
    "UPDATE drip_delivery SET status = %s, skip_reason = %s, attempts = %s, due_at = %s, provider_id = %s, "
    "sent_at = %s, error_code = %s, error_text = %s, sent_subject = %s, sent_text = %s, queued_at = NULL, "
    "updated_at = %s WHERE id = %s AND status = 'sending'"
)


def claim(ids: Sequence[int]) -> list[Row]:
    """queued -> sending (attempts + 1, lease cleared) for the rows still queued; returns only the
    rows won, with their enrollment's state and patient. Call it inside a transaction: on
    PostgreSQL it holds the rows' series locked until commit (SQLite has one writer at a time)."""
    if not ids:
        return []
    stamp = _db_time(timezone.now())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_LOCK_SERIES_POSTGRES, [list(ids)])
            cursor.execute(_CLAIM_POSTGRES, [stamp, list(ids)])
        else:
            cursor.execute(_CLAIM_SQLITE.format(ids=_marks(ids)), [stamp, *ids])
            won = [r[0] for r in cursor.fetchall()]
            if not won:
                return []
            cursor.execute(_LOAD_SQLITE.format(ids=_marks(won)), won)
        return _read_rows(cursor)


def infusions_of(enrollment_ids: set[int]) -> dict[int, dict[int, InfusionState]]:
    """Each enrollment's infusions by number (an enrollment with none maps to {})."""
    found: dict[int, dict[int, InfusionState]] = {e: {} for e in enrollment_ids}
    if not found:
        return found
    ids = list(found)
    params: list[Any]  # the SQL parameters: the ids, or the ids as one array
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            where, params = "enrollment_id = ANY(%s)", [ids]
        else:
            where, params = f"enrollment_id IN ({_marks(ids)})", ids
        cursor.execute(
            f"SELECT enrollment_id, number, starts_at, status FROM drip_infusion WHERE {where}",
            params,
        )
        for enrollment_id, number, starts_at, status in cursor.fetchall():
            starts = cast(datetime, _aware(starts_at))  # starts_at is NOT NULL
            found[enrollment_id][number] = InfusionState(number, starts, status)
    return found


def opted_out(patient_ids: set[int]) -> dict[int, set[str]]:
    """The channels each of these patients has opted out of now (patients with none left out)."""
    from drip.models import Patient

    found: dict[int, set[str]] = {}
    stopped = Patient.objects.filter(pk__in=patient_ids).exclude(
        sms_opted_out_at=None, email_opted_out_at=None
    )
    for pk, sms_at, email_at in stopped.values_list("pk", "sms_opted_out_at", "email_opted_out_at"):
        found[pk] = {c for c, at in (("sms", sms_at), ("email", email_at)) if at is not None}
    return found


def sends_since(patient_ids: set[int], since: datetime) -> dict[int, list[tuple[str, datetime]]]:
    """Each patient's messages (channel, sent_at) sent since ``since``, across all their series."""
    found: dict[int, list[tuple[str, datetime]]] = {p: [] for p in patient_ids}
    if not found:
        return found
    ids = list(found)
    params: list[Any]  # the SQL parameters: ids and a time
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            where, params = "e.patient_id = ANY(%s)", [ids, since]
        else:
            where, params = f"e.patient_id IN ({_marks(ids)})", [*ids, _db_time(since)]
        cursor.execute(
            "SELECT e.patient_id, d.channel, d.sent_at FROM drip_delivery d "
            f"JOIN drip_enrollment e ON e.id = d.enrollment_id WHERE {where} AND d.sent_at >= %s",
            params,
        )
        for patient_id, channel, sent_at in cursor.fetchall():
            sent = cast(datetime, _aware(sent_at))  # not NULL: the WHERE compares it
            found[patient_id].append((channel, sent))
    return found


def finish(rows: Sequence[Row]) -> None:
    """Write each row's status and outcome fields (and clear its lease), in one statement; only
    rows still 'sending' change (compare-and-set). The outcome includes the copy of what was
    sent (empty unless the provider accepted it): a row that was sent is never claimed again,
    so no earlier copy is overwritten."""
    if not rows:
        return
    stamp = _db_time(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = [
                [r.id for r in rows],
                *([getattr(r, c) for r in rows] for c in _FINISH_COLUMNS),
            ]
            cursor.execute(_FINISH_POSTGRES, [stamp, *columns])
        else:
            cursor.executemany(
                _FINISH_SQLITE,
                [
                    [
                        r.status,
                        r.skip_reason,
                        r.attempts,
                        _db_time(r.due_at),
                        r.provider_id,
                        _db_time(r.sent_at),
                        r.error_code,
                        r.error_text,
                        r.sent_subject,
                        r.sent_text,
                        stamp,
                        r.id,
                    ]
                    for r in rows
                ],
            )


def _read_rows(cursor: Any) -> list[Row]:
    """Each fetched row as a Row, its fields found by column name in ``cursor.description``
    (once per statement; then each row is one pass over precomputed positions)."""
    position = {column[0]: i for i, column in enumerate(cursor.description)}
    # PostgreSQL returns the fields' own types (aware datetimes, booleans): nothing to convert.
    convert = connection.vendor != "postgresql"
    read_row = _reader([(position[f.name], f.type) for f in _fields(Row)], convert)
    read_patient = _reader(
        [(position[f"patient_{f.name}"], f.type) for f in _fields(Recipient)], convert
    )
    # The star-args are Row's column fields, which come before ``patient`` (mypy cannot count them).
    return [
        Row(*read_row(r), patient=Recipient(*read_patient(r)))  # type: ignore[misc]
        for r in cursor.fetchall()
    ]


def _reader(
    columns: list[tuple[int, object]], convert: bool
) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A dataclass's field values, in field order, out of a fetched tuple: taken by position
    (``columns``: each field's position, found by name, and its type), converted where the
    field's type needs it and ``convert`` is on."""
    take = itemgetter(*(i for i, _ in columns))
    conversions = [(j, c) for j, (_, t) in enumerate(columns) if (c := _converter(t))]
    if not (convert and conversions):
        return take

    def read(fetched: Sequence[Any]) -> Sequence[Any]:
        values = list(take(fetched))
        for j, conversion in conversions:
            values[j] = conversion(values[j])
        return values

    return read


def _converter(annotation: object) -> Callable[[Any], Any] | None:
    """What a column needs on its way into a field of this type: SQLite returns datetimes as
    text and booleans as 0/1; anything else is used as fetched."""
    if "datetime" in str(annotation):
        return _aware
    return bool if str(annotation) == "bool" else None


def _aware(value: datetime | str | None) -> datetime | None:
    """PostgreSQL returns aware datetimes; SQLite the UTC text Django stored."""
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed is not None else None


def _db_time(value: datetime | None) -> datetime | str | None:
    return (
        connection.ops.adapt_datetimefield_value(value)
        if connection.vendor != "postgresql"
        else value
    )


def _marks(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))
