"""The sender: the state machine of one delivery, run for a batch (DESIGN §4).

Rows are claimed (queued -> sending, compare-and-set), checked and prepared in one transaction,
in groups no larger than the calls that can start at once (``concurrency``), so a worker killed
mid-batch strands in 'sending' only calls that were in flight; rows it had not claimed stay
'queued' and come back via the lease. A new group is claimed when half the window is free: per-
group statements were the cost when groups were small, and claiming more than can start at once
left that much stranded by one kill; the default concurrency equals the batch, so a batch is one
group (measurements: docs/history.md).
Only the main thread touches the database (drip.delivery.rows); rendering (pure) and provider
calls run on the process's event loop (drip.channels.io_loop), and their answers come back
through a queue, with the message each call handed over: the row keeps that copy (for staff),
written in the statement that records the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from drip.catalog import clinic
from drip.catalog import versions as catalog
from drip.channels import io_loop
from drip.channels.base import EmailChannel, OutgoingEmail, OutgoingSms, Receipt, SmsChannel
from drip.core.backoff import compute_backoff
from drip.core.caps import Occupancy
from drip.core.may_send import SkipReason, send_verdict, skip_reason
from drip.core.rendering import render_email, render_sms
from drip.core.schedule import Channel
from drip.core.window import zone_of
from drip.delivery import rows as delivery_rows
from drip.delivery.context import context_for
from drip.delivery.rows import InfusionState, Row
from drip.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientOptedOutError,
    TransientDeliveryError,
)
from drip.models import Delivery, ScheduleVersion

log = logging.getLogger("drip.delivery.sender")
S = Delivery.Status


@dataclass
class BatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    not_claimed: int = 0
    opted_out_patients: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Go:
    """A claimed, checked row and everything its message needs: rendering it is pure, so it
    happens on the event loop, just before the provider call, not in the main thread's claim."""

    row: Row
    version: ScheduleVersion
    context: dict[str, object]
    to: str
    # An SMS whose last attempt lost its answer (timeout, dropped connection): Twilio may have
    # taken it, so look for it (created since this time) before sending again.
    look_since: datetime | None = None
    from_email: str = ""  # the clinic settings' From address (email only)


_Outgoing = OutgoingSms | OutgoingEmail
# A call's row, its outcome and the message as handed to the provider (None: none was made).
_Answer = tuple[Row, Receipt | DeliveryError, _Outgoing | None]


@dataclass(frozen=True)
class _Deadline:
    """When a group of calls started (the event loop's clock) and how long each may take."""

    started: float
    seconds: float

    @property
    def at(self) -> float:
        return self.started + self.seconds

    def missed(self) -> TransientDeliveryError:
        """Transient: an SMS retry first looks for a copy Twilio may have taken ("timeout")."""
        return TransientDeliveryError("timeout", f"no answer within {self.seconds:g} s")


# The loop cancels a call at its deadline and answers "timeout". If no answer comes even this
# much later, the loop itself is stuck (a bug, a blocking call): the main thread stops waiting.
_GRACE_S = 2.0
# Errors after which the provider may have taken the message without our hearing back.
_ANSWER_LOST = ("timeout", "connection", "unsettled")
# Every retry of a row falls inside this (attempts x the longest backoff is hours, and a row
# more than late_grace past due is skipped anyway): older matches are other sends of the text.
_LOOKBACK = timedelta(days=1)
# Provider codes and texts are cut to fit their columns.
_ERROR_CODE_LENGTH = Delivery._meta.get_field("error_code").max_length
_ERROR_TEXT_LENGTH = Delivery._meta.get_field("error_text").max_length
_SENT_SUBJECT_LENGTH = Delivery._meta.get_field("sent_subject").max_length


