"""Django admin for superusers: look, don't touch. Staff work goes through the services
(enrollment.py), which re-plan; editing rows here would bypass that, so deliveries are read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from drip.models import (
    AuditEvent,
    ConsentRecord,
    Delivery,
    Enrollment,
    Infusion,
    Patient,
    ScheduleVersion,
)

if TYPE_CHECKING:  # generic in django-stubs only: Django's class takes no [...]
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnly(_ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = (
        "id",
        "enrollment_id",
        "step_key",
        "channel",
        "due_at",
        "status",
        "skip_reason",
        "attempts",
        "error_code",
    )
    list_filter = ("status", "channel", "skip_reason")
    search_fields = ("=id", "=enrollment__id", "step_key", "provider_id")


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnly):
    list_display = ("id", "patient_id", "schedule_version", "status", "enrolled_at")
    list_filter = ("status",)


@admin.register(ScheduleVersion)
class ScheduleVersionAdmin(ReadOnly):
    list_display = ("name", "version", "title", "created_at", "created_by")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    list_display = ("at", "actor", "user", "event", "patient_id", "enrollment_id")
    list_filter = ("event",)


for model in (Patient, Infusion, ConsentRecord):
    admin.site.register(model, ReadOnly)
