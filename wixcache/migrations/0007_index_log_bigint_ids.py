"""The label index's change log holds contact and label ids as bigint on PostgreSQL, as the
tables it mirrors do. As integer, a contact id of 2^31 or more (ids run ahead of the number of
contacts: every upsert takes a sequence value) made the log trigger, and so every contact
insert, fail. SQLite's integers are 64-bit already."""

from django.db import migrations

FORWARD = [
    "ALTER TABLE wixcache_index_change ALTER COLUMN contact_id TYPE bigint, "
    "ALTER COLUMN label_id TYPE bigint"
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in FORWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0006_contact_created_index_with_id")]

    # Backwards the columns stay bigint: narrowing them could fail on the ids they hold, and
    # bigint serves the older code as well.
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
