"""Preview a series: plan + render for a sample patient, as rows a person can read.

No I/O here: the ``drip preview`` command loads files and prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from drip.core.planner import PatientPrefs, PlannedDelivery, Series, plan
from drip.core.rendering import MessageTemplate, build_context, render_email, render_sms
from drip.core.schedule import Channel, Schedule


@dataclass(frozen=True)
class PreviewRow:
    planned: PlannedDelivery
    local: datetime
    subject_or_text: str  # email subject, or the SMS as sent
    body: str  # email plain text, or the SMS again
    sms_segments: int | None
    sms_encoding: str | None


def preview(
    schedule: Schedule,
    messages: Mapping[str, MessageTemplate],
    series: Series,
    patient: PatientPrefs,
    *,
    first_name: str,
    clinic: Mapping[str, str],
    now: datetime,
) -> list[PreviewRow]:
    """Every planned delivery of the series, rendered as the patient would read it."""
    zone = ZoneInfo(patient.time_zone)
    starts = {slot.number: slot.starts_at.astimezone(zone) for slot in series.infusions}
    rows = []
    for planned in plan(schedule, series, patient, now):
        number = planned.anchor_infusion or 1
        context = build_context(
            first_name=first_name,
            clinic=clinic,
            series_size=series.size or schedule.infusions,
            infusion_number=number,
            infusion_local_start=starts.get(number),
            unsubscribe_url="https://clinic.example/u/sample"
            if planned.channel is Channel.EMAIL
            else "",
        )
        rows.append(_render_row(planned, messages[planned.message], context, zone))
    return rows


def _render_row(
    planned: PlannedDelivery, template: MessageTemplate, context: dict[str, object], zone: ZoneInfo
) -> PreviewRow:
    local = planned.due_at.astimezone(zone)
    if planned.channel is Channel.SMS:
        sms = render_sms(template, context)
        return PreviewRow(planned, local, sms.text, sms.text, sms.segments, sms.encoding)
    email = render_email(template, context)
    return PreviewRow(planned, local, email.subject, email.text, None, None)


def format_table(rows: list[PreviewRow]) -> str:
    """The timeline as a fixed-width table: local time, UTC, step, channel, message, SMS segments."""
    header = ("local time", "UTC", "step", "channel", "message", "segments", "status")
    lines = [header]
    for row in rows:
        p = row.planned
        lines.append(
            (
                row.local.strftime("%a %Y-%m-%d %H:%M %Z"),
                p.due_at.strftime("%Y-%m-%d %H:%M"),
                p.step_key,
                p.channel.value,
                p.message,
                "" if row.sms_segments is None else f"{row.sms_segments} ({row.sms_encoding})",
                f"skipped: {p.skip_reason.value}" if p.skip_reason else "planned",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def to_json(rows: list[PreviewRow], *, rendered: bool) -> list[dict[str, object]]:
    """The plan as plain objects (``drip preview --json``): when, what, planned or why not; with
    ``rendered``, the subject, the plain text as sent, and the SMS segments and encoding."""
    return [_row_json(row, rendered) for row in rows]


def _row_json(row: PreviewRow, rendered: bool) -> dict[str, object]:
    p = row.planned
    found: dict[str, object] = {
        "step": p.step_key,
        "channel": p.channel.value,
        "message": p.message,
        "due_local": row.local.isoformat(),
        "status": "skipped" if p.skip_reason else "planned",
        "reason": p.skip_reason.value if p.skip_reason else None,
    }
    if rendered:
        email = p.channel is Channel.EMAIL
        found["subject"] = row.subject_or_text if email else None
        found["text"] = row.body
        found["segments"], found["encoding"] = row.sms_segments, row.sms_encoding
    return found


def format_rendered(rows: list[PreviewRow]) -> str:
    """The texts as the patient would read them, one block per delivery."""
    blocks = []
    for row in rows:
        p = row.planned
        head = f"=== {row.local:%a %Y-%m-%d %H:%M %Z}  {p.step_key}  {p.channel.value}"
        if p.channel is Channel.SMS:
            blocks.append(f"{head}  ({row.sms_segments} segment, {row.sms_encoding})\n{row.body}")
        else:
            blocks.append(f"{head}\nSubject: {row.subject_or_text}\n\n{row.body}")
    return "\n\n".join(blocks)
