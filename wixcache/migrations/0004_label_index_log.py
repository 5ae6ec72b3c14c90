"""The label index's change log (see `wixcache.index`), written by the database itself.

Every insert or delete of a membership (`contacts_contactlabel`) and of a contact appends a row
to `wixcache_index_change`, whoever wrote it: the sync's raw SQL, services, webhooks, cascades,
the admin, a person at a SQL prompt. Each process applies the rows it has not seen to its
in-memory bitmaps before it answers, so the index is never staler than the database.

- A contact row is logged with label 0: the set of every contact, for "NONE of" and "no labels".
- PostgreSQL fires once per statement, with the statement's rows (transition tables), and
  stamps each row with its transaction id: a reader takes the rows of finished transactions in
  commit order by comparing transaction ids with its snapshot, not by row id (a row id is taken
  when the row is written, and an earlier id may commit later).
- SQLite has only row triggers. It writes one transaction at a time, so its row ids are in
  commit order.
- A TRUNCATE (PostgreSQL) logs label -1: every reader rebuilds.
- `wixcache_index_state` holds one row: an epoch (a new one means "rebuild": a flushed or
  restored database) and how far the log was pruned.
"""

from django.db import migrations

SQLITE_LOG = "INSERT INTO wixcache_index_change (contact_id, label_id, added, at) VALUES "
SQLITE_NOW = "CAST(strftime('%s', 'now') AS integer)"
SQLITE_FORWARD = [
    "CREATE TABLE wixcache_index_change (id integer PRIMARY KEY AUTOINCREMENT, "
    "contact_id integer NOT NULL, label_id integer NOT NULL, added bool NOT NULL, "
    "xid bigint NULL, at bigint NOT NULL)",
    "CREATE INDEX wixcache_index_change_at ON wixcache_index_change (at)",
    "CREATE TABLE wixcache_index_state (id integer PRIMARY KEY CHECK (id = 1), "
    "epoch bigint NOT NULL, pruned_id bigint NOT NULL DEFAULT 0, "
    "pruned_xid bigint NOT NULL DEFAULT 0)",
    "INSERT INTO wixcache_index_state (id, epoch) VALUES (1, random())",
    "CREATE TRIGGER wixcache_index_contactlabel_insert AFTER INSERT ON contacts_contactlabel "
    f"BEGIN {SQLITE_LOG} (NEW.contact_id, NEW.label_id, 1, {SQLITE_NOW}); END",
    "CREATE TRIGGER wixcache_index_contactlabel_delete AFTER DELETE ON contacts_contactlabel "
    f"BEGIN {SQLITE_LOG} (OLD.contact_id, OLD.label_id, 0, {SQLITE_NOW}); END",
    "CREATE TRIGGER wixcache_index_contactlabel_update AFTER UPDATE ON contacts_contactlabel "
    f"BEGIN {SQLITE_LOG} (OLD.contact_id, OLD.label_id, 0, {SQLITE_NOW}), "
    f"(NEW.contact_id, NEW.label_id, 1, {SQLITE_NOW}); END",
    "CREATE TRIGGER wixcache_index_contact_insert AFTER INSERT ON contacts_contact "
    f"BEGIN {SQLITE_LOG} (NEW.id, 0, 1, {SQLITE_NOW}); END",
    "CREATE TRIGGER wixcache_index_contact_delete AFTER DELETE ON contacts_contact "
    f"BEGIN {SQLITE_LOG} (OLD.id, 0, 0, {SQLITE_NOW}); END",
]
SQLITE_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS wixcache_index_{name}"
        for name in (
            "contactlabel_insert",
            "contactlabel_delete",
            "contactlabel_update",
            "contact_insert",
            "contact_delete",
        )
    ),
    "DROP TABLE IF EXISTS wixcache_index_change",
    "DROP TABLE IF EXISTS wixcache_index_state",
]

PG_LOG = (
    "INSERT INTO wixcache_index_change (contact_id, label_id, added, xid, at) SELECT {columns}, "
    "pg_current_xact_id()::text::bigint, extract(epoch from now())::bigint FROM {rows}"
)


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN NULL; END $$"
    )