def send_deliveries(
    ids: Sequence[int],
    *,
    now: datetime,
    sms: SmsChannel,
    email: EmailChannel,
    concurrency: int,
    rand: Callable[[], float] = random.random,
) -> BatchReport:
    """Send every delivery in ``ids`` that is still ``queued``; anything else is left alone."""
    report = BatchReport()
    pending = list(ids)
    # Each call puts its answer here; the main thread records whatever has arrived, in one
    # statement.
    answers: SimpleQueue[_Answer] = SimpleQueue()
    loop = io_loop.get()
    waiting: dict[int, tuple[Row, _Deadline]] = {}  # calls on the loop, by delivery id
    refill_at = max(1, concurrency // 2)
    while pending or waiting:
        free = concurrency - len(waiting)
        if pending and (free >= refill_at or not waiting):
            take, pending = pending[:free], pending[free:]
            try:
                started = _still_allowed(_start(take, now, report), report)
            except (OperationalError, InterfaceError):
                # The claim rolled back: these rows are still 'queued' and the lease brings them
                # back. Take nothing more, but record the calls already in flight.
                log.warning("claim.db_error abandoned=%d", len(take) + len(pending))
                connection.close()
                pending, started = [], []
            if started:
                deadline = _Deadline(loop.time(), settings.DRIP_SEND_CALL_DEADLINE_S)
                waiting.update((go.row.id, (go.row, deadline)) for go in started)
                loop.call_soon_threadsafe(
                    _launch,
                    [(sms if go.row.channel == "sms" else email, go) for go in started],
                    answers,
                    deadline,
                )
            continue
        _record(_collect(answers, waiting, loop.time), now, rand, report)
    _apply_opt_outs(report, now)
    log.info(
        "batch.done ids=%d sent=%d retried=%d failed=%d skipped=%d deferred=%d not_claimed=%d",
        len(ids),
        report.sent,
        report.retried,
        report.failed,
        report.skipped,
        report.deferred,
        report.not_claimed,
    )
    return report


def _collect(
    answers: SimpleQueue[_Answer],
    waiting: dict[int, tuple[Row, _Deadline]],
    clock: Callable[[], float],
) -> list[_Answer]:
    """Every answer that has arrived (after waiting for one), or, when none comes by the first
    deadline plus the grace, a timeout for each call past its deadline. Never waits forever."""
    first = min(deadline.at for _, deadline in waiting.values())
    try:
        arrived = [answers.get(timeout=max(0.0, first + _GRACE_S - clock()))]
    except Empty:
        late = [i for i, (_, deadline) in waiting.items() if deadline.at <= first]
        log.error("delivery.no_answer_from_loop rows=%d", len(late))
        return [(row, deadline.missed(), None) for row, deadline in map(waiting.pop, late)]
    while True:
        try:
            arrived.append(answers.get_nowait())
        except Empty:
            break
    # An answer to a call already recorded as timed out is dropped (the row is being retried).
    return [answer for answer in arrived if waiting.pop(answer[0].id, None)]


# --- claim, check, render --------------------------------------------------------------------


def _start(ids: list[int], now: datetime, report: BatchReport) -> list[_Go]:
    """Claim, load, check and render in one transaction: if the database fails half-way, the
    claim rolls back and the rows stay 'queued' (the lease brings them back), never stranded
    in 'sending' without having been sent."""
    with transaction.atomic():
        return _claim_and_prepare(ids, now, report)


def _claim_and_prepare(ids: list[int], now: datetime, report: BatchReport) -> list[_Go]:
    rows = delivery_rows.claim(ids)
    report.not_claimed += len(ids) - len(rows)
    if not rows:
        return []
    infusions = delivery_rows.infusions_of({r.enrollment_id for r in rows})
    caps = _Caps(rows, now)
    from_email = str(clinic.current()["from_email"])  # cached for the task: read once a group
    ready: list[_Go] = []
    held: list[Row] = []  # skipped, or deferred to the send window: written back in one statement
    for row in rows:
        row.infusions_seen = infusions[row.enrollment_id]
        verdict = _check(row, infusions[row.enrollment_id], now)
        if verdict is None and not caps.take(row):
            verdict = SkipReason.CAP
        if isinstance(verdict, SkipReason):
            row.status, row.skip_reason = S.SKIPPED, verdict.value
            report.skipped += 1
        elif isinstance(verdict, datetime):
            row.status, row.due_at, row.attempts = S.SCHEDULED, verdict, row.attempts - 1
            report.deferred += 1
        else:
            ready.append(_prepare(row, infusions[row.enrollment_id], now, from_email))
            continue
        held.append(row)
    delivery_rows.finish(held)
    return ready


def _still_allowed(started: list[_Go], report: BatchReport) -> list[_Go]:
    """Re-check opt-outs after the claim committed, just before the calls: a STOP that landed
    while the claim held these rows (its replan could not touch them) is honoured here. What
    slips past this (a STOP in the last milliseconds) Twilio refuses with 21610, recorded."""
    if not started:
        return started
    out = delivery_rows.opted_out({go.row.patient.id for go in started})
    stopped: list[_Go] = []
    allowed: list[_Go] = []
    for go in started:
        (stopped if go.row.channel in out.get(go.row.patient.id, ()) else allowed).append(go)
    for go in stopped:
        go.row.status, go.row.skip_reason = S.SKIPPED, SkipReason.OPTED_OUT.value
    if stopped:
        delivery_rows.finish([go.row for go in stopped])
        report.skipped += len(stopped)
        log.info("claim.opted_out_since_claim rows=%d", len(stopped))
    return allowed


def _check(
    row: Row, infusions: dict[int, InfusionState], now: datetime
) -> SkipReason | datetime | None:
    """Why not to send now: a skip reason, a later time (outside the window), or None (send).
    The rule is the planner's (drip.core.may_send), asked with what is true at this moment."""
    patient, channel = row.patient, row.channel
    schedule = clinic.bounded(catalog.schedule_of(catalog.version_by_id(row.schedule_version_id)))
    step = schedule.steps_by_key.get(row.step_key)
    reason = skip_reason(
        enrollment_status=row.enrollment_status,
        anchor=infusions.get(row.anchor_infusion) if row.anchor_infusion else None,
        requires_done=step.requires_done if step is not None else None,
        infusions=infusions,
        at=now,
        consented=patient.has_consent(channel) and bool(patient.contact(channel)),
        opted_out=patient.opted_out_at(channel) is not None,
    )
    return send_verdict(
        reason,
        due_at=row.due_at,
        now=now,
        late_grace=schedule.late_grace,
        time_zone=patient.time_zone,
        window=schedule.send_window,
    )


class _Caps:
    """The schedule's caps re-checked just before sending: what each patient of the group was
    sent in the last week, plus what this group is about to send (one query per group)."""

    def __init__(self, rows: list[Row], now: datetime) -> None:
        self.now, self.rows = now, rows
        self.by_patient: dict[int, Occupancy] = {}
        self.sent: dict[int, list[tuple[str, datetime]]] | None = None

    def take(self, row: Row) -> bool:
        """Whether ``row`` may go now within the caps; if so, it counts from now on."""
        occupancy = self._occupancy(row)
        channel = Channel(row.channel)
        if not occupancy.fits(channel, self.now):
            return False
        occupancy.add(channel, self.now)
        return True

    def _occupancy(self, row: Row) -> Occupancy:
        patient = row.patient
        if self.sent is None:  # loaded once, for every patient of the group
            since = self.now - timedelta(days=7)
            self.sent = delivery_rows.sends_since({r.patient.id for r in self.rows}, since)
        if patient.id not in self.by_patient:
            schedule = clinic.bounded(
                catalog.schedule_of(catalog.version_by_id(row.schedule_version_id))
            )
            occupancy = Occupancy(zone_of(patient.time_zone), schedule.caps)
            for channel, sent_at in self.sent[patient.id]:
                occupancy.add(Channel(channel), sent_at)
            self.by_patient[patient.id] = occupancy
        return self.by_patient[patient.id]


def _prepare(row: Row, infusions: dict[int, InfusionState], now: datetime, from_email: str) -> _Go:
    # The row is both the delivery and its series (drip.delivery.context's protocols).
    context = context_for(row.patient, series=row, infusions=infusions, message=row)
    lost = row.channel == "sms" and row.error_code in _ANSWER_LOST
    return _Go(
        row,
        catalog.version_by_id(row.schedule_version_id),
        context,
        row.patient.contact(row.channel),
        look_since=now - _LOOKBACK if lost else None,
        from_email=from_email,
    )


def _render(go: _Go) -> OutgoingSms | OutgoingEmail:
    """No database, no clock (runs on the event loop; the version's templates are cached)."""
    template = catalog.template_of(go.version, go.row.message_key)  # KeyError: not in the version
    if go.row.channel == "sms":
        return OutgoingSms(go.row.id, go.to, render_sms(template, go.context).text)
    mail = render_email(template, go.context)
    return OutgoingEmail(
        go.row.id,
        go.to,
        mail.subject,
        mail.text,
        mail.html,
        str(go.context["unsubscribe_url"]),
        from_email=go.from_email,
    )


# --- provider calls (on the event loop) ------------------------------------------------------

_RUNNING: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def _launch(
    calls: list[tuple[SmsChannel | EmailChannel, _Go]],
    answers: SimpleQueue[_Answer],
    deadline: _Deadline,
) -> None:
    """On the loop's thread: start one task per call."""
    for channel, go in calls:
        task = asyncio.get_running_loop().create_task(_call(channel, go, answers, deadline))
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)


