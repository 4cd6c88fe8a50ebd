"""Indexes for the staff pages at 100,000 patients (python -m bench pages, docs/benchmarks.md).

Today: partial indexes for what needs a person, rows left sending, the week's sent and
delivered counts. Patients search (``icontains``: ``UPPER(col) LIKE '%...%'``; the phone:
``phone LIKE '%digits%'``): trigram indexes on PostgreSQL (pg_trgm, a trusted extension the
database owner may create), so a search no longer reads every patient. SQLite has none: it
reads every row, which is fine at a small clinic's size.
"""

from typing import Any

from django.db import migrations, models

TRIGRAM_INDEXES = {
    "patient_first_name_trgm": 'UPPER("first_name"::text)',
    "patient_last_name_trgm": 'UPPER("last_name"::text)',
    "patient_email_trgm": 'UPPER("email"::text)',
    "patient_phone_trgm": '("phone"::text)',
}


def add_trigram_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON drip_patient USING gin ({expression} gin_trgm_ops)"
        )


def drop_trigram_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("drip", "0008_audit_names_a_user"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status__in", ["failed", "undelivered", "skipped"])),
                fields=["status", "updated_at"],
                name="delivery_needs_person",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status", "sending")),
                fields=["updated_at"],
                name="delivery_unsettled",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", False)),
                fields=["sent_at"],
                name="delivery_sent_at",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("delivered_at__isnull", False)),
                fields=["delivered_at"],
                name="delivery_delivered_at",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("sms_opted_out_at__isnull", False)),
                fields=["sms_opted_out_at"],
                name="patient_sms_opted_out",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("email_opted_out_at__isnull", False)),
                fields=["email_opted_out_at"],
                name="patient_email_opted_out",
            ),
        ),
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes),
    ]
