"""One person is one patient: a phone or an email (any case) belongs to one patient row. And
the choices of event names and skip reasons, from the models and the core.

A database that already holds the same phone or email on two patients cannot take the
constraints; the first step says which patients (ids only) so staff can merge them first.
"""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_duplicates(apps, schema_editor):
    Patient = apps.get_model("drip", "Patient")
    problems = []
    for field, expression in (("phone", models.F("phone")), ("email", Lower("email"))):
        duplicated = (
            Patient.objects.exclude(**{field: ""})
            .values(key=expression)
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .values_list("key", flat=True)
        )
        for key in duplicated:
            ids = (
                Patient.objects.annotate(key=expression)
                .filter(key=key)
                .values_list("id", flat=True)
            )
            problems.append(f"patients {sorted(ids)} share one {field}")
    if problems:
        raise RuntimeError(
            "One person is one patient, but: " + "; ".join(problems) + ". Merge them, then migrate."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("drip", "0003_inbound_alerts_consent_text"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                condition=models.Q(("phone", ""), _negated=True),
                fields=("phone",),
                name="patient_unique_phone",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                condition=models.Q(("email", ""), _negated=True),
                name="patient_unique_email",
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
                ],
                max_length=60,
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="skip_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("too_late", "Too late"),
                    ("infusion_cancelled", "Infusion cancelled"),
                    ("condition_unmet", "Condition unmet"),
                    ("no_consent", "No consent"),
                    ("opted_out", "Opted out"),
                    ("enrollment_ended", "Enrollment ended"),
                    ("paused", "Paused"),
                ],
                max_length=30,
            ),
        ),
    ]