async def _call(
    channel: SmsChannel | EmailChannel,
    go: _Go,
    answers: SimpleQueue[_Answer],
    deadline: _Deadline,
) -> None:
    outcome: Receipt | DeliveryError
    outgoing: _Outgoing | None = None
    try:
        async with asyncio.timeout_at(deadline.at):
            outcome, outgoing = await _answer(channel, go, deadline)
    except TimeoutError:
        log.warning("delivery.deadline delivery_id=%s", go.row.id)
        outcome = deadline.missed()
    answers.put((go.row, outcome, outgoing))


async def _answer(
    channel: SmsChannel | EmailChannel, go: _Go, deadline: _Deadline
) -> tuple[Receipt | DeliveryError, _Outgoing | None]:
    """The provider's answer and the message it was given (None: rendering failed)."""
    try:
        outgoing = _render(go)
    except Exception as error:
        # Templates validate before publishing, so this is a bug, a hand-edited row or a
        # template only some values break: fail the row with the reason instead of retrying it
        # forever (or never answering). Nothing was sent. The reason goes to the row, for staff,
        # and not to the log: an error message may quote a value.
        log.error("delivery.render_failed delivery_id=%s error=%s", go.row.id, type(error).__name__)
        return PermanentDeliveryError("render", f"{type(error).__name__}: {error}"), None
    return await _hand_over(channel, go, outgoing, deadline), outgoing


