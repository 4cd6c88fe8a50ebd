"""Edit a patient's name, phone, email or time zone; pending messages follow the change.

The same checks as enrollment (``clean_patient``); the audit names the fields that changed,
never their values (no phones or emails in the audit).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from drip.enrollment.cleaning import PatientInput, clean_patient
from drip.enrollment.service import replan
from drip.models import Actor, AuditEvent, Enrollment, Patient

CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "time_zone")


def update_contact(
    patient: Patient, new: dict[str, str], *, now: datetime, actor: Actor
) -> list[str]:
    """Save the contact fields in ``new``; re-plan open series; return the names that changed.

    Raises EnrollmentError(field) and saves nothing when a value does not validate (consent
    stays as it is, so removing the phone of a patient who agreed to texts is refused)."""
    values = {f: new.get(f, getattr(patient, f)) for f in CONTACT_FIELDS}
    clean = clean_patient(
        PatientInput(**values, sms_consent=patient.sms_consent, email_consent=patient.email_consent)
    )
    changed = [f for f in CONTACT_FIELDS if getattr(patient, f) != getattr(clean, f)]
    if not changed:
        return []
    with transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(**{f: getattr(clean, f) for f in changed})
        patient.refresh_from_db()
        AuditEvent.record(
            actor,
            AuditEvent.Event.CONTACT_CHANGED,
            at=now,
            patient=patient,
            detail={"fields": changed},
        )
        for enrollment in patient.enrollments.filter(
            status__in=(Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED)
        ):
            replan(enrollment, now=now)
    return changed
