"""The schedule editor (admins change, staff may look): schedules, a draft's steps and messages
with live previews, publish with the diff and impact first, moving progress, history and rollback.

Every change to a draft carries the revision it was made on; a change from an older revision is
refused and the page says so (drip.catalog.drafts.DraftConflict).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from drip.catalog import clinic, drafts, impact, publish
from drip.core.rendering import TEMPLATE_VARIABLES, render_email, render_sms
from drip.core.schedule import STEP_FIELDS, parse_schedule
from drip.core.segments import count_segments, encoding_of
from drip.delivery.context import Preview, context_for, next_infusion
from drip.delivery.test_send import sample_context
from drip.errors import DripError, ScheduleError
from drip.models import Enrollment, Patient, ScheduleDraft, ScheduleVersion, VersionMove
from drip.staff import sample_series, test_send, words
from drip.staff.access import admin_required, is_admin, staff_required
from drip.staff.views import _search as search_patients


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _latest(name: str) -> ScheduleVersion:
    version = ScheduleVersion.objects.filter(name=name).order_by("-version").first()
    if version is None:
        raise Http404("no such schedule")
    return version


def _draft(name: str) -> ScheduleDraft:
    return get_object_or_404(ScheduleDraft, name=name)


def _conflict(request: HttpRequest, error: DripError, name: str) -> HttpResponse:
    messages.error(request, f"{error}. The page now shows the draft as it is.")
    return redirect("staff:draft", name=name)


# --- list and schedule page ---------------------------------------------------------------------


@staff_required
def schedules(request: HttpRequest) -> HttpResponse:
    """Each schedule with its published version, patients in a series on it, last change."""
    latest: dict[str, ScheduleVersion] = {}
    for version in ScheduleVersion.objects.order_by("name", "-version"):
        latest.setdefault(version.name, version)
    active = dict(
        Enrollment.objects.filter(status__in=publish.MOVING)
        .values_list("schedule_version__name")
        .annotate(n=Count("pk"))
    )
    rows = [(v, active.get(name, 0)) for name, v in latest.items()]
    return render(
        request, "staff/editor/list.html", {"rows": rows, "admin": is_admin(request.user)}
    )


@staff_required
def schedule(request: HttpRequest, name: str) -> HttpResponse:
    """The published version's steps in words, and the draft if one is open."""
    version = _latest(name)
    spec = drafts.spec_from_yaml(version.spec_text)
    context = {
        "version": version,
        "steps": [step_words(s) for s in spec["steps"]],
        "draft": ScheduleDraft.objects.filter(name=name).first(),
        "admin": is_admin(request.user),
        "patients": _on_schedule(name),
        **_timeline(request, version.spec_text, name),
    }
    return render(request, "staff/editor/schedule.html", context)


def _timeline(request: HttpRequest, spec_text: str, name: str) -> dict[str, Any]:
    """The sample series picture (None while the schedule has problems) for ?days=mwf or tt,
    planned as patients' series are: within the clinic's send window and caps, in its zone."""
    facts = clinic.current()
    zone = str(facts["time_zone"])
    try:
        schedule = clinic.bounded(parse_schedule(spec_text, source=name), facts)
    except ScheduleError:
        return {"picture": None}
    pattern = request.GET.get("days", "mwf")
    return {
        "picture": sample_series.picture(schedule, pattern, zone),
        "patterns": [(k, v[0]) for k, v in sample_series.PATTERNS.items()],
        "zone": zone,
        "email_y": sample_series.EMAIL_Y,
        "sms_y": sample_series.SMS_Y,
    }


def _on_schedule(name: str) -> dict[str, int]:
    return Enrollment.objects.filter(schedule_version__name=name).aggregate(
        active=Count("pk", filter=Q(status__in=publish.MOVING))
    )


def step_words(step: dict[str, Any]) -> dict[str, Any]:
    """ "2 days before infusion 1 at 18:00 · Email · What to expect"."""
    when = f"{_offset_words(str(step.get('offset', '')))} {step.get('anchor', '')}"
    if step.get("at"):
        when += f" at {step['at']}"
    channels = " and ".join("Text" if c == "sms" else "Email" for c in step.get("channels", []))
    return {**step, "when": when, "channel_words": channels, "rules": _rule_words(step)}