async def _hand_over(
    channel: SmsChannel | EmailChannel, go: _Go, outgoing: _Outgoing, deadline: _Deadline
) -> Receipt | DeliveryError:
    """``outgoing`` to the provider (or found there, after a lost answer): its answer."""
    if asyncio.get_running_loop().time() >= deadline.at:
        return deadline.missed()  # rendering blocked the loop past the deadline: do not send now
    try:
        if go.look_since is not None:
            taken = await channel.find_accepted(outgoing, since=go.look_since)  # type: ignore[union-attr, arg-type]
            if taken is not None:
                log.info("delivery.found_accepted delivery_id=%s", go.row.id)
                return taken  # recorded as sent; nothing sent again
        return await channel.deliver(outgoing)  # type: ignore[arg-type]
    except DeliveryError as error:
        return error
    except Exception as error:  # a bug, not a provider answer: fail the row, never resend blindly
        log.exception("delivery.internal_error delivery_id=%s", go.row.id)
        return PermanentDeliveryError("internal", type(error).__name__)


# --- record outcomes ---------------------------------------------------------------------------


def _record(
    results: list[_Answer], now: datetime, rand: Callable[[], float], report: BatchReport
) -> None:
    for row, outcome, outgoing in results:
        if isinstance(outcome, Receipt):
            row.status, row.provider_id, row.sent_at = S.SENT, outcome.provider_id, now
            row.error_code = row.error_text = ""
            row.sent_subject, row.sent_text = _copy_of(outgoing)
            report.sent += 1
            continue
        row.error_code = outcome.code[:_ERROR_CODE_LENGTH]
        row.error_text = outcome.detail[:_ERROR_TEXT_LENGTH]
        if (
            isinstance(outcome, TransientDeliveryError)
            and row.attempts < settings.DRIP_MAX_ATTEMPTS
        ):
            row.status = S.SCHEDULED
            row.due_at = now + compute_backoff(
                row.attempts,
                base_s=settings.DRIP_RETRY_BASE_S,
                max_s=settings.DRIP_RETRY_MAX_S,
                jitter=rand(),
            )
            report.retried += 1
        else:
            row.status = S.FAILED
            report.failed += 1
            log.warning("delivery.failed delivery_id=%s code=%s", row.id, row.error_code)
        if isinstance(outcome, RecipientOptedOutError):
            report.opted_out_patients.add(row.patient.id)
    _save_outcomes([row for row, _, _ in results], rand)
    _replan_changed([row for row, _, _ in results if row.status == S.SCHEDULED], now)


