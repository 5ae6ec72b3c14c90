"""The label index: for each label, the set of contacts that carry it, as a compressed bitmap in
memory, so that an audience's count is a few set operations instead of a scan of memberships.

The membership table stays the truth. Database triggers (migration 0004) append every change of
memberships and contacts to a log (on PostgreSQL one row per statement and label, its contact
ids in an array: migration 0011); each process keeps its bitmaps and, before it answers, reads
the log rows it has not applied yet (one small query). A process builds its bitmaps from the
membership table the first time, and again when the log was pruned past it or the database was
reset (a new epoch).

Which rows are new:
- SQLite writes one transaction at a time, so row ids are in commit order: the rows after the
  last id applied.
- On PostgreSQL a row id is taken when the row is written, and an earlier id may commit later.
  Every row carries its transaction id. All transactions below the snapshot's `xmin` have ended,
  so the reader keeps a horizon (the `xmin` of its last read) and reads the rows at or above
  it, skipping those it applied already; rows below the horizon were all seen before. A prune
  since the last read that deleted rows at or above the horizon sends it to build again; the
  state counts prunes, so that an `xmin` held back by a transaction open elsewhere in the
  cluster does not send it after every read.

Threads (runserver, a threaded server): refreshes take a lock; answers read the bitmaps
without it. Each bitmap operation runs whole under the GIL, and a label new to the index gets a
new dict rather than a new key, so a reader never sees a half-applied operation or a dict that
changes while it iterates. But a refresh applies a transaction's rows one by one, so an
answer computed meanwhile may see part of a transaction (a merge's additions without its
removals): in a threaded server a count can be briefly off. Production's gunicorn workers run
one request at a time.

The index answers only from committed data. Inside a transaction that may have written (an
atomic block), `label_index()` gives None and callers ask the database instead: bitmaps shared
by the whole process must never take in a change that may still roll back.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import DatabaseError, connections, transaction
from pyroaring import BitMap

logger = logging.getLogger(__name__)

EVERYONE = 0  # the log's label id for "a contact"
RESET = -1  # the log's label id for "rebuild" (a TRUNCATE)
# The index's triggers by name, the marker of its log's layout included (migration 0011): a
# process finding another number (triggers dropped, or a layout it does not know) steps aside.
TRIGGERS = {"sqlite": 5, "postgresql": 8}
# The trigger count, the state row and the log rows not read yet, in one statement (one
# snapshot). The state comes as the row whose first column is NULL, sorted first; the log rows
# follow in id order, seven narrow columns each (a join would repeat the state on every row).
_REFRESH = (
    "SELECT * FROM (SELECT NULL, ({triggers}), epoch, {pruned}, {xmin}, prunes, NULL "
    "FROM wixcache_index_state "
    "UNION ALL SELECT * FROM (SELECT id, contact_id, label_id, {added}, {xid}, "
    "CAST(NULL AS bigint), {contact_ids} "
    "FROM wixcache_index_change WHERE {after} ORDER BY id LIMIT %s) AS c) AS r "
    "ORDER BY 1 NULLS FIRST"
)
REFRESH_SQL = {
    "postgresql": _REFRESH.format(
        triggers="SELECT COUNT(*) FROM pg_trigger WHERE tgname LIKE 'wixcache_index_%%' "
        "AND tgenabled <> 'D'",
        pruned="pruned_xid",
        xmin="pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        added="added::integer",
        xid="xid",
        contact_ids="contact_ids",
        after="xid >= %s",
    ),
    "sqlite": _REFRESH.format(
        triggers="SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' "
        "AND name LIKE 'wixcache_index_%%'",
        pruned="pruned_id",
        xmin="NULL",
        added="added + 0",  # an expression: the column has no declared type to convert by
        xid="NULL",
        contact_ids="NULL",
        after="id > %s",
    ),
}
PRUNED_SQL = {
    "postgresql": "UPDATE wixcache_index_state SET pruned_id = GREATEST(pruned_id, %s), "
    "pruned_xid = GREATEST(pruned_xid, %s), prunes = prunes + 1",
    "sqlite": "UPDATE wixcache_index_state SET pruned_id = MAX(pruned_id, %s), "
    "pruned_xid = MAX(pruned_xid, %s), prunes = prunes + 1",
}
# The log rows older than this are pruned; a process that read nothing for longer rebuilds.
KEEP_SECONDS = 15 * 60
# Rather than read more log rows than this in one go, build the bitmaps again. (On PostgreSQL a
# row holds a statement's changes to a label, however many: the bound is on rows, which is what
# reading costs, and a row's changes are applied as one bitmap operation.)
REBUILD_AFTER_ROWS = 2_000_000


@dataclass
class LabelIndex:
    """One database's bitmaps in this process, and how far into the log they are."""

    alias: str
    labels: dict[int, BitMap] = field(default_factory=dict)
    everyone: BitMap = field(default_factory=BitMap)
    epoch: int | None = None
    position: int = 0  # SQLite: the last log id applied
    horizon: int = 0  # PostgreSQL: the xmin of the last read
    prunes: int | None = None  # PostgreSQL: the prunes counted in the last read's snapshot
    applied: set[int] = field(default_factory=set)  # PostgreSQL: ids applied at or above it
    built_at: float = 0.0
    rebuilds: int = 0

    def label(self, label_id: int) -> BitMap:
        return self.labels.get(label_id) or BitMap()

    def nbytes(self) -> int:
        """About what the bitmaps take in memory: their compressed size."""
        return sum(len(b.serialize()) for b in (self.everyone, *self.labels.values()))

    def labelled(self) -> BitMap:
        """Every contact with at least one label."""
        return BitMap.union(*self.labels.values()) if self.labels else BitMap()

    # --- keeping up with the log ------------------------------------------------------------

    def refresh(self) -> bool:
        """Apply the log rows not applied yet; build afresh when that cannot be done. False when
        the index cannot be trusted (its triggers are missing): ask the database instead.

        The state row, the trigger count and the new rows come in one statement, so they are
        read in one snapshot: a prune committed in between cannot hide rows from it."""
        connection = connections[self.alias]
        postgresql = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute(
                REFRESH_SQL[connection.vendor],
                [self.horizon if postgresql else self.position, REBUILD_AFTER_ROWS + 1],
            )
            rows = cursor.fetchall()
        if not rows or rows[0][0] is not None:  # no state row: a flushed or restored database
            if connection.in_atomic_block:
                return False
            _new_epoch(self.alias)
            self.rebuild()
            return True
        triggers, epoch, pruned, xmin, prunes = rows[0][1:6]
        if triggers != TRIGGERS[connection.vendor]:
            return False
        if postgresql:
            # Rows at or above the horizon pruned since the last read, maybe unread. The pruned
            # xid alone is not enough: a transaction open anywhere in the cluster holds every
            # xmin below it, and each read would rebuild until that transaction ended.
            behind = prunes != self.prunes and pruned >= self.horizon
        else:
            behind = pruned > self.position
        if epoch != self.epoch or behind or len(rows) - 1 > REBUILD_AFTER_ROWS:
            self.rebuild()
            return True
        changes = rows[1:]
        if postgresql:
            fresh = [row for row in changes if row[0] not in self.applied]
            if not self._apply(fresh):
                self.rebuild()
                return True
            # Rows of transactions below the new horizon have all been read: forget their ids.
            self.applied = {row[0] for row in changes if row[4] >= xmin}
            self.horizon, self.prunes = xmin, prunes
        else:
            if not self._apply(changes):
                self.rebuild()
                return True
            if changes:
                self.position = changes[-1][0]
        return True

    def _apply(self, rows) -> bool:
        """Apply log rows (as REFRESH_SQL reads them) in log order; False on a reset marker.
        A row on PostgreSQL holds a statement's contact ids as an array (migration 0011); on
        SQLite, and in older rows, one contact id."""
        for _id, contact_id, label_id, added, _xid, _prunes, contact_ids in rows:
            if label_id == RESET:
                return False
            if label_id == EVERYONE:
                target = self.everyone
            else:
                target = self.labels.get(label_id)
                if target is None:  # a new dict, not a new key: another thread may iterate it
                    target = BitMap()
                    self.labels = {**self.labels, label_id: target}
            if contact_ids is None:
                if added:
                    target.add(contact_id)
                else:
                    target.discard(contact_id)
            elif added:
                target.update(contact_ids)
            else:
                target.difference_update(BitMap(contact_ids))
        return True

    def rebuild(self) -> None:
        """Build the bitmaps from the membership table, and note where in the log that was."""
        connection = connections[self.alias]
        if connection.vendor == "sqlite":
            self._install(*_read_sqlite(connection))
            return
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, epoch, prunes "
                "FROM wixcache_index_state"
            )
            horizon, epoch, prunes = cursor.fetchone()
            cursor.execute("SELECT id FROM wixcache_index_change WHERE xid >= %s", [horizon])
            applied = {row[0] for row in cursor.fetchall()}
            cursor.execute(
                "SELECT label_id, array_agg(contact_id) FROM contacts_contactlabel "
                "GROUP BY label_id"
            )
            labels = {label_id: BitMap(ids) for label_id, ids in cursor.fetchall()}
            cursor.execute("SELECT array_agg(id) FROM contacts_contact")
            everyone = BitMap(cursor.fetchone()[0] or [])
        self._install(labels, everyone, epoch, 0, horizon, applied)
        self.prunes = prunes  # every prune seen by this snapshot is in the table as read

    def _install(self, labels, everyone, epoch, position, horizon, applied) -> None:
        self.labels, self.everyone, self.epoch = labels, everyone, epoch
        self.position, self.horizon, self.applied = position, horizon, applied
        self.built_at, self.rebuilds = time.monotonic(), self.rebuilds + 1


