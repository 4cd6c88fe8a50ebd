"""Tables. Behaviour lives in services (enrollment, dispatch, sender); models hold data."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeAlias

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from drip.core.planner import InfusionStatus, PatientPrefs, SkipReason
from drip.core.schedule import Channel


def _choices(
    values: type[enum.StrEnum], labels: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """Django choices from one of the core's enums: the core owns the values, the tables use them."""
    named = labels or {}
    return [(v.value, named.get(v.value, v.value.replace("_", " ").capitalize())) for v in values]


CHANNEL_CHOICES = _choices(Channel, {"sms": "SMS"})

# Who did something: a staff member (a user) or a system actor's name ("patient", "twilio").
Actor: TypeAlias = AbstractBaseUser | str


def actor_name(actor: Actor) -> str:
    """The name a record keeps: the username, or the system actor's name."""
    return actor if isinstance(actor, str) else actor.get_username()


def _user_or_none(actor: Actor) -> AbstractBaseUser | None:
    return None if isinstance(actor, str) else actor


class ScheduleVersion(models.Model):
    """An immutable, self-contained schedule: its YAML and the messages it uses, as published."""

    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    spec_text = models.TextField(help_text="the schedule YAML")
    messages = models.JSONField(
        help_text="{key: {email_subject, email_body, sms_text, sources}} for every message used"
    )
    checksum = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True, help_text="why it changed, in the author's words")
    copied_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="the version number a rollback published again"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="schedule_version_unique")
        ]
        ordering = ["name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ClinicSettings(models.Model):
    """One saved version of the clinic's settings (name, phone, window, caps, crisis text, From
    address...); the newest version wins. The environment's values are the first-start defaults
    (drip.catalog.clinic.current)."""

    version = models.PositiveIntegerField(unique=True)
    facts = models.JSONField(help_text="{clinic_name, clinic_phone, ...}: see drip.catalog.clinic")
    saved_at = models.DateTimeField()
    saved_by = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"clinic settings v{self.version}"


class Reachable:
    """Per-channel contact, consent and opt-out, for anything with a patient's fields (the Patient
    model and the sender's slim copy, drip.delivery.rows.Recipient): one rule, no string-built
    attribute names."""

    __slots__ = ()
    phone: str
    email: str
    sms_consent: bool
    email_consent: bool
    sms_opted_out_at: datetime | None
    email_opted_out_at: datetime | None

    def contact(self, channel: str) -> str:
        """The phone (SMS) or email address (email) to send to; blank if none."""
        return self.phone if channel == Channel.SMS else self.email

    def has_consent(self, channel: str) -> bool:
        """Consent on file for ``channel`` (an opt-out is separate: see ``opted_out_at``)."""
        return self.sms_consent if channel == Channel.SMS else self.email_consent

    def opted_out_at(self, channel: str) -> datetime | None:
        """When the patient (or the provider) opted out of ``channel``; None if they have not."""
        return self.sms_opted_out_at if channel == Channel.SMS else self.email_opted_out_at

    def may_receive(self, channel: str) -> bool:
        """Consented to ``channel``, not opted out of it, and has a contact on it."""
        return (
            self.has_consent(channel)
            and self.opted_out_at(channel) is None
            and bool(self.contact(channel))
        )


class Patient(Reachable, models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +15551234567")
    time_zone = models.CharField(max_length=64, help_text="IANA name, e.g. America/New_York")
    # Current consent per channel; ConsentRecord keeps the history of who/when/how.
    sms_consent = models.BooleanField(default=False)
    email_consent = models.BooleanField(default=False)
    # Suppression set by the patient (STOP, unsubscribe link) or the provider (Twilio 21610).
    # Separate from consent so START can lift a STOP without inventing consent.
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    email_opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # One person is one patient: a phone (always E.164, so one spelling) or an email (any
        # case) belongs to one patient row. A series that ended keeps its patient, and a new
        # series for the same person reuses that row, opt-outs included.
        constraints = [
            models.UniqueConstraint(
                fields=["phone"], condition=~Q(phone=""), name="patient_unique_phone"
            ),
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="patient_unique_email"
            ),
        ]
        # Today's "opted out in the last week": few rows have a date, so partial indexes.
        indexes = [
            models.Index(
                fields=["sms_opted_out_at"],
                name="patient_sms_opted_out",
                condition=Q(sms_opted_out_at__isnull=False),
            ),
            models.Index(
                fields=["email_opted_out_at"],
                name="patient_email_opted_out",
                condition=Q(email_opted_out_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:  # ids only: names and contacts stay out of logs and admin titles
        return f"Patient #{self.pk}"

    def prefs(self) -> PatientPrefs:
        """What the planner needs of the patient: their zone, the channels they consented to
        and can be reached on, the ones they opted out of."""
        return PatientPrefs(
            self.time_zone,
            channels=frozenset(c for c in Channel if self.has_consent(c) and self.contact(c)),
            opted_out=frozenset(c for c in Channel if self.opted_out_at(c)),
        )


class ConsentText(models.Model):
    """The consent wording shown at enrollment, per channel, versioned: a change of wording is a
    new version, and each ConsentRecord points at the version the patient agreed to."""

    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "version"], name="consent_text_unique")
        ]
        ordering = ["channel", "-version"]

    def __str__(self) -> str:
        return f"{self.channel} consent v{self.version}"


class ConsentRecord(models.Model):
    """Who recorded consent (or its withdrawal) for a channel, when and how. Latest row wins."""

    class Method(models.TextChoices):
        WRITTEN = "written", "Written form"
        VERBAL = "verbal", "Verbal, recorded by staff"
        WEB = "web", "Web form"
        SMS_KEYWORD = "sms_keyword", "SMS keyword (STOP/START)"
        EMAIL_LINK = "email_link", "Email unsubscribe link"
        PROVIDER = "provider", "Reported by the provider"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    granted = models.BooleanField()
    method = models.CharField(max_length=20, choices=Method.choices)
    recorded_by = models.CharField(max_length=150)
    recorded_at = models.DateTimeField()
    # The wording agreed to (grants at enrollment); null for withdrawals and older records.
    consent_text = models.ForeignKey(
        ConsentText, null=True, blank=True, on_delete=models.PROTECT, related_name="records"
    )

    class Meta:
        indexes = [models.Index(fields=["patient", "channel", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{'granted' if self.granted else 'withdrawn'} {self.channel} ({self.method})"


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        ENDED = "ended", "Ended"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="enrollments")
    schedule_version = models.ForeignKey(ScheduleVersion, on_delete=models.PROTECT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    enrolled_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # How many infusions the series has: the schedule's at enrollment, changed by staff (ending
    # a series early). Steps anchored on the last infusion wait for this one to be booked.
    series_size = models.PositiveSmallIntegerField(null=True, blank=True)
    # When the series moved to its schedule_version (a publish that moves patients); null: it
    # has followed that version since enrollment.
    version_moved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Enrollment #{self.pk}"


class Infusion(models.Model):
    Status = InfusionStatus  # one list of statuses, the planner's

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="infusions")
    number = models.PositiveSmallIntegerField()
    starts_at = models.DateTimeField(help_text="the instant; shown in the patient's time zone")
    status = models.CharField(
        max_length=10, choices=_choices(InfusionStatus), default=InfusionStatus.SCHEDULED
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "number"], name="infusion_unique_number")
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"Infusion {self.number} ({self.status})"


# Subjects have no length rule (drip.core.guardrails checks words, not length): the column takes
# a header line's limit (RFC 5322: 998 characters), and the sender cuts a longer one to fit
# rather than fail the statement that records a whole group's outcomes.
SENT_SUBJECT_LENGTH = 998


class Delivery(models.Model):
    """One message on one channel for one step of one enrollment. See DESIGN §4 for states."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    # Rows the planner may still re-time or skip; everything else is history and never changes.
    PENDING = (Status.SCHEDULED, Status.QUEUED, Status.SKIPPED)
    # Rows that reached (or may have reached) the patient: they count against the caps.
    WENT_OUT = (Status.SENDING, Status.SENT, Status.DELIVERED, Status.UNDELIVERED)
    # The copy of what was sent: left out (``defer``) where many rows are read for their plan.
    SENT_COPY = ("sent_subject", "sent_text")

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="deliveries")
    step_key = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    message_key = models.CharField(max_length=100)
    anchor_infusion = models.PositiveSmallIntegerField(null=True, blank=True)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(max_length=30, blank=True, choices=_choices(SkipReason))
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    error_text = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The message exactly as handed to the provider, written with the outcome when it was
    # accepted: the SMS text, or the email's subject and plain-text part (the HTML part is not
    # kept). For staff asked "what did you send me?"; never logged. Empty: not sent, or sent
    # before drip kept a copy. The database default serves raw INSERTs (bench) too.
    sent_subject = models.CharField(
        max_length=SENT_SUBJECT_LENGTH, blank=True, default="", db_default=""
    )
    sent_text = models.TextField(blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step_key", "channel"], name="delivery_unique_step_channel"
            )
        ]
        indexes = [
            # The due query: partial, so it stays small however many rows are history, and
            # the planner never prefers it for single-row updates by id.
            models.Index(
                fields=["due_at"], name="delivery_due_scheduled", condition=Q(status="scheduled")
            ),
            # The lease query. Keyed on queued_at being set (only 'queued' rows have one), not on
            # status: with status = 'queued' as its condition, PostgreSQL chose this index for the
            # sender's claim-by-id (which says status = 'queued' too) and scanned every queued
            # row per claim (docs/history.md).
            models.Index(
                fields=["queued_at"],
                name="delivery_queued_lease",
                condition=Q(queued_at__isnull=False),
            ),
            # The Today page (bench pages: 850 ms at 100,000 patients without them, each of its
            # queries read every row): failures and skips of the last days, rows left sending,
            # the week's sent and delivered counts. Partial, so history rows in other states
            # cost nothing.
            models.Index(
                fields=["status", "updated_at"],
                name="delivery_needs_person",
                condition=Q(status__in=["failed", "undelivered", "skipped"]),
            ),
            models.Index(
                fields=["updated_at"], name="delivery_unsettled", condition=Q(status="sending")
            ),
            models.Index(
                fields=["sent_at"], name="delivery_sent_at", condition=Q(sent_at__isnull=False)
            ),
            models.Index(
                fields=["delivered_at"],
                name="delivery_delivered_at",
                condition=Q(delivered_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} {self.step_key}/{self.channel} {self.status}"


class AuditEvent(models.Model):
    """Who did what to which enrollment or patient; ids and event names, never message bodies.

    A record outlives what it names: deleting a patient or an enrollment leaves its audit rows
    and their ids (the columns carry no database constraint and nothing cascades), and a staff
    account that acted cannot be deleted (deactivate it instead), so every record keeps naming
    the person. ``actor`` is the user's username, or a system actor (``SYSTEM_ACTORS``)."""

    SYSTEM_ACTORS = ("demo", "demo-staff", "patient", "twilio", "cli", "drip")

    class Event(models.TextChoices):
        ENROLLED = "enrolled", "Enrolled"
        INFUSION_MOVED = "infusion_moved", "Infusion moved"
        INFUSION_ADDED = "infusion_added", "Infusion added"
        INFUSION_DONE = "infusion_done", "Infusion done"
        INFUSION_CANCELLED = "infusion_cancelled", "Infusion cancelled"
        INFUSION_SCHEDULED = "infusion_scheduled", "Infusion scheduled again"
        PAUSED = "paused", "Paused"
        RESUMED = "resumed", "Resumed"
        ENDED = "ended", "Ended"
        OPTED_OUT = "opted_out", "Opted out"
        OPTED_IN = "opted_in", "Opted in"
        SERIES_SIZE_SET = "series_size_set", "Series size changed"
        SERIES_ENDED_EARLY = "series_ended_early", "Series ended early"
        CONSENT_REASON = "consent_reason", "Reason for a consent change"
        CONTACT_CHANGED = "contact_changed", "Contact details changed"
        MESSAGE_SENT_AGAIN = "message_sent_again", "Failed message sent again"
        UNSETTLED_MARKED_SENT = "unsettled_marked_sent", "Unsettled message recorded as sent"
        UNSETTLED_SENT_AGAIN = "unsettled_sent_again", "Unsettled message sent again"
        ALERT_ACKNOWLEDGED = "alert_acknowledged", "Crisis alert acknowledged"
        INBOX_ASSIGNED = "inbox_assigned", "Reply assigned"
        INBOX_HANDLED = "inbox_handled", "Reply marked handled"
        INBOX_REOPENED = "inbox_reopened", "Reply marked unread again"
        SMS_REPLY_WRITTEN = "sms_reply_written", "Text reply written"
        SMS_REPLY_SENT = "sms_reply_sent", "Text reply sent"
        SMS_REPLY_FAILED = "sms_reply_failed", "Text reply failed"
        SMS_REPLY_REFUSED = "sms_reply_refused", "Text reply not sent: opted out"
        SCHEDULE_MOVED = "schedule_moved", "Moved to a new schedule version"
        SCHEDULE_PUBLISHED = "schedule_published", "Schedule version published"
        TEST_SENT = "test_sent", "Test message sent"
        TEST_SEND_FAILED = "test_send_failed", "Test message not sent"
        CLINIC_SETTINGS_SAVED = "clinic_settings_saved", "Clinic settings saved"

    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        help_text="the staff member who acted; empty for a system actor",
    )
    event = models.CharField(max_length=60, choices=Event.choices)
    patient = models.ForeignKey(
        Patient, null=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    enrollment = models.ForeignKey(
        Enrollment, null=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["enrollment", "-at"]),
            models.Index(fields=["-at", "-id"], name="audit_newest_first"),
        ]

    def __str__(self) -> str:
        return f"{self.event} by {self.actor}"

    @classmethod
    def record(cls, actor: Actor, event: str, *, at: datetime, **fields: object) -> AuditEvent:
        """Write one record; ``actor`` is the staff user who acted, or a system actor's name."""
        return cls.objects.create(
            at=at,
            actor=actor_name(actor),
            user=_user_or_none(actor),
            event=cls.Event(event),
            **fields,
        )


class InboundMessage(models.Model):
    """One SMS a patient (or an unknown number) sent us, and the reply we gave in the webhook's
    own response, if any. ``message_sid`` is unique: a replayed webhook finds its row."""

    class Kind(models.TextChoices):
        CRISIS = "crisis", "Crisis"
        STOP = "stop", "Opt-out"
        START = "start", "Opt-in"
        HELP = "help", "Help"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        UNREAD = "unread", "Unread"
        HANDLED = "handled", "Handled"

    message_sid = models.CharField(max_length=64, unique=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="inbound"
    )
    from_phone = models.CharField(max_length=20, help_text="kept for unknown senders; never logged")
    body = models.TextField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNREAD)
    assigned_to = models.CharField(max_length=150, blank=True)
    handled_by = models.CharField(max_length=150, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    reply_reason = models.CharField(max_length=20, blank=True)  # e.g. help, opt_out, auto_reply
    reply_body = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "-received_at"]),
            models.Index(fields=["from_phone", "reply_reason", "-received_at"]),
        ]

    def __str__(self) -> str:  # no body, no number
        return f"Inbound #{self.pk} {self.kind}"