def _copy_of(outgoing: _Outgoing | None) -> tuple[str, str]:
    """The (subject, text) a row keeps of the message its provider accepted: the SMS body, or
    the email's subject and plain-text part, as they were handed over (the same strings)."""
    if isinstance(outgoing, OutgoingEmail):
        return outgoing.subject[:_SENT_SUBJECT_LENGTH], outgoing.text
    return ("", outgoing.body) if outgoing is not None else ("", "")


def _replan_changed(retried: list[Row], now: datetime) -> None:
    """A move (or mark) while a row was 'sending' left that row alone; if it comes back unsent,
    plan it again now, or its retry would go out on the old plan's time. Runs after the
    outcomes are committed, so any change that missed the row is visible here."""
    if not retried:
        return
    current = delivery_rows.infusions_of({r.enrollment_id for r in retried})
    changed = {r.enrollment_id for r in retried if r.infusions_seen != current[r.enrollment_id]}
    if changed:
        from drip.enrollment.service import replan_series

        replan_series(changed, now=now)


# A database that dropped the connection (restart, failover, killed backend) gets about 0.3,
# 0.6, 1.2, 2.4 s to come back; the jitter spreads the workers that lost it at the same moment.
_SAVE_RETRY_BASE_S = 0.4
_SAVE_RETRY_MAX_S = 3.2


def _save_outcomes(
    rows: list[Row],
    rand: Callable[[], float],
    *,
    attempts: int = 5,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Provider answers are precious: if the database drops the connection, reconnect and
    record them again (the statement is a compare-and-set, so repeating it is harmless)."""
    for attempt in range(1, attempts + 1):
        try:
            delivery_rows.finish(rows)
            return
        except (OperationalError, InterfaceError):
            if attempt == attempts:
                raise
            log.warning("record.retry attempt=%d rows=%d", attempt, len(rows))
            connection.close()
            wait = compute_backoff(
                attempt, base_s=_SAVE_RETRY_BASE_S, max_s=_SAVE_RETRY_MAX_S, jitter=rand()
            )
            sleep(wait.total_seconds())


def _apply_opt_outs(report: BatchReport, now: datetime) -> None:
    from drip.enrollment.service import record_opt_out
    from drip.models import Patient

    for patient in Patient.objects.filter(pk__in=report.opted_out_patients):
        record_opt_out(patient, "sms", now=now, method="provider", actor="twilio")
