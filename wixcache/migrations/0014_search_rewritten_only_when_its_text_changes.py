"""On SQLite, a contact's row in the search table is rewritten only when its searchable text
changes (first name, last name, email or phone), not on every update that names those columns.

The sync's upsert sets every column of a contact Wix changed, and most changes are to labels:
an incremental sync of 1,000 such contacts rewrote 1,000 rows of the FTS5 trigram table (a
delete and an insert of each of their trigrams), most of its time. The segment-version trigger
on the same columns already compares old and new values (contacts migration 0003).
PostgreSQL's trigram index is on the table itself, where an unchanged value writes no index
entry (a HOT update).
"""

from django.db import migrations

TEXT = "lower(NEW.first_name || ' ' || NEW.last_name || ' ' || NEW.email || ' ' || NEW.phone)"
CHANGED = (
    "WHEN OLD.first_name IS NOT NEW.first_name OR OLD.last_name IS NOT NEW.last_name "
    "OR OLD.email IS NOT NEW.email OR OLD.phone IS NOT NEW.phone "
)


def _trigger(when: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS wixcache_search_update",
        "CREATE TRIGGER wixcache_search_update AFTER UPDATE OF first_name, last_name, email, "
        f"phone ON contacts_contact {when}BEGIN UPDATE wixcache_contact_search SET text = {TEXT} "
        "WHERE rowid = NEW.id; END",
    ]


def _run(statements: list[str]):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for sql in statements:
                schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0013_membership_parents_checked_per_statement")]

    operations = [migrations.RunPython(_run(_trigger(CHANGED)), _run(_trigger("")))]
