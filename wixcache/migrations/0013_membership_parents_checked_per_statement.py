"""On PostgreSQL a membership's contact and label are checked once per statement instead of by
two foreign keys: the same protection, set-based.

A foreign key checks each new row by itself, through a trigger queued per row and run at commit
(Django makes them deferred): a sync page of 1,000 contacts writes about 3,500 memberships,
7,000 checks, about a quarter of the page's time. The triggers here do what those checks do,
once per statement, under READ COMMITTED (the isolation this app runs with):

- A statement that inserts or updates memberships locks every contact and label its rows name
  `FOR KEY SHARE`, in id order (what a foreign key check takes per row), and fails with
  `foreign_key_violation` (an `IntegrityError`) when one is not there. A deletion of that
  contact or label waits until the membership's transaction ends, and then fails (below).
- A statement that deletes contacts or labels fails when a membership still names one of them,
  as seen once the deletion holds its rows: a membership written meanwhile by another
  transaction has either committed (and is seen) or waits for the lock on its parent, which it
  then finds gone, and fails. Either way no membership outlives its contact or label.
- Changing a referenced id, or truncating contacts or labels while memberships remain, fails.

Checks happen at the end of each statement, not at commit: memberships go before their contact
or label, as Django's cascades and `contacts_delete` already do. The insert and update triggers
are named to fire after the segment-version trigger (PostgreSQL fires them in name order), so a
writer locks the version row before any contact or label, in the one lock order (see
`wixcache.store.memberships_write_lock`), even one that did not take that lock first.

Only the database changes, and only PostgreSQL's: SQLite keeps its foreign keys (one writer at a
time), and Django's model state keeps them too, so that a later operation that rebuilds the
table on SQLite makes them again. On PostgreSQL such an operation would add the foreign keys
back beside the triggers: correct, only slower.
"""

from django.db import migrations

MISSING = (
    "SELECT count(DISTINCT {column}) INTO named FROM new_rows; "
    "PERFORM 1 FROM {table} WHERE id IN (SELECT {column} FROM new_rows) "
    "ORDER BY id FOR KEY SHARE; "
    "GET DIAGNOSTICS found = ROW_COUNT; "
    "IF found <> named THEN "
    "SELECT n.{column} INTO missing FROM new_rows AS n "
    "WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE id = n.{column}) LIMIT 1; "
    "RAISE EXCEPTION 'a membership names {what} %, which is not in the cache', missing "
    "USING ERRCODE = 'foreign_key_violation'; "
    "END IF"
)
# LIMIT 1 inside LATERAL keeps it one index probe per deleted row (no scan of memberships).
NAMED = (
    "SELECT o.id INTO named FROM old_rows AS o CROSS JOIN LATERAL "
    "(SELECT 1 FROM contacts_contactlabel WHERE {column} = o.id LIMIT 1) AS m LIMIT 1; "
    "IF named IS NOT NULL THEN "
    "RAISE EXCEPTION 'memberships still name {what} %', named "
    "USING ERRCODE = 'foreign_key_violation'; "
    "END IF"
)
# Labels before contacts: the order a sync page locks them in.
PARENTS = (("labels_label", "label_id", "label"), ("contacts_contact", "contact_id", "contact"))
# What a page of the sync locks, in its order, taken at once before the schema changes: the
# migration then waits for pages in flight instead of locking a table ahead of them.
LOCK = "LOCK TABLE labels_label, contacts_contact, contacts_contactlabel IN ACCESS EXCLUSIVE MODE"


def _function(name: str, declare: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"DECLARE {declare} BEGIN {body}; RETURN NULL; END $$"
    )


POSTGRESQL_FORWARD = [
    _function(
        "contacts_contactlabel_parents",
        "named bigint; found bigint; missing bigint;",
        "; ".join(
            MISSING.format(table=table, column=column, what=what) for table, column, what in PARENTS
        ),
    ),
    *(
        f"CREATE TRIGGER memberships_parents_{event.lower()} AFTER {event} "
        "ON contacts_contactlabel REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION contacts_contactlabel_parents()"
        for event in ("INSERT", "UPDATE")
    ),
]
for table, column, what in PARENTS:
    POSTGRESQL_FORWARD += [
        _function(
            f"{table}_memberships_gone", "named bigint;", NAMED.format(column=column, what=what)
        ),
        f"CREATE TRIGGER {table}_memberships_gone AFTER DELETE ON {table} "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {table}_memberships_gone()",
        _function(
            f"{table}_id_kept",
            "",
            "IF EXISTS (SELECT 1 FROM contacts_contactlabel WHERE "
            f"{column} = OLD.id) THEN RAISE EXCEPTION 'memberships name {what} %, whose id "
            "cannot change', OLD.id USING ERRCODE = 'foreign_key_violation'; END IF",
        ),
        f"CREATE TRIGGER {table}_id_kept AFTER UPDATE OF id ON {table} FOR EACH ROW "
        f"WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {table}_id_kept()",
        # After the whole TRUNCATE: memberships truncated in the same statement are gone then.
        _function(
            f"{table}_truncated",
            "",
            "IF EXISTS (SELECT 1 FROM contacts_contactlabel) THEN RAISE EXCEPTION "
            f"'{table} cannot be truncated while memberships remain' "
            "USING ERRCODE = 'foreign_key_violation'; END IF",
        ),
        f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_truncated()",
    ]

POSTGRESQL_BACKWARD = [
    LOCK,
    "DROP TRIGGER IF EXISTS memberships_parents_insert ON contacts_contactlabel",
    "DROP TRIGGER IF EXISTS memberships_parents_update ON contacts_contactlabel",
    "DROP FUNCTION IF EXISTS contacts_contactlabel_parents()",
]
for table, column, _what in PARENTS:
    POSTGRESQL_BACKWARD += [
        *(
            f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"
            for name in ("memberships_gone", "id_kept", "truncated")
        ),
        *(
            f"DROP FUNCTION IF EXISTS {table}_{name}()"
            for name in ("memberships_gone", "id_kept", "truncated")
        ),
        f"ALTER TABLE contacts_contactlabel ADD CONSTRAINT contacts_contactlabel_{column}_fk "
        f"FOREIGN KEY ({column}) REFERENCES {table} (id) DEFERRABLE INITIALLY DEFERRED",
    ]

FOREIGN_KEYS = (
    "SELECT conname FROM pg_constraint WHERE contype = 'f' "
    "AND conrelid = 'contacts_contactlabel'::regclass "
    "AND confrelid IN ('contacts_contact'::regclass, 'labels_label'::regclass)"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(LOCK)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FOREIGN_KEYS)
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        schema_editor.execute(
            f"ALTER TABLE contacts_contactlabel DROP CONSTRAINT {schema_editor.quote_name(name)}"
        )
    for sql in POSTGRESQL_FORWARD:
        schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in POSTGRESQL_BACKWARD:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0012_contact_wix_id_no_like_index")]

    operations = [migrations.RunPython(forward, backward)]
