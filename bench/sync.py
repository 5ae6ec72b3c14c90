"""Benchmark the sync service against the local sandbox and print JSON.

    .venv/bin/python bench/sync.py --contacts 100000 --labels 300
    DATABASE_URL=postgres://labelsite:labelsite@127.0.0.1:5432/labelsite \
        .venv/bin/python bench/sync.py

Measures: the fetch-only floor (the same pages fetched and decoded, nothing written), a full sync
into an empty cache (wall time, contacts/s, requests, SQL statements per page), an incremental
sync after 1% of contacts changed, peak RSS, the stock Django way of writing the same pages
(`bulk_create(update_conflicts=True)`, fetched the same way) into an empty cache again
(`stock_contacts_per_s`, `ratio_vs_stock`), and a full sync of `--limited-contacts` contacts with
the sandbox and the client at Wix's real 200 requests/minute against the time that limit alone
imposes, and (`bench/shared_budget.py`) four processes sharing the site's budget for
`--budget-seconds`. The database is a scratch one (a temporary SQLite file, or
`<name>_bench_sync` on PostgreSQL), created and dropped here. `--without-memberships` measures
a bound instead of a sync (see its help).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scratch_database(url: str | None) -> tuple[str, callable]:
    """A DATABASE_URL for a fresh scratch database, and how to drop it."""
    if not url or url.startswith("sqlite"):
        folder = tempfile.mkdtemp(prefix="labelsite-bench-")
        path = Path(folder) / "bench.sqlite3"
        return f"sqlite:///{path}", lambda: [p.unlink() for p in Path(folder).glob("*")]
    import psycopg

    base, _, name = url.rpartition("/")
    scratch = f"{name}_bench_sync"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        connection.execute(f'CREATE DATABASE "{scratch}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{scratch}"')

    return f"{base}/{scratch}", drop


def stock_sync(client, label_ids: dict[str, int]) -> int:
    """The same pages written the stock Django way, as a baseline: per page, in a transaction,
    `bulk_create(update_conflicts=True)` of the contacts, then their memberships replaced with
    `delete()` and `bulk_create()`. The same fetching (one page prefetched on a thread)."""
    from django.db import transaction

    from sync.service import prefetched
    from wixcache.models import Contact, ContactLabel

    fields = ["revision", "first_name", "last_name", "email", "phone"]
    fields += ["remote_created_at", "remote_updated_at"]
    stored = 0
    for page in prefetched(client.walk_contacts()):
        with transaction.atomic():
            Contact.objects.bulk_create(
                [
                    Contact(
                        wix_id=c.id,
                        revision=c.revision,
                        first_name=c.first_name[:255],
                        last_name=c.last_name[:255],
                        email=c.email[:320],
                        phone=c.phone[:64],
                        remote_created_at=c.created_date,
                        remote_updated_at=c.changed_at,
                    )
                    for c in page.contacts
                ],
                update_conflicts=True,
                unique_fields=["wix_id"],
                update_fields=fields,
            )
            pks = dict(
                Contact.objects.filter(wix_id__in=[c.id for c in page.contacts]).values_list(
                    "wix_id", "pk"
                )
            )
            ContactLabel.objects.filter(contact_id__in=pks.values()).delete()
            ContactLabel.objects.bulk_create(
                [
                    ContactLabel(contact_id=pks[c.id], label_id=label_ids[key])
                    for c in page.contacts
                    for key in c.label_keys
                    if key in label_ids
                ]
            )
        stored += len(page.contacts)
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--limited-contacts", type=int, default=20_000)
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument(
        "--without-memberships",
        action="store_true",
        help="an upper bound, not a sync: our writer with its membership writes left out (the "
        "most that a contact's label ids on its own row could save); the stock writer unchanged",
    )
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=90,
        help="run bench/shared_budget.py (four processes, one site budget) this long; 0 skips",
    )
    options = parser.parse_args()

    given_url = os.environ.get("DATABASE_URL")
    database_url, drop_database = scratch_database(given_url)
    os.environ.update(
        DATABASE_URL=database_url,
        SECRET_KEY="bench",
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="labelsite.settings",
        SYNC_INTERVAL_SECONDS="0",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from labelsite.wix import WixClient
    from sync.models import SyncRun
    from sync.service import sync_wix
    from tests.sandbox import SandboxProcess
    from wixcache.index import index_check, label_index
    from wixcache.models import Contact, ContactLabel, Label

    call_command("migrate", verbosity=0)
    result: dict = {
        "database": connection.vendor,
        "contacts": options.contacts,
        "labels": options.labels,
    }
    if options.without_memberships:
        import wixcache.store

        wixcache.store._memberships_set = lambda *args, **kwargs: None
        result["without_memberships"] = True

    def client_for(sandbox: SandboxProcess, per_minute: int = 0) -> WixClient:
        return WixClient(
            base_url=sandbox.url,
            api_key=sandbox.api_key,
            site_id=sandbox.site_id,
            max_requests_per_minute=per_minute,
        )

    statements = 0

    def count_statements(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    try:
        with SandboxProcess(contacts=options.contacts, labels=options.labels, seed=1) as sandbox:
            with client_for(sandbox) as client:
                started = time.perf_counter()
                fetched = sum(len(page.contacts) for page in client.walk_contacts())
                floor = time.perf_counter() - started
                result["fetch_only"] = {
                    "seconds": round(floor, 2),
                    "contacts_per_second": round(fetched / floor),
                }

            with client_for(sandbox) as client, connection.execute_wrapper(count_statements):
                per_page: list[int] = []
                index_ms: list[float] = []
                marks = [0]
                label_index()  # built while the cache is empty: then kept from the change log

                def mark(run, marks=marks, per_page=per_page) -> None:
                    per_page.append(statements - marks[0])
                    # What a process pays to bring its label index up to date after the page
                    # (kept out of the sync's own time below).
                    index_started = time.perf_counter()
                    label_index()
                    index_ms.append((time.perf_counter() - index_started) * 1000)
                    marks[0] = statements

                started = time.perf_counter()
                run = sync_wix(kind=SyncRun.Kind.FULL, client=client, on_progress=mark)
                took = time.perf_counter() - started - sum(index_ms) / 1000
            # Peak so far: the fetch-only pass and the full sync (pages are streamed).
            result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            assert Contact.objects.count() == options.contacts
            result["full_sync"] = {
                "seconds": round(took, 2),
                "contacts_per_second": round(options.contacts / took),
                "requests": run.requests,
                "pages": run.pages,
                "sql_statements_per_page_max": max(per_page[1:] or per_page),
                "vs_fetch_only": round(took / floor, 2),
                "memberships": ContactLabel.objects.count(),
            }
            result["contacts_per_s"] = result["full_sync"]["contacts_per_second"]
            result["fetch_floor_contacts_per_s"] = result["fetch_only"]["contacts_per_second"]
            median_ms = statistics.median(index_ms[1:] or index_ms)
            result["index_update_ms_per_page"] = round(median_ms, 2)
            result["index_update_ms_per_page_p95"] = round(
                sorted(index_ms)[round(0.95 * (len(index_ms) - 1))], 2
            )
            assert index_check() == [], "the index kept during the sync differs from the table"

            with client_for(sandbox) as client:
                changed = [c["id"] for c in sandbox.dump()["contacts"][::100]]
                key = Label.objects.filter(label_type="USER_DEFINED").order_by("pk").last().key
                sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 1_000_000})
                for start in range(0, len(changed), 1000):
                    job = client.bulk_add_remove_labels(
                        filter={"id": {"$in": changed[start : start + 1000]}}, add=[key]
                    )
                    while client.get_bulk_job(job).status != "COMPLETED":
                        time.sleep(0.05)
                started = time.perf_counter()
                run = sync_wix(kind=SyncRun.Kind.INCREMENTAL, client=client)
                took_incremental = time.perf_counter() - started
            result["incremental_sync_1_percent"] = {
                "changed": len(changed),
                "seconds": round(took_incremental, 2),
                "contacts_read": run.contacts_seen,
                "requests": run.requests,
                "share_of_full": round(took_incremental / took, 3),
            }

            # The stock Django upsert of the same pages, into an empty cache again, in this run.
            ContactLabel.objects.all().delete()
            Contact.objects.all().delete()
            with client_for(sandbox) as client:
                label_ids = dict(Label.objects.values_list("key", "pk"))
                started = time.perf_counter()
                stored = stock_sync(client, label_ids)
                took_stock = time.perf_counter() - started
            assert stored == Contact.objects.count() == options.contacts
            result["stock_contacts_per_s"] = round(stored / took_stock)
            result["ratio_vs_stock"] = round(
                result["contacts_per_s"] / result["stock_contacts_per_s"], 2
            )
            result["share_of_fetch_floor"] = round(
                result["contacts_per_s"] / result["fetch_floor_contacts_per_s"], 2
            )

        if not options.skip_limited:
            ContactLabel.objects.all().delete()
            Contact.objects.all().delete()
            Label.objects.all().delete()
            with (
                SandboxProcess(
                    contacts=options.limited_contacts,
                    labels=options.labels,
                    seed=2,
                    rate_limit=200,
                ) as sandbox,
                client_for(sandbox, per_minute=200) as client,
            ):
                started = time.perf_counter()
                run = sync_wix(kind=SyncRun.Kind.FULL, client=client)
                took_limited = time.perf_counter() - started
                served = sandbox.stats()["byStatus"]
            imposed = (run.requests - 1) * 60 / 200
            result["rate_limited_full_sync"] = {
                "contacts": options.limited_contacts,
                "requests": run.requests,
                "seconds": round(took_limited, 2),
                "limit_alone_seconds": round(imposed, 2),
                "ratio": round(took_limited / imposed, 3),
                "answered_429": served.get("429", 0),
            }
    finally:
        drop_database()
    if options.budget_seconds > 0:
        # Four processes (a person's clicks, two workers, a sync) against one site budget.
        script = str(ROOT / "bench" / "shared_budget.py")
        shared = subprocess.run(
            [sys.executable, script, "--seconds", str(options.budget_seconds)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": given_url or ""},
            capture_output=True,
            text=True,
            check=True,
        )
        result["four_processes_one_budget"] = json.loads(shared.stdout)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