class Alert(models.Model):
    """An urgent reply raised to staff (one per inbound message: the unique key makes a replayed
    webhook a no-op). Shown on every staff page until someone acknowledges it."""

    inbound = models.OneToOneField(InboundMessage, on_delete=models.CASCADE, related_name="alert")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [  # the banner on every staff page asks for these
            models.Index(
                fields=["created_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="alert_unacknowledged",
            )
        ]

    def __str__(self) -> str:
        return f"Alert #{self.pk}"


class AlertNotice(models.Model):
    """One on-call contact to tell about one alert: an outbox row. Claimed pending -> sending by
    compare-and-set, so two workers never both send it; a broker outage only delays it (the
    dispatcher tick picks up pending notices)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notices")
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    address = models.CharField(max_length=254)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=30, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "address"], name="alert_notice_unique"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"AlertNotice #{self.pk} {self.channel} {self.status}"


class StaffReply(models.Model):
    """A text a staff member wrote to a patient from the inbox: an outbox row. ``form_key``
    (one per reply form shown) makes a double-clicked Send one row; the send is claimed
    pending -> sending by compare-and-set, so two workers never both send it, and a retry looks
    in Twilio's message list first, so an answer lost in a timeout is not sent twice."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Not sent: the patient opted out"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="staff_replies")
    inbound = models.ForeignKey(
        InboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff_replies",
    )
    form_key = models.CharField(max_length=40, unique=True)
    to_phone = models.CharField(max_length=20)
    body = models.TextField()
    written_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField()  # the next hour the patient may be texted
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    error_text = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["patient", "created_at"]),
        ]

    def __str__(self) -> str:  # no body, no number
        return f"StaffReply #{self.pk} {self.status}"