def _read_sqlite(connection) -> tuple:
    """The bitmaps and the log position in one read transaction. A deferred one, by hand:
    Django's own would BEGIN IMMEDIATE (settings) and hold the write lock while it reads."""
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
        try:
            # The position is past the pruned rows too: after a prune that emptied the log,
            # MAX(id) alone would leave this process "behind" the prune, rebuilding every read.
            cursor.execute(
                "SELECT epoch, MAX(pruned_id, (SELECT COALESCE(MAX(id), 0) "
                "FROM wixcache_index_change)) FROM wixcache_index_state"
            )
            epoch, position = cursor.fetchone()
            grouped: dict[int, list[int]] = {}
            cursor.execute("SELECT label_id, contact_id FROM contacts_contactlabel")
            for label_id, contact_id in cursor.fetchall():
                grouped.setdefault(label_id, []).append(contact_id)
            cursor.execute("SELECT id FROM contacts_contact")
            everyone = BitMap(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("COMMIT")
    labels = {label_id: BitMap(ids) for label_id, ids in grouped.items()}
    return labels, everyone, epoch, position, 0, set()


def _new_epoch(alias: str) -> None:
    """A database without a state row (flushed, restored): give it one; every reader rebuilds."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "INSERT INTO wixcache_index_state (id, epoch) VALUES (1, %s) ON CONFLICT DO NOTHING",
            [random.randint(1, 2**62)],
        )


_indexes: dict[str, LabelIndex] = {}
_lock = threading.Lock()


_resting: dict[str, float] = {}  # alias -> when the index may be tried again after an error
REST_SECONDS = 60


def label_index(alias: str = "default") -> LabelIndex | None:
    """This process's index of the database, brought up to date; None where it must not answer
    (inside a transaction, with its triggers missing, or for a minute after it failed: a
    database error, or a contact id the 32-bit bitmaps cannot hold). The database answers
    then, more slowly; a person sees no error."""
    if connections[alias].in_atomic_block:
        return None
    with _lock:
        if _resting.get(alias, 0.0) > time.monotonic():
            return None
        index = _indexes.get(alias)
        if index is None:
            index = _indexes[alias] = LabelIndex(alias)
        try:
            return index if index.refresh() else None
        except (DatabaseError, OverflowError):
            logger.warning(
                "The label index failed and steps aside for %s s; the database answers.",
                REST_SECONDS,
                exc_info=True,
            )
            _indexes.pop(alias, None)  # half applied: built afresh when tried again
            _resting[alias] = time.monotonic() + REST_SECONDS
            return None


# What the pruned rows add to each label's weeks (`LabelWeek`): memberships only (label 0 is
# the set of contacts, -1 a TRUNCATE), by the Monday of their week in UTC. On PostgreSQL a step
# of the pruning statement (the deleted rows are `gone`), on SQLite a statement before it.
ROLL_UP_PG = (
    "WITH gone AS (DELETE FROM wixcache_index_change WHERE at < %s "
    "RETURNING id, xid, label_id, added, at, COALESCE(cardinality(contact_ids), 1) AS n), "
    "weeks AS (INSERT INTO wixcache_labelweek (label_id, week, gained, lost) "
    "SELECT label_id, date_trunc('week', to_timestamp(at) AT TIME ZONE 'UTC')::date, "
    "COALESCE(SUM(n) FILTER (WHERE added), 0), COALESCE(SUM(n) FILTER (WHERE NOT added), 0) "
    "FROM gone WHERE label_id > 0 GROUP BY 1, 2 "
    "ON CONFLICT (label_id, week) DO UPDATE SET gained = wixcache_labelweek.gained + "
    "excluded.gained, lost = wixcache_labelweek.lost + excluded.lost) "
    "SELECT MAX(id), COALESCE(MAX(xid), 0), COALESCE(SUM(n), 0) FROM gone"
)
ROLL_UP_SQLITE = (
    "INSERT INTO wixcache_labelweek (label_id, week, gained, lost) "
    "SELECT label_id, date(at, 'unixepoch', '-6 days', 'weekday 1'), SUM(added), "
    "SUM(1 - added) FROM wixcache_index_change WHERE at < %s AND label_id > 0 "
    "GROUP BY 1, 2 "
    "ON CONFLICT (label_id, week) DO UPDATE SET gained = wixcache_labelweek.gained + "
    "excluded.gained, lost = wixcache_labelweek.lost + excluded.lost"
)
# A label's weeks: the rolled-up ones and the log's rows not pruned yet, in one query.
WEEKS_SQL = {
    "postgresql": "SELECT week, SUM(gained), SUM(lost) FROM ("
    "SELECT week, gained, lost FROM wixcache_labelweek WHERE label_id = %s AND week >= %s "
    "UNION ALL SELECT date_trunc('week', to_timestamp(at) AT TIME ZONE 'UTC')::date, "
    "added::integer * COALESCE(cardinality(contact_ids), 1), "
    "(1 - added::integer) * COALESCE(cardinality(contact_ids), 1) "
    "FROM wixcache_index_change WHERE label_id = %s"
    ") AS weeks GROUP BY week",
    "sqlite": "SELECT week, SUM(gained), SUM(lost) FROM ("
    "SELECT week, gained, lost FROM wixcache_labelweek WHERE label_id = %s AND week >= %s "
    "UNION ALL SELECT date(at, 'unixepoch', '-6 days', 'weekday 1'), added + 0, 1 - added "
    "FROM wixcache_index_change WHERE label_id = %s"
    ") GROUP BY week",
}


def label_weeks(label_id: int, *, weeks: int, alias: str = "default") -> list[tuple]:
    """The label's last `weeks` weeks, oldest first, as (Monday, gained, lost): rolled-up weeks
    and the change log not pruned yet, added together, in one query."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    totals = {first + timedelta(weeks=n): (0, 0) for n in range(weeks)}
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(WEEKS_SQL[connection.vendor], [label_id, first, label_id])
        for week, gained, lost in cursor.fetchall():
            week = date.fromisoformat(week) if isinstance(week, str) else week
            if week in totals:
                totals[week] = (int(gained or 0), int(lost or 0))
    return [(week, gained, lost) for week, (gained, lost) in totals.items()]


def index_prune(*, alias: str = "default", keep_seconds: int = KEEP_SECONDS) -> int:
    """Delete log rows older than `keep_seconds`, noting the highest id and transaction id
    deleted: a process that had not read up to them builds its bitmaps again. Returns how many
    changes were pruned (on PostgreSQL one row holds a statement's changes to a label).

    What is noted is what was deleted: on PostgreSQL one statement deletes and reports
    (a SELECT then a DELETE would each see what had committed by then, and a writer committing
    in between would lose rows that no note covers); SQLite writes one transaction at a time."""
    cutoff = int(time.time()) - keep_seconds
    connection = connections[alias]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(ROLL_UP_PG, [cutoff])
            pruned_id, pruned_xid, deleted = cursor.fetchone()
        else:
            cursor.execute("SELECT MAX(id), 0 FROM wixcache_index_change WHERE at < %s", [cutoff])
            pruned_id, pruned_xid = cursor.fetchone()
            cursor.execute(ROLL_UP_SQLITE, [cutoff])
            cursor.execute("DELETE FROM wixcache_index_change WHERE at < %s", [cutoff])
            deleted = cursor.rowcount
        if pruned_id is not None:
            cursor.execute(PRUNED_SQL[connection.vendor], [pruned_id, pruned_xid])
        return deleted


def index_check(alias: str = "default") -> list[str]:
    """Differences between a freshly built index and this process's, in plain words. A write
    landing between the two reads shows as a difference: the comparison is made once more."""
    return _differences(alias) and _differences(alias)


def _differences(alias: str) -> list[str]:
    current = label_index(alias)
    if current is None:
        return ["The index cannot be used: its database triggers are missing, or it failed."]
    fresh = LabelIndex(alias)
    fresh.rebuild()
    problems = []
    if fresh.everyone != current.everyone:
        problems.append(
            f"Contacts: {len(fresh.everyone - current.everyone)} missing from the index, "
            f"{len(current.everyone - fresh.everyone)} too many."
        )
    for label_id in sorted(set(fresh.labels) | set(current.labels)):
        want, have = fresh.label(label_id), current.label(label_id)
        if want != have:
            problems.append(
                f"Label {label_id}: {len(want - have)} contacts missing from the index, "
                f"{len(have - want)} too many."
            )
    return problems