def _rule_words(step: dict[str, Any]) -> list[str]:
    """The step's other fields in words: condition, priority, how far it may move, essential."""
    rules = [f"Only if {step['requires']}"] if step.get("requires") else []
    priority = str(step.get("priority", "")).strip().lower()
    if priority and priority != "normal":
        rules.append(f"Priority: {priority}")
    if step.get("latest"):
        rules.append(f"May move up to {_offset_words(str(step['latest']))} {step.get('anchor')}")
    else:
        rules.append("Stays at its own time")
    if str(step.get("essential", "")).strip().lower() == "true":
        rules.append("Essential: caught up when joining late")
    return rules


def _offset_words(offset: str) -> str:
    units = {"m": "minute", "h": "hour", "d": "day", "w": "week"}
    text = offset.strip()
    if text in ("0", "0m", "+0m", "0d") or not text[:-1].lstrip("+-").isdigit():
        return "at" if text.lstrip("+-0mhdw") == "" else text
    amount, unit = int(text[:-1].lstrip("+-")), units.get(text[-1], text[-1])
    side = "before" if text.startswith("-") else "after"
    return f"{amount} {unit}{'s' if amount != 1 else ''} {side}"


# --- the draft: steps ---------------------------------------------------------------------------


@admin_required
@require_POST
def start_draft(request: HttpRequest, name: str) -> HttpResponse:
    _latest(name)
    drafts.start(name, actor=_actor(request), now=timezone.now())
    return redirect("staff:draft", name=name)


@admin_required
def draft(request: HttpRequest, name: str) -> HttpResponse:
    """The draft's steps as a table, each with its problems; remove, move up or down."""
    row = _draft(name)
    if request.method == "POST":
        return _change_steps(request, row)
    problems = drafts.check(row.spec, row.messages)
    steps = [
        {**step_words(s), "index": i, "problems": drafts.step_problems(problems, i)}
        for i, s in enumerate(row.spec["steps"])
    ]
    context = {
        "draft": row,
        "steps": steps,
        "schedule_problems": [p for p in problems if p.step is None and not p.message_key],
        "message_problems": [p for p in problems if p.message_key],
        "message_keys": sorted(row.messages),
        **_timeline(request, drafts.spec_to_yaml(row.spec)[0], row.name),
    }
    return render(request, "staff/editor/draft.html", context)


def _change_steps(request: HttpRequest, row: ScheduleDraft) -> HttpResponse:
    action, index = request.POST.get("action", ""), int(request.POST.get("index", "-1"))
    if action == "discard":
        ScheduleDraft.objects.filter(pk=row.pk, revision=_revision(request)).delete()
        messages.success(request, f"The draft of {row.name} was discarded.")
        return redirect("staff:schedule", name=row.name)
    changes = {
        "remove": lambda: drafts.without_step(row.spec, index),
        "up": lambda: drafts.with_step_moved(row.spec, index, -1),
        "down": lambda: drafts.with_step_moved(row.spec, index, 1),
    }
    if action not in changes or not 0 <= index < len(row.spec["steps"]):
        raise Http404("no such change")
    key = row.spec["steps"][index].get("key")
    try:
        drafts.save(
            row, revision=_revision(request), actor=_actor(request), now=timezone.now(),
            spec=changes[action](),
        )  # fmt: skip
    except drafts.DraftConflict as error:
        return _conflict(request, error, row.name)
    done = {"remove": "removed", "up": "moved up", "down": "moved down"}[action]
    messages.success(request, f"Step {key} {done}.")
    return redirect("staff:draft", name=row.name)


def _revision(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("revision", ""))
    except ValueError:
        return -1


class StepForm(forms.Form):
    key = forms.CharField(label="Step key", help_text="lowercase letters, digits and dashes")
    anchor = forms.CharField(help_text="enrollment, infusion N, or last infusion")
    offset = forms.CharField(help_text="e.g. -2d (2 days before), +1d, 0m, 3h")
    at = forms.CharField(
        label="Time of day", required=False, help_text='patient\'s local time, like "18:00"'
    )
    channels = forms.MultipleChoiceField(
        choices=[("email", "Email"), ("sms", "Text")],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    message = forms.ChoiceField()
    requires = forms.CharField(
        label="Condition", required=False, help_text='e.g. "infusion 3 done"; blank: always'
    )
    latest = forms.CharField(
        label="May move up to",
        required=False,
        help_text="an offset from the same anchor, e.g. +3d; blank: only at its own time",
    )
    priority = forms.ChoiceField(
        choices=[("", "normal"), ("high", "high"), ("low", "low")],
        required=False,
        help_text="high is placed first when the caps leave room for only one",
    )
    essential = forms.BooleanField(required=False, help_text="caught up when joining late")
    revision = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, message_keys: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["message"]).choices = [(k, k) for k in message_keys]

    def step(self) -> dict[str, Any]:
        data = {f: self.cleaned_data.get(f) or "" for f in STEP_FIELDS}
        data["channels"] = list(self.cleaned_data.get("channels") or [])
        data["essential"] = "true" if self.cleaned_data.get("essential") else ""
        return data