class ScheduleDraft(models.Model):
    """An admin's unpublished edit of one schedule: the schedule's fields and steps as typed, and
    the messages it uses. ``revision`` goes up with every save; a save carrying an older revision
    is refused (two admins never overwrite each other silently)."""

    name = models.SlugField(max_length=100, unique=True)
    base_version = models.ForeignKey(
        ScheduleVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    spec = models.JSONField(help_text="{name, title, infusions, send_window, ..., steps: [...]}")
    messages = models.JSONField(help_text="{key: {email_subject, email_body, sms_text, sources}}")
    revision = models.PositiveIntegerField(default=1)
    created_by = models.CharField(max_length=150)
    updated_by = models.CharField(max_length=150)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Draft of {self.name} (revision {self.revision})"


class VersionMove(models.Model):
    """Moving the series on earlier versions of a schedule to a newly published one, in batches
    (a Celery task); its counts are the progress bar."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        RUNNING = "running", "Moving"
        DONE = "done", "Done"

    version = models.ForeignKey(ScheduleVersion, on_delete=models.PROTECT, related_name="moves")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    retimed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    actor = models.CharField(max_length=150)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a batch last ran (or the move was started or resumed): a move not done and not
    # touched for a while is resumed by the dispatcher's tick (its task was lost).
    touched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Move #{self.pk} to {self.version} ({self.status})"
