"""Tables. Behaviour lives in services (enrollment, dispatch, sender); models hold data."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="schedule_version_unique")
        ]
        ordering = ["name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Patient(models.Model):
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

    def __str__(self) -> str:  # ids only: names and contacts stay out of logs and admin titles
        return f"Patient #{self.pk}"


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
    channel = models.CharField(max_length=10, choices=Channel.choices)
    granted = models.BooleanField()
    method = models.CharField(max_length=20, choices=Method.choices)
    recorded_by = models.CharField(max_length=150)
    recorded_at = models.DateTimeField()

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

    def __str__(self) -> str:
        return f"Enrollment #{self.pk}"


class Infusion(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="infusions")
    number = models.PositiveSmallIntegerField()
    starts_at = models.DateTimeField(help_text="the instant; shown in the patient's time zone")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "number"], name="infusion_unique_number")
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"Infusion {self.number} ({self.status})"


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

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="deliveries")
    step_key = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    message_key = models.CharField(max_length=100)
    anchor_infusion = models.PositiveSmallIntegerField(null=True, blank=True)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(max_length=30, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    error_text = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

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
            # row per claim, 5 ms with 20,000 queued.
            models.Index(
                fields=["queued_at"],
                name="delivery_queued_lease",
                condition=Q(queued_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} {self.step_key}/{self.channel} {self.status}"


class AuditEvent(models.Model):
    """Who did what to which enrollment or patient; ids and event names, never message bodies."""

    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    event = models.CharField(max_length=60)
    patient = models.ForeignKey(Patient, null=True, on_delete=models.CASCADE)
    enrollment = models.ForeignKey(Enrollment, null=True, on_delete=models.CASCADE)
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["enrollment", "-at"])]

    def __str__(self) -> str:
        return f"{self.event} by {self.actor}"