def _form_values(step: dict[str, Any]) -> dict[str, Any]:
    """Priority and essential as the form's choices: the parser accepts "High" and "True" too, and
    a form that showed them unselected would save them as normal and not essential."""
    priority = str(step.get("priority", "")).strip().lower()
    return {
        "priority": "" if priority == "normal" else priority,
        "essential": str(step.get("essential", "")).strip().lower() == "true",
    }


@admin_required
def step(request: HttpRequest, name: str, index: int | None = None) -> HttpResponse:
    """Add or change one step; it is checked with the whole draft, errors at their fields."""
    row = _draft(name)
    if index is not None and not 0 <= index < len(row.spec["steps"]):
        raise Http404("no such step")
    current = row.spec["steps"][index] if index is not None else {"channels": ["email"]}
    initial = {**current, **_form_values(current)}
    form = StepForm(
        request.POST if request.method == "POST" else None,
        initial={**initial, "revision": row.revision},
        message_keys=sorted(row.messages),
    )
    if request.method == "POST" and form.is_valid():
        spec = drafts.with_step(row.spec, index, form.step())
        at = len(spec["steps"]) - 1 if index is None else index
        found = drafts.step_problems(drafts.check(spec, row.messages), at)
        for field, errors in found.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        if not found:
            try:
                drafts.save(
                    row, revision=form.cleaned_data["revision"], actor=_actor(request),
                    now=timezone.now(), spec=spec,
                )  # fmt: skip
            except drafts.DraftConflict as error:
                return _conflict(request, error, name)
            messages.success(request, f"Step {form.cleaned_data['key']} saved in the draft.")
            return redirect("staff:draft", name=name)
    context = {"draft": row, "form": form, "index": index}
    return render(request, "staff/editor/step.html", context, status=400 if form.errors else 200)


# --- the draft: schedule settings ---------------------------------------------------------------

CAP_NAMES = ("sms_per_day", "sms_per_7_days", "email_per_day")


