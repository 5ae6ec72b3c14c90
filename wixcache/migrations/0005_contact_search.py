"""Contact search that does not read every row: trigram indexes of each contact's searchable
text (first name, last name, email and phone, lower-cased, joined by spaces), so that "the text
contains this word" is an index lookup for words of three characters or more.

- PostgreSQL: a GIN index (`pg_trgm`, a trusted extension the database's owner may create) on
  the expression that `wixcache.search` queries with LIKE.
- SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34 or newer), one row per contact
  (rowid = the contact's id), kept by triggers; its LIKE uses the trigram index.

A word never holds a space (the search splits on whitespace), so a match in the joined text is
a match inside one field, as the ORM's `icontains` on each field finds it.
"""

from django.db import migrations

TEXT = "lower({p}first_name || ' ' || {p}last_name || ' ' || {p}email || ' ' || {p}phone)"

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE wixcache_contact_search USING fts5(text, tokenize = 'trigram')",
    "INSERT INTO wixcache_contact_search (rowid, text) SELECT id, "
    + TEXT.format(p="")
    + " FROM contacts_contact",
    "CREATE TRIGGER wixcache_search_insert AFTER INSERT ON contacts_contact BEGIN "
    "INSERT INTO wixcache_contact_search (rowid, text) VALUES (NEW.id, "
    + TEXT.format(p="NEW.")
    + "); END",
    "CREATE TRIGGER wixcache_search_update AFTER UPDATE OF first_name, last_name, email, phone "
    "ON contacts_contact BEGIN "
    "UPDATE wixcache_contact_search SET text = "
    + TEXT.format(p="NEW.")
    + " WHERE rowid = NEW.id; END",
    "CREATE TRIGGER wixcache_search_delete AFTER DELETE ON contacts_contact BEGIN "
    "DELETE FROM wixcache_contact_search WHERE rowid = OLD.id; END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS wixcache_search_insert",
    "DROP TRIGGER IF EXISTS wixcache_search_update",
    "DROP TRIGGER IF EXISTS wixcache_search_delete",
    "DROP TABLE IF EXISTS wixcache_contact_search",
]
POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX contact_search_trgm ON contacts_contact USING gin (("
    + TEXT.format(p="")
    + ") gin_trgm_ops)",
]
POSTGRESQL_BACKWARD = ["DROP INDEX IF EXISTS contact_search_trgm"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0004_label_index_log")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
        )
    ]