def _pg_trigger(name: str, event: str, table: str, referencing: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


POSTGRESQL_FORWARD = [
    "CREATE TABLE wixcache_index_change (id bigserial PRIMARY KEY, contact_id integer NOT NULL, "
    "label_id integer NOT NULL, added boolean NOT NULL, xid bigint NULL, at bigint NOT NULL)",
    "CREATE INDEX wixcache_index_change_xid ON wixcache_index_change (xid)",
    "CREATE INDEX wixcache_index_change_at ON wixcache_index_change (at)",
    "CREATE TABLE wixcache_index_state (id integer PRIMARY KEY CHECK (id = 1), "
    "epoch bigint NOT NULL, pruned_id bigint NOT NULL DEFAULT 0, "
    "pruned_xid bigint NOT NULL DEFAULT 0)",
    "INSERT INTO wixcache_index_state (id, epoch) VALUES (1, (random() * 9.2e18)::bigint)",
    _pg_function(
        "wixcache_index_labels_added",
        PG_LOG.format(columns="contact_id, label_id, true", rows="new_rows"),
    ),
    _pg_function(
        "wixcache_index_labels_removed",
        PG_LOG.format(columns="contact_id, label_id, false", rows="old_rows"),
    ),
    _pg_function(
        "wixcache_index_labels_changed",
        PG_LOG.format(columns="contact_id, label_id, false", rows="old_rows")
        + "; "
        + PG_LOG.format(columns="contact_id, label_id, true", rows="new_rows"),
    ),
    _pg_function(
        "wixcache_index_contacts_added", PG_LOG.format(columns="id, 0, true", rows="new_rows")
    ),
    _pg_function(
        "wixcache_index_contacts_removed",
        PG_LOG.format(columns="id, 0, false", rows="old_rows"),
    ),
    _pg_function(
        "wixcache_index_truncated",
        "INSERT INTO wixcache_index_change (contact_id, label_id, added, xid, at) VALUES "
        "(0, -1, false, pg_current_xact_id()::text::bigint, extract(epoch from now())::bigint)",
    ),
    _pg_trigger(
        "wixcache_index_insert",
        "INSERT",
        "contacts_contactlabel",
        "NEW TABLE AS new_rows",
        "wixcache_index_labels_added",
    ),
    _pg_trigger(
        "wixcache_index_delete",
        "DELETE",
        "contacts_contactlabel",
        "OLD TABLE AS old_rows",
        "wixcache_index_labels_removed",
    ),
    _pg_trigger(
        "wixcache_index_update",
        "UPDATE",
        "contacts_contactlabel",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "wixcache_index_labels_changed",
    ),
    _pg_trigger(
        "wixcache_index_insert",
        "INSERT",
        "contacts_contact",
        "NEW TABLE AS new_rows",
        "wixcache_index_contacts_added",
    ),
    _pg_trigger(
        "wixcache_index_delete",
        "DELETE",
        "contacts_contact",
        "OLD TABLE AS old_rows",
        "wixcache_index_contacts_removed",
    ),
    "CREATE TRIGGER wixcache_index_truncate AFTER TRUNCATE ON contacts_contactlabel "
    "FOR EACH STATEMENT EXECUTE FUNCTION wixcache_index_truncated()",
    "CREATE TRIGGER wixcache_index_truncate AFTER TRUNCATE ON contacts_contact "
    "FOR EACH STATEMENT EXECUTE FUNCTION wixcache_index_truncated()",
]
POSTGRESQL_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS wixcache_index_{event} ON {table}"
        for table in ("contacts_contactlabel", "contacts_contact")
        for event in ("insert", "delete", "update", "truncate")
    ),
    *(
        f"DROP FUNCTION IF EXISTS wixcache_index_{name}()"
        for name in (
            "labels_added",
            "labels_removed",
            "labels_changed",
            "contacts_added",
            "contacts_removed",
            "truncated",
        )
    ),
    "DROP TABLE IF EXISTS wixcache_index_change",
    "DROP TABLE IF EXISTS wixcache_index_state",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0003_contact_sort_indexes")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
        )
    ]