class ScheduleSettingsForm(forms.Form):
    """The schedule's own fields, as typed; checked with the whole draft by the parser's rules."""

    title = forms.CharField(max_length=200, help_text="what staff see in lists")
    infusions = forms.CharField(label="Infusions in a series", help_text="1 to 20")
    send_window_start = forms.CharField(
        label="Send messages from", required=False, help_text='patient\'s local time, like "09:00"'
    )
    send_window_end = forms.CharField(
        label="Until", required=False, help_text="within 08:00-21:00, at least two hours"
    )
    late_grace = forms.CharField(
        label="Late grace",
        required=False,
        help_text="a message just past its time still goes within this long, e.g. 2h",
    )
    caps_sms_per_day = forms.CharField(label="Texts a day, at most", required=False)
    caps_sms_per_7_days = forms.CharField(label="Texts in any 7 days, at most", required=False)
    caps_email_per_day = forms.CharField(label="Emails a day, at most", required=False)
    revision = forms.IntegerField(widget=forms.HiddenInput)

    @staticmethod
    def initial_from(spec: dict[str, Any]) -> dict[str, Any]:
        window, caps = spec.get("send_window") or {}, spec.get("caps") or {}
        initial = {f: spec.get(f, "") for f in ("title", "infusions", "late_grace")}
        initial |= {f"send_window_{k}": window.get(k, "") for k in ("start", "end")}
        return initial | {f"caps_{k}": caps.get(k, "") for k in CAP_NAMES}

    def spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with these fields as typed (a blank window or cap: the default)."""
        data = {k: str(v).strip() for k, v in self.cleaned_data.items() if k != "revision"}
        window = {k: data[f"send_window_{k}"] for k in ("start", "end")}
        caps = {k: data[f"caps_{k}"] for k in CAP_NAMES if data[f"caps_{k}"]}
        changed: dict[str, Any] = {f: data[f] for f in ("title", "infusions", "late_grace")}
        changed["send_window"] = window if any(window.values()) else {}
        return {**spec, **changed, "caps": caps}


def settings_field(problem: drafts.DraftProblem) -> str | None:
    """The settings form field a schedule-level problem belongs to (None: not one of them)."""
    if problem.step is not None or problem.message_key:
        return None
    text = problem.message
    if problem.field == "caps" or text.startswith("caps "):
        return next((f"caps_{c}" for c in CAP_NAMES if f"caps {c} " in text), None)
    if problem.field == "send_window" or text.startswith("send_window"):
        return "send_window_end" if text.startswith("send_window end") else "send_window_start"
    return problem.field if problem.field in ("title", "infusions", "late_grace") else None


@admin_required
def schedule_settings(request: HttpRequest, name: str) -> HttpResponse:
    """Title, series size, send window, late grace and caps, checked with the whole draft: a
    change that makes a step wrong (an 'at' outside a narrower window) is refused, naming it."""
    row = _draft(name)
    form = ScheduleSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={**ScheduleSettingsForm.initial_from(row.spec), "revision": row.revision},
    )
    if request.method == "POST" and form.is_valid():
        spec = form.spec(row.spec)
        before = {(p.step, p.field, p.message) for p in drafts.check(row.spec, row.messages)}
        for problem in drafts.check(spec, row.messages):
            field = settings_field(problem)
            if field is not None:  # the parser's words, with the file's field names spelled out
                form.add_error(field, problem.message.replace("_", " "))
            elif (problem.step, problem.field, problem.message) not in before:
                form.add_error(None, _step_problem_words(spec, problem))
        if not form.errors:
            try:
                drafts.save(
                    row, revision=form.cleaned_data["revision"], actor=_actor(request),
                    now=timezone.now(), spec=spec,
                )  # fmt: skip
            except drafts.DraftConflict as error:
                return _conflict(request, error, name)
            messages.success(request, "Schedule settings saved in the draft.")
            return redirect("staff:draft", name=name)
    context = {"draft": row, "form": form}
    status = 400 if form.errors else 200
    return render(request, "staff/editor/schedule_settings.html", context, status=status)


def _step_problem_words(spec: dict[str, Any], problem: drafts.DraftProblem) -> str:
    if problem.step is None:
        return problem.message
    key = spec["steps"][problem.step].get("key", "")
    return f"This would make step {problem.step + 1} ({key}) wrong: {problem.message}"


# --- the draft: messages ------------------------------------------------------------------------


class MessageForm(forms.Form):
    email_subject = forms.CharField(label="Email subject", required=False)
    email_body = forms.CharField(
        label="Email body (Markdown)", required=False, widget=forms.Textarea(attrs={"rows": 16})
    )
    sms_text = forms.CharField(
        label="Text message", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    revision = forms.IntegerField(widget=forms.HiddenInput)


class NewMessageForm(MessageForm):
    key = forms.SlugField(
        label="Message key",
        max_length=60,
        help_text="lowercase letters, digits and dashes, e.g. hydration-tips; steps name it",
    )
    field_order = ["key", "email_subject", "email_body", "sms_text"]

    def __init__(self, *args: Any, taken: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken = taken

    def clean_key(self) -> str:
        key = str(self.cleaned_data["key"])
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", key):
            raise forms.ValidationError("use lowercase letters, digits and dashes only")
        if key in self.taken:
            raise forms.ValidationError(f"the draft already has a message {key}")
        return key


@admin_required
def new_message(request: HttpRequest, name: str) -> HttpResponse:
    """A new message in the draft, checked by the rules `drip schedules validate` runs."""
    row = _draft(name)
    form = NewMessageForm(
        request.POST if request.method == "POST" else None,
        initial={"revision": row.revision},
        taken=set(row.messages),
    )
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["key"]
        data = {p: form.cleaned_data[p] for p in drafts.MESSAGE_PARTS} | {"sources": []}
        for problem in drafts.check(row.spec, {**row.messages, key: data}):
            if problem.message_key == key:
                line = f" (line {problem.line})" if problem.line else ""
                form.add_error(problem.field, f"{problem.message}{line}")
        if not form.errors:
            try:
                drafts.save(
                    row, revision=form.cleaned_data["revision"], actor=_actor(request),
                    now=timezone.now(), messages={**row.messages, key: data},
                )  # fmt: skip
            except drafts.DraftConflict as error:
                return _conflict(request, error, name)
            messages.success(request, f"Message {key} added to the draft. Use it in a step.")
            return redirect("staff:message-edit", name=name, key=key)
    context = {"draft": row, "form": form}
    status = 400 if form.errors else 200
    return render(request, "staff/editor/message_new.html", context, status=status)


@admin_required
def message(request: HttpRequest, name: str, key: str) -> HttpResponse:
    """Edit on the left, the live preview on the right (htmx posts the form as you type)."""
    row = _draft(name)
    if key not in row.messages:
        raise Http404("no such message")
    data = row.messages[key]
    form = MessageForm(
        request.POST if request.method == "POST" else None,
        initial={**data, "revision": row.revision},
    )
    if request.method == "POST" and form.is_valid():
        edited = {**data, **{p: form.cleaned_data[p] for p in drafts.MESSAGE_PARTS}}
        try:
            drafts.save(
                row, revision=form.cleaned_data["revision"], actor=_actor(request),
                now=timezone.now(), messages={**row.messages, key: edited},
            )  # fmt: skip
        except drafts.DraftConflict as error:
            return _conflict(request, error, name)
        messages.success(request, f"Message {key} saved in the draft.")
        return redirect("staff:draft", name=name)
    preview = _preview(
        row, key, {**data, **(cast(QueryDict, form.data).dict() if form.is_bound else {})}, "short"
    )
    context = {"draft": row, "key": key, "form": form, **preview}
    context["variables"] = TEMPLATE_VARIABLES
    context["test_form"] = test_send.initial_form(request.user)
    return render(request, "staff/editor/message.html", context)


@staff_required
@require_POST
def message_preview(request: HttpRequest, name: str, key: str) -> HttpResponse:
    """The preview pane alone, for what is typed now, for a sample patient or a real one picked by
    name (``sample=patient-<id>``). Nothing is saved or sent, so staff may look too."""
    row = _draft(name)
    if key not in row.messages:
        raise Http404("no such message")
    typed = {**row.messages[key], **{p: request.POST.get(p, "") for p in drafts.MESSAGE_PARTS}}
    sample = request.POST.get("sample", "short")
    real = _picked_patient(sample)
    sample = sample if sample in test_send.SAMPLE_NAMES or real else "short"
    context = _preview(row, key, typed, sample, real)
    return render(request, "staff/editor/_preview.html", context)


def _picked_patient(sample: str) -> Patient | None:
    number = sample.removeprefix("patient-")
    if not sample.startswith("patient-") or not number.isdigit():
        return None
    return get_object_or_404(Patient, pk=int(number))


@staff_required
def message_patients(request: HttpRequest, name: str, key: str) -> HttpResponse:
    """Patients found by name, phone or email (the Patients page's search), to preview for."""
    query = request.GET.get("q", "").strip()
    found = (
        list(search_patients(query, "").order_by("last_name", "first_name")[:8]) if query else []
    )
    choices = [(f"patient-{p.pk}", p) for p in found]
    context = {"choices": choices, "q": query, "sample": request.GET.get("sample", "")}
    return render(request, "staff/editor/_patient_choices.html", context)


def _preview(
    row: ScheduleDraft,
    key: str,
    typed: dict[str, Any],
    sample: str,
    real: Patient | None = None,
) -> dict[str, Any]:
    typed = {p: str(typed.get(p, "")) for p in drafts.MESSAGE_PARTS} | {
        "sources": row.messages[key].get("sources", [])
    }
    problems = [
        p
        for p in drafts.check(row.spec, {**row.messages, key: typed})
        if p.message_key == key or p.message_key is None and p.step is None
    ]
    context: dict[str, Any] = {"problems": problems, "sample": sample, "key": key, "draft": row}
    template = drafts.template_of(key, typed)
    values = _sample_values(sample) if real is None else _real_values(real, context)
    try:
        context["email"] = render_email(template, values) if typed["email_body"].strip() else None
        context["sms"] = sms_facts(render_sms(template, values).text) if typed["sms_text"] else None
    except Exception as error:  # a template that cannot render: shown, as validate shows it
        context["render_error"] = f"{type(error).__name__}: {error}"
    return context


def _sample_values(sample: str) -> dict[str, object]:
    """The sample patient a test send goes to (drip.delivery.test_send), short or long name."""
    return sample_context(test_send.SAMPLE_NAMES[sample], clinic.current())


def _real_values(person: Patient, context: dict[str, Any]) -> dict[str, object]:
    """A real patient's details as their messages would show them (drip.delivery.context: their
    latest series' next infusion, the last one once all are past; the sample's unsubscribe
    link, never a working one), and who and which infusion that is, for the page."""
    series = person.enrollments.order_by("-enrolled_at").first()
    infusions = {i.number: i for i in series.infusions.all()} if series else {}
    now = timezone.now()
    infusion = next_infusion(infusions, now)
    context["real_patient"] = {
        "name": f"{person.first_name} {person.last_name}",
        "infusion": f"Infusion {infusion.number}, {words.local_time(infusion.starts_at, person.time_zone)}"
        if infusion
        else "no infusion booked",
    }
    return context_for(person, series=series, infusions=infusions, message=Preview(now))


def sms_facts(text: str) -> dict[str, Any]:
    """What the counter under the SMS box says: characters of one text, texts, encoding, and the
    first character that forced Unicode (UCS-2)."""
    info = count_segments(text)
    limit = 160 if info.encoding == "GSM-7" else 70
    unicode_char = next((c for c in text if encoding_of(c) != "GSM-7"), "")
    level = "ok" if info.segments == 1 and info.units <= limit * 0.9 else "near"
    return {
        "text": text,
        "units": info.units,
        "limit": limit,
        "segments": info.segments,
        "standard": info.encoding == "GSM-7",
        "unicode_char": unicode_char,
        "level": "over" if info.segments > 1 else level,
    }


# --- publish: diff, impact, who moves -----------------------------------------------------------


class PublishForm(forms.Form):
    note = forms.CharField(
        label="Note for the history (what changed and why)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )
    who_moves = forms.ChoiceField(
        label="Who moves to the new version",
        choices=[
            (publish.EVERYONE, "Everyone in a series now, and new enrollments"),
            (publish.NEW_ONLY, "New enrollments only"),
        ],
        initial=publish.EVERYONE,
        widget=forms.RadioSelect,
    )
    revision = forms.IntegerField(widget=forms.HiddenInput, required=False)


def _consequences(name: str, spec_text: str, new_messages: dict[str, Any]) -> dict[str, Any]:
    """The diff against the published version and the impact on every series now."""
    published = _latest(name)
    schedule = parse_schedule(spec_text, source=name)
    old_yaml = drafts.spec_to_yaml(drafts.spec_from_yaml(published.spec_text))[0]
    new_yaml = drafts.spec_to_yaml(drafts.spec_from_yaml(spec_text))[0]
    texts = []
    for key in sorted(set(published.messages) | set(new_messages)):
        before, after = published.messages.get(key, {}), new_messages.get(key, {})
        if any(before.get(p) != after.get(p) for p in drafts.MESSAGE_PARTS):
            texts.append((key, _diff(_message_text(before), _message_text(after), published)))
    return {
        "published": published,
        "steps_diff": _diff(old_yaml, new_yaml, published) if old_yaml != new_yaml else "",
        "texts_diff": texts,
        "impact": impact.impact(name, schedule, new_messages, now=timezone.now()),
    }


def _message_text(data: dict[str, Any]) -> str:
    if not data:
        return ""
    return publish.email_md(data) + "\n--- text message ---\n" + str(data.get("sms_text", ""))


def _diff(before: str, after: str, published: ScheduleVersion) -> str:
    return difflib.HtmlDiff(wrapcolumn=56).make_table(
        before.splitlines(), after.splitlines(), f"Published v{published.version}", "New",
        context=True, numlines=2,
    )  # fmt: skip


@admin_required
def publish_page(request: HttpRequest, name: str) -> HttpResponse:
    """The diff and impact, a note, who moves, then Publish version N."""
    row = _draft(name)
    form = PublishForm(request.POST or None, initial={"revision": row.revision})
    problems = drafts.check(row.spec, row.messages)
    if request.method == "POST" and form.is_valid() and not problems:
        try:
            with transaction.atomic():
                version, move = publish.publish_draft(
                    row, revision=form.cleaned_data["revision"], note=form.cleaned_data["note"],
                    who_moves=form.cleaned_data["who_moves"], actor=_actor(request),
                    now=timezone.now(),
                )  # fmt: skip
                _start_moving(move)
        except (drafts.DraftConflict, publish.NothingToPublish) as error:
            return _conflict(request, error, name)
        except ScheduleError:
            problems = drafts.check(row.spec, row.messages)
        else:
            return _published(request, version, move)
    context: dict[str, Any] = {"draft": row, "form": form, "problems": problems, "name": name}
    if not problems:
        spec_text = drafts.spec_to_yaml(row.spec)[0]
        used = {s.get("message") for s in row.spec["steps"]}
        context.update(
            _consequences(name, spec_text, {k: v for k, v in row.messages.items() if k in used})
        )
        context["next_version"] = cast(ScheduleVersion, context["published"]).version + 1
    return render(request, "staff/editor/publish.html", context, status=400 if form.errors else 200)


def _start_moving(move: VersionMove | None) -> None:
    if move is not None:
        from drip.celery import enqueue_now
        from drip.tasks import move_to_version

        # A broker down now must not fail the page after the publish committed: the move waits
        # and the dispatcher's tick resumes it (publish.stalled_moves).
        transaction.on_commit(lambda: enqueue_now(move_to_version, move.pk))


def _published(
    request: HttpRequest, version: ScheduleVersion, move: VersionMove | None
) -> HttpResponse:
    who = "Everyone in a series is moving to it." if move else "New enrollments will use it."
    messages.success(request, f"Version {version.version} of {version.name} published. {who}")
    if move is None:
        return redirect("staff:history", name=version.name)
    return redirect("staff:version-move", name=version.name, move_id=move.pk)


@staff_required
def move_progress(request: HttpRequest, name: str, move_id: int) -> HttpResponse:
    """The progress bar while series move (htmx asks again every second until done)."""
    move = get_object_or_404(VersionMove.objects.select_related("version"), pk=move_id)
    partial = request.headers.get("HX-Request") == "true"
    template = "staff/editor/_progress.html" if partial else "staff/editor/move.html"
    return render(request, template, {"move": move, "name": name})


# --- history and rollback -----------------------------------------------------------------------


@staff_required
def history(request: HttpRequest, name: str) -> HttpResponse:
    _latest(name)
    versions = ScheduleVersion.objects.filter(name=name).order_by("-version")
    counts = dict(
        Enrollment.objects.filter(schedule_version__name=name, status__in=publish.MOVING)
        .values_list("schedule_version__version")
        .annotate(n=Count("pk"))
    )
    rows = [(v, counts.get(v.version, 0)) for v in versions]
    context = {"name": name, "rows": rows, "admin": is_admin(request.user), "latest": versions[0]}
    return render(request, "staff/editor/history.html", context)


@staff_required
def version(request: HttpRequest, name: str, number: int) -> HttpResponse:
    row = get_object_or_404(ScheduleVersion, name=name, version=number)
    spec = drafts.spec_from_yaml(row.spec_text)
    context = {"version": row, "steps": [step_words(s) for s in spec["steps"]]}
    context["admin"] = is_admin(request.user)
    context["latest"] = _latest(name)
    return render(request, "staff/editor/version.html", context)


@admin_required
def roll_back(request: HttpRequest, name: str, number: int) -> HttpResponse:
    """The same diff and impact as a publish, then Roll back: publish version N again."""
    old = get_object_or_404(ScheduleVersion, name=name, version=number)
    form = PublishForm(request.POST or None, initial={"note": f"Roll back to version {number}"})
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                new, move = publish.roll_back(
                    name, number, note=form.cleaned_data["note"],
                    who_moves=form.cleaned_data["who_moves"], actor=_actor(request),
                    now=timezone.now(),
                )  # fmt: skip
                _start_moving(move)
        except publish.NothingToPublish as error:
            messages.error(request, str(error))
            return redirect("staff:history", name=name)
        return _published(request, new, move)
    context = {"old": old, "form": form, "name": name}
    context.update(_consequences(name, old.spec_text, old.messages))
    context["next_version"] = cast(ScheduleVersion, context["published"]).version + 1
    return render(request, "staff/editor/rollback.html", context)
