"""What the staff pages keep about sign-in: a first-sign-in password change, failed tries."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StaffAccount(models.Model):
    """A staff member's sign-in state beyond Django's user: must they choose a new password?"""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_account"
    )
    must_change_password = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Staff account of user #{self.user_id}"


class SignInFailures(models.Model):
    """Wrong passwords or codes in a row for one username from one address (reset on success)."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=45)
    failures = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "address"], name="sign_in_failures_unique")
        ]

    def __str__(self) -> str:
        return f"{self.failures} failed sign-ins"
