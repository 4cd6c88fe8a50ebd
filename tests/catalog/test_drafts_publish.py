"""Drafts, publishing with who moves, the impact before it, rollback and export, on the real
database, with the shipped six-infusion schedule and messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from drip.catalog import drafts, impact, publish
from drip.catalog import files as library
from drip.catalog import versions as catalog
from drip.enrollment import service
from drip.errors import ScheduleError
from drip.models import AuditEvent, Delivery, Enrollment, ScheduleDraft, ScheduleVersion
from tests.support.factories import enroll_patient, next_monday_10am

pytestmark = pytest.mark.django_db
NAME = "ketamine-six-infusion"
S = Delivery.Status


@pytest.fixture
def shipped() -> ScheduleVersion:
    return catalog.publish_from_disk(actor="test")[0]


@pytest.fixture
def series(shipped: ScheduleVersion, now: datetime) -> Enrollment:
    """Alex, six infusions Mon/Wed/Fri from the Monday after ``now``; the welcome went out."""
    enrollment = enroll_patient(now, publish=False)
    enrollment.deliveries.filter(step_key="welcome").update(status=S.SENT, sent_at=now)
    return enrollment


def step_index(draft: ScheduleDraft, key: str) -> int:
    return [s["key"] for s in draft.spec["steps"]].index(key)


def edit_step(draft: ScheduleDraft, key: str, now: datetime, **fields: str) -> ScheduleDraft:
    index = step_index(draft, key)
    spec = drafts.with_step(draft.spec, index, {**draft.spec["steps"][index], **fields})
    return drafts.save(draft, revision=draft.revision, actor="ada", now=now, spec=spec)


def shipped_spec() -> drafts.Spec:
    return drafts.spec_from_yaml(ScheduleVersion.objects.get(version=1).spec_text)


def rows(enrollment: Enrollment) -> dict[tuple[str, str], Delivery]:
    return {(d.step_key, d.channel): d for d in enrollment.deliveries.all()}


def test_a_draft_starts_from_the_published_version_and_passes_validate(
    shipped: ScheduleVersion, now: datetime
) -> None:
    draft = drafts.start(NAME, actor="ada", now=now)
    assert draft.base_version == shipped
    assert [s["key"] for s in draft.spec["steps"]][:2] == ["welcome", "what-to-expect"]
    assert draft.spec["steps"][1]["at"] == "18:00"  # text, not YAML 1.1's sexagesimal 1080
    assert drafts.check(draft.spec, draft.messages) == []
    assert drafts.start(NAME, actor="bo", now=now) == draft  # one draft per schedule


def test_each_problem_is_placed_at_its_step_and_field(
    shipped: ScheduleVersion, now: datetime
) -> None:
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "reminder-2", now, offset="-1x")
    problems = drafts.check(draft.spec, draft.messages)
    assert [(p.step, p.field) for p in problems] == [(step_index(draft, "reminder-2"), "offset")]
    assert "malformed offset '-1x'" in problems[0].message
    messages = {**draft.messages, "welcome": {**draft.messages["welcome"]}}
    messages["welcome"]["email_body"] = "Hello\n\n<div>there</div>\n"
    (problem,) = drafts.check(shipped_spec(), messages)
    assert (problem.message_key, problem.field, problem.line) == ("welcome", "email_body", 3)


def test_two_admins_saving_one_draft_get_a_conflict_not_an_overwrite(
    shipped: ScheduleVersion, now: datetime
) -> None:
    draft = drafts.start(NAME, actor="ada", now=now)
    seen_by_bo = ScheduleDraft.objects.get(pk=draft.pk)
    edit_step(draft, "reminder-2", now, at="16:00")
    with pytest.raises(drafts.DraftConflict, match="someone else saved"):
        edit_step(seen_by_bo, "reminder-2", now, at="15:00")
    draft.refresh_from_db()
    assert draft.spec["steps"][step_index(draft, "reminder-2")]["at"] == "16:00"
    assert draft.revision == 2


def test_publish_moves_pending_messages_and_never_touches_sent_ones(
    series: Enrollment, now: datetime
) -> None:
    before = rows(series)
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "what-to-expect", now, offset="-3d")
    messages = {**draft.messages, "welcome": {**draft.messages["welcome"], "sms_text": "Hi"}}
    draft = drafts.save(draft, revision=draft.revision, actor="ada", now=now, messages=messages)
    version, move = publish.publish_draft(
        draft, revision=draft.revision, note="earlier", who_moves=publish.EVERYONE,
        actor="ada", now=now,
    )  # fmt: skip
    assert (version.version, version.note, version.created_by) == (2, "earlier", "ada")
    assert move is not None and move.total == 1
    later = now + timedelta(minutes=5)
    done = publish.move_all(move.pk, now=later, batch_size=1)
    assert (done.status, done.moved, done.retimed) == ("done", 1, 1)
    series.refresh_from_db()
    assert series.schedule_version == version and series.version_moved_at == later
    after = rows(series)
    assert after.keys() == before.keys()  # nothing added, nothing sent twice
    moved = after[("what-to-expect", "email")].due_at - before[("what-to-expect", "email")].due_at
    assert moved == timedelta(days=-1)
    for key in (("welcome", "sms"), ("welcome", "email")):  # sent: as they were
        assert (after[key].status, after[key].sent_at, after[key].updated_at) == (
            S.SENT, now, before[key].updated_at,
        )  # fmt: skip
    assert AuditEvent.objects.filter(enrollment=series, event="schedule_moved").count() == 1
    assert not ScheduleDraft.objects.exists()
    assert publish.move_batch(move.pk, now=later) is True  # a second run moves nothing
    assert AuditEvent.objects.filter(enrollment=series, event="schedule_moved").count() == 1


def test_the_impact_says_beforehand_what_moving_then_does(
    series: Enrollment, now: datetime
) -> None:
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "what-to-expect", now, offset="-3d")
    draft = drafts.save(
        draft, revision=draft.revision, actor="ada", now=now,
        spec=drafts.without_step(draft.spec, step_index(draft, "look-at-your-life")),
    )  # fmt: skip
    index = step_index(draft, "therapy-alongside")
    messages = {**draft.messages}
    messages["therapy-alongside"] = {**messages["therapy-alongside"], "email_subject": "New"}
    draft = drafts.save(draft, revision=draft.revision, actor="ada", now=now, messages=messages)
    schedule = catalog.parse_schedule(drafts.spec_to_yaml(draft.spec)[0], source="draft")
    found = impact.impact(NAME, schedule, draft.messages, now=now)
    assert (found.series, found.affected, found.moved, found.removed, found.reworded) == (
        1, 1, 1, 1, 1,
    )  # fmt: skip
    assert found.earliest_shift == found.latest_shift == timedelta(days=-1)
    (sample,) = found.sample
    assert sample.patient_name == "Alex Rivera"
    version, move = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves=publish.EVERYONE, actor="ada", now=now
    )
    assert index >= 0 and move is not None
    publish.move_all(move.pk, now=now)
    after = rows(series)
    for change in sample.changes:
        row = after[(change.step_key, change.channel)]
        if change.after_at is None:
            assert (row.status, row.skip_reason) == (S.SKIPPED, change.after_reason)
        else:
            assert (row.status, row.due_at) == (S.SCHEDULED, change.after_at)
    assert after[("look-at-your-life", "email")].skip_reason == "step_removed"


def test_a_removed_step_is_skipped_and_a_rollback_brings_it_back(
    series: Enrollment, now: datetime
) -> None:
    draft = drafts.start(NAME, actor="ada", now=now)
    spec = drafts.without_step(draft.spec, step_index(draft, "look-at-your-life"))
    draft = drafts.save(draft, revision=draft.revision, actor="ada", now=now, spec=spec)
    _, move = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves=publish.EVERYONE, actor="ada", now=now
    )
    publish.move_all(move.pk, now=now)  # type: ignore[union-attr]
    row = series.deliveries.get(step_key="look-at-your-life")
    assert (row.status, row.skip_reason) == (S.SKIPPED, "step_removed")
    version, move = publish.roll_back(
        NAME, 1, note="undo", who_moves=publish.EVERYONE, actor="bo", now=now
    )
    assert (version.version, version.copied_from, version.spec_text) == (
        3, 1, ScheduleVersion.objects.get(name=NAME, version=1).spec_text,
    )  # fmt: skip
    publish.move_all(move.pk, now=now)  # type: ignore[union-attr]
    row.refresh_from_db()
    assert (row.status, row.skip_reason) == (S.SCHEDULED, "")
    series.refresh_from_db()
    assert series.schedule_version == version


def test_new_enrollments_only_leaves_everyone_else_where_they_are(
    series: Enrollment, now: datetime
) -> None:
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "reminder-2", now, at="16:00")
    version, move = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves=publish.NEW_ONLY, actor="ada", now=now
    )
    assert move is None
    series.refresh_from_db()
    assert series.schedule_version.version == 1 and series.version_moved_at is None
    newcomer = enroll_patient(now, publish=False, phone="+12125550199", email="b@example.com")
    assert newcomer.schedule_version == version


def test_a_draft_with_problems_or_from_an_old_revision_is_not_published(
    series: Enrollment, now: datetime
) -> None:
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "reminder-2", now, at="23:00")
    with pytest.raises(ScheduleError, match="outside the send window"):
        publish.publish_draft(
            draft, revision=draft.revision, note="", who_moves="everyone", actor="ada", now=now
        )
    draft = edit_step(draft, "reminder-2", now, at="16:00")
    with pytest.raises(drafts.DraftConflict):
        publish.publish_draft(
            draft, revision=draft.revision - 1, note="", who_moves="everyone", actor="a", now=now
        )
    assert ScheduleVersion.objects.count() == 1 and ScheduleDraft.objects.count() == 1


def test_export_writes_files_validate_accepts_and_publish_reads_back_as_the_same_version(
    series: Enrollment, now: datetime, tmp_path: Path
) -> None:
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "reminder-2", now, at="16:00")
    messages = {**draft.messages, "welcome": {**draft.messages["welcome"], "sms_text": "Hi é"}}
    messages["welcome"]["sms_text"] = draft.messages["welcome"]["sms_text"].replace("Hi", "Hello")
    draft = drafts.save(draft, revision=draft.revision, actor="ada", now=now, messages=messages)
    version, _ = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves="new", actor="ada", now=now
    )
    call_command("schedules", "export", NAME, str(tmp_path))
    assert library.validate_library(tmp_path / "schedules", tmp_path / "messages") == []
    assert catalog.publish_from_disk(tmp_path / "schedules", tmp_path / "messages") == []
    # The shipped version exported: the same texts as the shipped files.
    publish.export(ScheduleVersion.objects.get(version=1), tmp_path / "v1")
    again = library.load_messages(tmp_path / "v1" / "messages")
    shipped = library.load_messages(settings.DRIP_MESSAGES_DIR)
    for key, template in again.items():
        assert catalog.message_json(template) | {"email_body_first_line": 0} == (
            catalog.message_json(shipped[key]) | {"email_body_first_line": 0}
        )


# --- moving many series at once ---------------------------------------------------------------


def cohort(now: datetime) -> list[Enrollment]:
    """Seven series in the states a move meets: sent rows, another zone and Tue/Thu, paused, an
    SMS opt-out, a row waiting to retry, a returning patient whose first series sent messages,
    and a moved infusion that was done."""
    monday = next_monday_10am(now)
    alex = enroll_patient(now, publish=False)
    alex.deliveries.filter(step_key="welcome").update(status=S.SENT, sent_at=now)
    tuesday = monday + timedelta(days=1)
    lee = enroll_patient(
        now, [tuesday + timedelta(days=d) for d in (0, 2, 7, 9, 14, 16)], publish=False,
        phone="+13125550101", email="lee@example.com", time_zone="America/Los_Angeles",
    )  # fmt: skip
    sam = enroll_patient(now, publish=False, phone="+13125550102", email="sam@example.com")
    service.pause(sam, now=now, actor="test")
    kim = enroll_patient(now, publish=False, phone="+13125550103", email="kim@example.com")
    service.record_opt_out(kim.patient, "sms", method="sms_keyword", now=now, actor="test")
    ray = enroll_patient(now, publish=False, phone="+13125550104", email="ray@example.com")
    waiting = ray.deliveries.get(step_key="what-to-expect", channel="email")
    Delivery.objects.filter(pk=waiting.pk).update(
        attempts=1, due_at=waiting.due_at + timedelta(hours=30)
    )
    # Bo's first series ended yesterday; what it sent this week counts against the caps.
    back = enroll_patient(
        now - timedelta(days=14), [monday - timedelta(days=20 - d) for d in (0, 2, 4, 7, 9, 11)],
        publish=False, phone="+13125550105", email="bo@example.com",
    )  # fmt: skip
    back.deliveries.filter(due_at__lte=now).update(status=S.SENT, sent_at=F("due_at"))
    service.end(back, now=now, actor="test")
    again = enroll_patient(now, publish=False, phone="+13125550105", email="bo@example.com")
    pat = enroll_patient(now, publish=False, phone="+13125550106", email="pat@example.com")
    service.move_infusion(pat, 2, monday + timedelta(days=3), now=now, actor="test")
    return [alex, lee, sam, kim, ray, again, pat]


def edited_draft(now: datetime) -> ScheduleDraft:
    """what-to-expect a day earlier, look-at-your-life removed, therapy-alongside reworded."""
    draft = edit_step(drafts.start(NAME, actor="ada", now=now), "what-to-expect", now, offset="-3d")
    spec = drafts.without_step(draft.spec, step_index(draft, "look-at-your-life"))
    messages = {**draft.messages}
    messages["therapy-alongside"] = {**messages["therapy-alongside"], "email_subject": "New"}
    return drafts.save(
        draft, revision=draft.revision, actor="ada", now=now, spec=spec, messages=messages
    )


def snapshot() -> dict[tuple[str, str, str], tuple[object, ...]]:
    """Every row of every series by (patient email, step, channel): what a patient would get."""
    return {
        (d.enrollment.patient.email + f"#{d.enrollment_id}", d.step_key, d.channel): (
            d.status,
            d.due_at,
            d.skip_reason,
            d.message_key,
            d.anchor_infusion,
            d.attempts,
        )  # fmt: skip
        for d in Delivery.objects.select_related("enrollment__patient")
    }


def test_moving_many_series_in_one_batch_leaves_each_as_moving_it_alone_would(
    shipped: ScheduleVersion, now: datetime
) -> None:
    everyone = cohort(now)
    before = snapshot()
    draft = edited_draft(now)
    _, move = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves=publish.EVERYONE, actor="ada", now=now
    )
    assert move is not None and move.total == len(everyone)  # the ended series stays put
    later = now + timedelta(minutes=5)
    alone_point = transaction.savepoint()
    alone = publish.move_all(move.pk, now=later, batch_size=1)
    each_alone = snapshot()
    alone_audit = sorted(
        (e.enrollment_id, str(e.detail)) for e in AuditEvent.objects.filter(event="schedule_moved")
    )
    transaction.savepoint_rollback(alone_point)
    assert snapshot() == before
    together = publish.move_all(move.pk, now=later, batch_size=100)
    assert snapshot() == each_alone
    assert (together.moved, together.retimed, together.created, together.skipped) == (
        alone.moved, alone.retimed, alone.created, alone.skipped,
    )  # fmt: skip
    assert together.moved == len(everyone) and together.skipped >= len(everyone)
    assert alone_audit == sorted(
        (e.enrollment_id, str(e.detail)) for e in AuditEvent.objects.filter(event="schedule_moved")
    )
    # And what that is: the removed step skipped, sent rows as they were, the retry kept waiting.
    changed = {k for k in before if before[k] != each_alone[k]}
    assert any(k[1] == "what-to-expect" for k in changed)
    assert all(each_alone[k][2] == "step_removed" for k in before if k[1] == "look-at-your-life"
               and before[k][0] == S.SCHEDULED)  # fmt: skip
    for key, row in before.items():
        if row[0] == S.SENT:
            assert each_alone[key] == row
    ray = next(
        k for k in before if k[0].startswith("ray@") and k[1:] == ("what-to-expect", "email")
    )
    assert each_alone[ray][1] == before[ray][1]  # planned a day earlier, but it waits to retry


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="SQLite writes each re-planned row by itself (the embedded default is small)",
)
def test_a_batch_takes_the_same_queries_for_three_series_as_for_six(
    shipped: ScheduleVersion, now: datetime
) -> None:
    for i in range(9):
        enroll_patient(now, publish=False, phone=f"+1312555020{i}", email=f"p{i}@example.com")
    draft = edited_draft(now)
    _, move = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves=publish.EVERYONE, actor="ada", now=now
    )
    assert move is not None
    with CaptureQueriesContext(connection) as three:
        publish.move_batch(move.pk, now=now, batch_size=3)
    with CaptureQueriesContext(connection) as six:
        publish.move_batch(move.pk, now=now, batch_size=6)
    assert Enrollment.objects.filter(schedule_version__version=2).count() == 9
    assert len(three) == len(six)
