"""Benchmark audiences: segment count + first page, the contacts page, stock admin, CSV export.

    .venv/bin/python bench/segments.py                      # SQLite, 100k contacts, 300 labels
    DATABASE_URL=postgres://labelsite:labelsite@127.0.0.1:5432/labelsite_bench \
        .venv/bin/python bench/segments.py [--contacts 1000000]

Builds its own database (a temporary SQLite file, or the named PostgreSQL database, dropped and
created), fills it with the sandbox's realistic data (skewed label use) through the sync's own
page upsert, then prints one JSON object of figures (medians in milliseconds).

Counts are cached under the segment version (see `contacts.selectors`), so the figures come in
two kinds: cold ones clear the cache before every run, as the first view after any write would
find it (`count_and_first_page_ms`, `ours_audience_25`, ...), and `*_cached` ones view the same
audience again with nothing written in between. Query counts are counted by an execute wrapper.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prepare_database(url: str | None, contacts: int, keep: bool = False) -> str:
    if keep:
        path = Path(tempfile.gettempdir()) / f"labelsite-bench-{contacts}.sqlite3"
        return url or f"sqlite:///{path}"
    if url and url.startswith("postgres"):
        import psycopg

        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return url
    path = Path(tempfile.gettempdir()) / f"labelsite-bench-{contacts}.sqlite3"
    path.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def median_ms(fn, repeat: int) -> float:
    fn()  # warm caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def load(contacts: int, labels: int, seed: int) -> dict:
    from labelsite.wix.records import WixContact, WixLabel, records_from_json
    from wixcache.store import contacts_store, labels_replace
    from wixsandbox import seed as sandbox_seed

    started = time.perf_counter()
    done = 0
    # Batches of generated contacts keep memory small at a million; every batch uses one seed's
    # labels (the same names and keys), only the contacts differ.
    batch = min(contacts, 100_000)
    for index, start in enumerate(range(0, contacts, batch)):
        label_dicts, people, _ = sandbox_seed.generate(min(batch, contacts - start), labels, seed)
        if index == 0:
            system = [
                {"key": "contacts.customers", "displayName": "Customers", "labelType": "SYSTEM"},
                {
                    "key": "contacts.contacted-me",
                    "displayName": "Contacted Me",
                    "labelType": "SYSTEM",
                },
            ]
            labels_replace(records_from_json(system + label_dicts, WixLabel))
        if index:
            for person in people:  # fresh ids for the repeated batches
                person["id"] = f"{index:04d}{person['id'][4:]}"
        for page in range(0, len(people), 1000):
            contacts_store(records_from_json(people[page : page + 1000], WixContact))
        done += len(people)
        del people
        gc.collect()
    return {"load_seconds": round(time.perf_counter() - started, 1), "contacts": done}


def audience_rules():
    from django.db.models import Count

    from contacts.segments import SegmentRules
    from wixcache.models import Label

    # Skewed use: ALL of the two most used labels, ANY of three mid ones, NONE of the third.
    ranked = list(
        Label.objects.annotate(n=Count("contactlabel")).order_by("-n").values_list("key", "n")
    )
    keys = [k for k, _ in ranked]
    rules = SegmentRules(all_of=tuple(keys[:2]), any_of=tuple(keys[5:8]), none_of=(keys[2],))
    return rules, dict(ranked)


def bench_segment(rules, repeat: int) -> dict:
    from django.core.cache import cache

    from contacts.selectors import contact_count_for_segment, contact_page_for_segment
    from wixcache.models import Label

    def count_and_first_page():  # as the contacts page does it
        label_ids = dict(Label.objects.filter(key__in=rules.keys).values_list("key", "pk"))
        count = contact_count_for_segment(rules=rules, label_ids=label_ids)
        page = contact_page_for_segment(rules=rules, label_ids=label_ids, per_page=25, count=count)
        return count, page

    def count_and_first_page_cold():  # the first view after any write: the count is not cached
        cache.clear()
        return count_and_first_page()

    count, page = count_and_first_page()
    deep = contact_page_for_segment(rules=rules, per_page=25, count=count)
    for _ in range(40):
        if not deep.has_next:
            break
        deep = contact_page_for_segment(
            rules=rules, per_page=25, after=deep.next_cursor, count=count
        )
    cursor = deep.next_cursor or deep.previous_cursor
    return {
        "rules": rules.as_json(),
        "count": count,
        "first_page_rows": len(page.contacts),
        "count_and_first_page_ms": median_ms(count_and_first_page_cold, repeat),
        "count_and_first_page_cached_ms": median_ms(count_and_first_page, repeat),
        "count_ms": median_ms(lambda: contact_count_for_segment(rules=rules, cached=False), repeat),
        "first_page_ms": median_ms(
            lambda: contact_page_for_segment(rules=rules, count=count), repeat
        ),
        "page_40_ms": median_ms(
            lambda: contact_page_for_segment(rules=rules, after=cursor, count=count), repeat
        ),
    }


def bench_pages(rules, label_counts: dict, repeat: int) -> dict:
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import clear_url_caches, path, set_urlconf

    from contacts.models import Contact  # the admin's handle, as a stock changelist would use

    user = User.objects.create_superuser("bench", password=None)

    class StockContactAdmin(admin.ModelAdmin):
        list_display = ["first_name", "last_name", "email", "phone", "remote_created_at"]
        list_filter = ["labels"]
        search_fields = ["first_name", "last_name", "email", "phone"]

    stock_site = admin.AdminSite(name="stock")
    stock_site.register(Contact, StockContactAdmin)

    import labelsite.urls

    urlconf = type("BenchUrls", (), {})
    urlconf.urlpatterns = [path("stock/", stock_site.urls), *labelsite.urls.urlpatterns]
    sys.modules["bench_urls"] = urlconf

    from django.conf import settings

    settings.ROOT_URLCONF = "bench_urls"
    settings.ALLOWED_HOSTS = ["*"]
    clear_url_caches()
    set_urlconf(None)

    client = Client()
    client.force_login(user)
    one_label = rules.all_of[0]
    from wixcache.models import Label

    one_label_pk = Label.objects.get(key=one_label).pk
    ours_one = f"/admin/contacts/contact/?all={one_label}"
    stock_one = f"/stock/contacts/contact/?labels__id__exact={one_label_pk}"
    audience = "/admin/contacts/contact/?" + rules.querystring()

    def measure(url: str, htmx: bool = False, cold: bool = False) -> dict:
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

        def get():
            if cold:  # as after a write: the audience's count is not in the cache
                cache.clear()
            response = client.get(url, **headers)
            assert response.status_code == 200, (url, response.status_code)
            return response

        # Counted by an execute wrapper: CaptureQueriesContext reads `queries_log`, which stops
        # growing at 9,000 entries (reached while loading with DEBUG on), so it reported 0.
        queries = []

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            get()
        return {"median_ms": median_ms(get, repeat), "queries": len(queries)}

    figures = {
        "ours_audience_25": measure(audience + "&per_page=25", cold=True),
        "ours_audience_200": measure(audience + "&per_page=200", cold=True),
        "ours_audience_25_count_cached": measure(audience + "&per_page=25"),
        "ours_audience_200_count_cached": measure(audience + "&per_page=200"),
        "ours_audience_results_only_25": measure(audience + "&per_page=25", htmx=True),
        "ours_one_label_100": measure(ours_one + "&per_page=100", cold=True),
        "stock_one_label_100": measure(stock_one),
    }
    figures["one_label"] = {"key": one_label, "contacts": label_counts[one_label]}
    figures["stock_over_ours_ratio"] = round(
        figures["stock_one_label_100"]["median_ms"] / figures["ours_one_label_100"]["median_ms"], 1
    )
    return figures


def rss_peak_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def bench_export() -> dict:
    from contacts.export import contact_csv_rows
    from contacts.segments import SegmentRules

    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:  # reset the peak RSS mark (VmHWM)
        refs.write("5")
    before = rss_peak_kb()
    started = time.perf_counter()
    rows = contact_csv_rows(rules=SegmentRules(), excel=True)
    header = next(rows)  # yielded before any query runs: the first data row is what counts
    first = next(rows)
    first_byte_ms = (time.perf_counter() - started) * 1000
    size, count = len(header) + len(first), 1
    for row in rows:
        size += len(row)
        count += 1
    total_s = time.perf_counter() - started
    return {
        "rows": count,
        "bytes": size,
        "first_byte_ms": round(first_byte_ms, 1),
        "total_seconds": round(total_s, 2),
        "peak_rss_growth_mb": round((rss_peak_kb() - before) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--skip-pages", action="store_true", help="segment figures only")
    parser.add_argument("--reuse", action="store_true", help="keep the data of the last run")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = prepare_database(
        os.environ.get("DATABASE_URL"), args.contacts, keep=args.reuse
    )
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
    # Production-like: no debug bookkeeping; the test client speaks plain HTTP.
    os.environ.update(DEBUG="false", SECURE_SSL_REDIRECT="false", SECURE_COOKIES="false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    result = {"database": connection.vendor, "labels": args.labels}
    from django.contrib.auth.models import User

    from wixcache.models import Contact

    if not (args.reuse and Contact.objects.exists()):
        result.update(load(args.contacts, args.labels, args.seed))
    User.objects.filter(username="bench").delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    rules, label_counts = audience_rules()
    result["segment"] = bench_segment(rules, args.repeat)
    if not args.skip_pages:
        result["pages"] = bench_pages(rules, label_counts, args.repeat)
        result["export"] = bench_export()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
