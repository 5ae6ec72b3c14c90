"""A version of everything an audience's count depends on, kept by the database itself.

`contacts_segment_version` holds one row whose value triggers replace with a random number on
every write to contacts or memberships (the sync's raw SQL, services, webhooks, cascades, the
admin): counts cached under the version (`contacts.selectors`) are then never stale, whoever
wrote. A random value rather than a counter, so that a rolled-back write cannot make a version
that was seen with other data come back. PostgreSQL fires once per statement; SQLite has only
row triggers, and skips contact updates that leave the searched fields unchanged.
"""

from django.db import migrations

SQLITE_BUMP = "BEGIN UPDATE contacts_segment_version SET value = random() WHERE id = 1; END"
SQLITE_FORWARD = [
    "CREATE TABLE contacts_segment_version "
    "(id integer PRIMARY KEY CHECK (id = 1), value bigint NOT NULL)",
    "INSERT INTO contacts_segment_version (id, value) VALUES (1, random())",
    "CREATE TRIGGER contacts_segment_version_contact_insert "
    "AFTER INSERT ON contacts_contact " + SQLITE_BUMP,
    "CREATE TRIGGER contacts_segment_version_contact_delete "
    "AFTER DELETE ON contacts_contact " + SQLITE_BUMP,
    "CREATE TRIGGER contacts_segment_version_contact_update "
    "AFTER UPDATE OF first_name, last_name, email, phone ON contacts_contact "
    "WHEN OLD.first_name IS NOT NEW.first_name OR OLD.last_name IS NOT NEW.last_name "
    "OR OLD.email IS NOT NEW.email OR OLD.phone IS NOT NEW.phone " + SQLITE_BUMP,
    "CREATE TRIGGER contacts_segment_version_contactlabel_insert "
    "AFTER INSERT ON contacts_contactlabel " + SQLITE_BUMP,
    "CREATE TRIGGER contacts_segment_version_contactlabel_delete "
    "AFTER DELETE ON contacts_contactlabel " + SQLITE_BUMP,
    "CREATE TRIGGER contacts_segment_version_contactlabel_update "
    "AFTER UPDATE ON contacts_contactlabel " + SQLITE_BUMP,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS contacts_segment_version_contact_insert",
    "DROP TRIGGER IF EXISTS contacts_segment_version_contact_delete",
    "DROP TRIGGER IF EXISTS contacts_segment_version_contact_update",
    "DROP TRIGGER IF EXISTS contacts_segment_version_contactlabel_insert",
    "DROP TRIGGER IF EXISTS contacts_segment_version_contactlabel_delete",
    "DROP TRIGGER IF EXISTS contacts_segment_version_contactlabel_update",
    "DROP TABLE IF EXISTS contacts_segment_version",
]

POSTGRESQL_FORWARD = [
    "CREATE TABLE contacts_segment_version "
    "(id integer PRIMARY KEY CHECK (id = 1), value bigint NOT NULL)",
    "INSERT INTO contacts_segment_version (id, value) VALUES (1, (random() * 9.2e18)::bigint)",
    """CREATE FUNCTION contacts_segment_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE contacts_segment_version SET value = (random() * 9.2e18)::bigint WHERE id = 1;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER contacts_segment_version_bump "
    "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contacts_contact "
    "FOR EACH STATEMENT EXECUTE FUNCTION contacts_segment_version_bump()",
    "CREATE TRIGGER contacts_segment_version_bump "
    "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contacts_contactlabel "
    "FOR EACH STATEMENT EXECUTE FUNCTION contacts_segment_version_bump()",
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS contacts_segment_version_bump ON contacts_contact",
    "DROP TRIGGER IF EXISTS contacts_segment_version_bump ON contacts_contactlabel",
    "DROP FUNCTION IF EXISTS contacts_segment_version_bump()",
    "DROP TABLE IF EXISTS contacts_segment_version",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("contacts", "0002_audience")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
        )
    ]
