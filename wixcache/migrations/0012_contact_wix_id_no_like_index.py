"""On PostgreSQL, drop the second index Django makes on `contacts_contact.wix_id` for LIKE
queries (`varchar_pattern_ops`, because the column is unique): nothing here asks for a wix id
by pattern, and every contact written paid for the index. The unique index stays.

Django drops the index with `DROP INDEX IF EXISTS` whenever a later migration changes the
field, so its absence is harmless to migrations. SQLite has no such index.
"""

from django.db import migrations

LIKE_INDEXES = (
    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
    "AND tablename = 'contacts_contact' AND indexdef LIKE '%(wix_id varchar_pattern_ops)%'"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(LIKE_INDEXES)
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    Contact = apps.get_model("wixcache", "Contact")
    field = Contact._meta.get_field("wix_id")
    schema_editor.execute(schema_editor._create_like_index_sql(Contact, field))


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0011_index_log_arrays")]

    operations = [migrations.RunPython(forward, backward)]
