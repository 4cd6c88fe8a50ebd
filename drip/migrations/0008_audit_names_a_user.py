"""Audit records name a user (PROTECT: deactivate an account that acted, never delete it) and
outlive the patient and enrollment they name (no constraint, nothing cascades, the ids stay).
Existing records whose actor is a staff member's username are linked to that user."""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SYSTEM_ACTORS = ("demo", "demo-staff", "patient", "twilio", "cli")


def link_users(apps: Any, schema_editor: Any) -> None:
    user_model = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    audit = apps.get_model("drip", "AuditEvent")
    names = audit.objects.exclude(actor__in=SYSTEM_ACTORS).values_list("actor", flat=True)
    for user in user_model.objects.filter(username__in=set(names)):
        audit.objects.filter(actor=user.username, user=None).update(user=user)


class Migration(migrations.Migration):
    dependencies = [
        ("drip", "0007_staff_replies"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                help_text="the staff member who acted; empty for a system actor",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_events",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="enrollment",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                to="drip.enrollment",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="event",
            field=models.CharField(
                choices=[
                    ("enrolled", "Enrolled"),
                    ("infusion_moved", "Infusion moved"),
                    ("infusion_added", "Infusion added"),
                    ("infusion_done", "Infusion done"),
                    ("infusion_cancelled", "Infusion cancelled"),
                    ("infusion_scheduled", "Infusion scheduled again"),
                    ("paused", "Paused"),
                    ("resumed", "Resumed"),
                    ("ended", "Ended"),
                    ("opted_out", "Opted out"),
                    ("opted_in", "Opted in"),
                    ("series_size_set", "Series size changed"),
                    ("series_ended_early", "Series ended early"),
                    ("consent_reason", "Reason for a consent change"),
                    ("contact_changed", "Contact details changed"),
                    ("message_sent_again", "Failed message sent again"),
                    ("unsettled_marked_sent", "Unsettled message recorded as sent"),
                    ("unsettled_sent_again", "Unsettled message sent again"),
                ],
                max_length=60,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="patient",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                to="drip.patient",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["-at", "-id"], name="audit_newest_first"),
        ),
        migrations.RunPython(link_users, migrations.RunPython.noop),
    ]
