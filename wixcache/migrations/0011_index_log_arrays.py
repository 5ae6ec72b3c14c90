"""On PostgreSQL the label index's log takes one row per statement and label, with the contact
ids as an array (`contact_ids`), instead of one row per membership.

A sync page of 1,000 contacts wrote about 4,500 log rows (one per membership, one per contact),
each with three index entries: about a third of the memberships insert's time. It now writes
about as many rows as the page has labels, and a reader applies each row as one bitmap update.
Rows written before keep `contact_ids` NULL and their `contact_id`; the new rows have
`contact_id` 0. SQLite's row triggers keep one row per membership.

A process still running the code from before (the migration runs while it serves) would read
the new rows as changes to contact 0 and keep a wrong index until restarted. So the migration
adds one more trigger by the index's name, a no-op: such a process counts the index's triggers
before every read, finds one more than it knows, and lets the database answer instead.
The log is locked while its triggers change, so that no row is written half by the old
functions and half by the new ones.
"""

from django.db import migrations

LOG = (
    "INSERT INTO wixcache_index_change (contact_id, contact_ids, label_id, added, xid, at) "
    "SELECT 0, array_agg({column} ORDER BY {column}), {label}, {added}, "
    "pg_current_xact_id()::text::bigint, extract(epoch from now())::bigint FROM {rows} {group}"
)


def _log(*, column: str, label: str, added: str, rows: str) -> str:
    # A statement may touch no row: GROUP BY gives no row then, and HAVING stops the
    # ungrouped aggregate's one row of NULL.
    group = "GROUP BY label_id" if label == "label_id" else "HAVING COUNT(*) > 0"
    return LOG.format(column=column, label=label, added=added, rows=rows, group=group)


def _function(name: str, *bodies: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {'; '.join(bodies)}; RETURN NULL; END $$"
    )


LABELS_ADDED = _log(column="contact_id", label="label_id", added="true", rows="new_rows")
LABELS_REMOVED = _log(column="contact_id", label="label_id", added="false", rows="old_rows")
LOCK = "LOCK TABLE wixcache_index_change IN EXCLUSIVE MODE"
FORWARD = [
    LOCK,
    "ALTER TABLE wixcache_index_change ADD COLUMN contact_ids bigint[] NULL",
    _function("wixcache_index_labels_added", LABELS_ADDED),
    _function("wixcache_index_labels_removed", LABELS_REMOVED),
    _function("wixcache_index_labels_changed", LABELS_REMOVED, LABELS_ADDED),
    _function(
        "wixcache_index_contacts_added",
        _log(column="id", label="0", added="true", rows="new_rows"),
    ),
    _function(
        "wixcache_index_contacts_removed",
        _log(column="id", label="0", added="false", rows="old_rows"),
    ),
    # The marker for readers (see above): it never fires, nobody truncates the state row.
    "CREATE FUNCTION wixcache_index_arrays() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RETURN NULL; END $$",
    "CREATE TRIGGER wixcache_index_arrays AFTER TRUNCATE ON wixcache_index_state "
    "FOR EACH STATEMENT EXECUTE FUNCTION wixcache_index_arrays()",
]

OLD_LOG = (
    "INSERT INTO wixcache_index_change (contact_id, label_id, added, xid, at) SELECT {columns}, "
    "pg_current_xact_id()::text::bigint, extract(epoch from now())::bigint FROM {rows}"
)
OLD_ADDED = OLD_LOG.format(columns="contact_id, label_id, true", rows="new_rows")
OLD_REMOVED = OLD_LOG.format(columns="contact_id, label_id, false", rows="old_rows")
BACKWARD = [
    LOCK,
    "DROP TRIGGER IF EXISTS wixcache_index_arrays ON wixcache_index_state",
    "DROP FUNCTION IF EXISTS wixcache_index_arrays()",
    _function("wixcache_index_labels_added", OLD_ADDED),
    _function("wixcache_index_labels_removed", OLD_REMOVED),
    _function("wixcache_index_labels_changed", OLD_REMOVED, OLD_ADDED),
    _function(
        "wixcache_index_contacts_added",
        OLD_LOG.format(columns="id, 0, true", rows="new_rows"),
    ),
    _function(
        "wixcache_index_contacts_removed",
        OLD_LOG.format(columns="id, 0, false", rows="old_rows"),
    ),
    # The array rows become one row per contact again (label weeks count them), under new ids:
    # a reset marker after them sends every reader to build afresh.
    "WITH moved AS (DELETE FROM wixcache_index_change WHERE contact_ids IS NOT NULL "
    "RETURNING id, contact_ids, label_id, added, xid, at) "
    "INSERT INTO wixcache_index_change (contact_id, label_id, added, xid, at) "
    "SELECT u.contact_id, m.label_id, m.added, m.xid, m.at FROM moved m, "
    "unnest(m.contact_ids) AS u(contact_id) ORDER BY m.id",
    "INSERT INTO wixcache_index_change (contact_id, label_id, added, xid, at) VALUES "
    "(0, -1, false, pg_current_xact_id()::text::bigint, extract(epoch from now())::bigint)",
    "ALTER TABLE wixcache_index_change DROP COLUMN contact_ids",
]


def _run(statements: list[str]):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0010_index_prunes")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
