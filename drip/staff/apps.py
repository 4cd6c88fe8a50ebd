"""The staff app; also limits the Django admin to superusers."""

from __future__ import annotations

from django.apps import AppConfig
from django.http import HttpRequest


def _superuser_only(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class StaffConfig(AppConfig):
    name = "drip.staff"
    label = "staff"
    verbose_name = "Staff pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        # Clinic staff work through the staff pages (which re-plan through the services); the
        # Django admin is a superuser's read-only window onto the tables.
        admin.site.has_permission = _superuser_only  # type: ignore[method-assign]
