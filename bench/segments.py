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

The contacts page's figures (`bench_pages`) are flattened into `contacts_page_<rows>_ms`,
`contacts_page_deep_<rows>_ms`, `contacts_page_name_...` (name order), each with `_ms_p95` and
`_queries`, `contacts_page_queries_max`, and `stock_admin_page_...` for a stock changelist.
"""

from __future__ import annotations

import argparse
import gc
import html
import json
import os
import re
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


FIRST_NAMES = [
    *(
        [
            "Ada",
            "Ben",
            "Cleo",
            "Dan",
            "Eva",
            "Finn",
            "Gia",
            "Hugo",
            "Ines",
            "Jon",
            "Kai",
            "Lea",
            "Milo",
            "Nia",
            "Omar",
            "Pia",
            "Quin",
            "Rosa",
            "Sam",
        ]
    ),
    *(
        [
            "Tara",
            "Uma",
            "Vik",
            "Wren",
            "Xena",
            "Yara",
            "Zoe",
            "Anna",
            "Boris",
            "Carla",
            "David",
            "Elena",
            "Felix",
            "Greta",
            "Hans",
            "Ida",
        ]
    ),
    *(
        [
            "Jonas",
            "Karin",
            "Lars",
            "Maria",
            "Nils",
            "Olga",
            "Paul",
            "Rita",
            "Stan",
            "Tina",
            "Ulf",
            "Vera",
            "Walt",
            "Xavi",
            "Yusuf",
        ]
    ),
]
LAST_NAMES = [
    *(
        [
            "Smith",
            "Jones",
            "Brown",
            "Taylor",
            "Wilson",
            "Davies",
            "Evans",
            "Thomas",
            "Johnson",
            "Roberts",
            "Walker",
        ]
    ),
    *(
        [
            "Wright",
            "Robinson",
            "Thompson",
            "White",
            "Hughes",
            "Edwards",
            "Green",
            "Hall",
            "Wood",
            "Harris",
            "Lewis",
        ]
    ),
    *(
        [
            "Martin",
            "Jackson",
            "Clarke",
            "Clark",
            "Turner",
            "Hill",
            "Scott",
            "Cooper",
            "Morris",
            "Ward",
            "Moore",
            "King",
        ]
    ),
    *(["Watson", "Baker", "Harrison", "Morgan", "Patel", "Young"]),
]
# Generated in the database. {n}: how many contacts; {rand}: a uniform number in [0, 1).
SEED_SQL = {
    "postgresql": {
        "series": "generate_series(1, {n}) AS g(x)",
        "created": "timestamp '2020-01-01' + g.x * interval '1 minute'",
        "rand": "random()",
    },
    "sqlite": {
        "series": "(WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
        "WHERE x < {n}) SELECT x FROM s) AS g",
        "created": "strftime('%Y-%m-%d %H:%M:%S', '2020-01-01', '+' || g.x || ' minutes')",
        "rand": "((abs(random()) % 1000000) / 1000000.0)",
    },
}
CONTACTS_SQL = (
    "INSERT INTO contacts_contact (wix_id, revision, first_name, last_name, email, phone, "
    "remote_created_at, remote_updated_at) SELECT 'bench-' || g.x, 1, f.name, l.name, "
    "lower(f.name) || '.' || lower(l.name) || g.x || '@example.com', "
    "'+1 555 ' || (g.x % 10000), {created}, {created} FROM {series} "
    "JOIN bench_first f ON f.i = g.x % {firsts} "
    "JOIN bench_last l ON l.i = (g.x / {firsts}) % {lasts}"
)
# One label for each contact (for `share` of them), skewed: the cube of a uniform number.
MEMBERSHIPS_SQL = (
    "INSERT INTO contacts_contactlabel (contact_id, label_id) "
    "SELECT c.id, {first} + CAST({labels} * {rand} * {rand} * {rand} AS integer) "
    "FROM contacts_contact c WHERE {rand} < {share} ON CONFLICT DO NOTHING"
)


def seed_in_sql(contacts: int, labels: int) -> dict:
    """Fill the database in SQL, not through the ORM (seconds at a million): `labels` labels,
    `contacts` contacts with names, emails and phones, and about 3.5 labels each, skewed (the
    lowest-numbered labels are the most used, as real sites' are). The index's change log the
    triggers wrote meanwhile is pruned, as the worker would."""
    from django.db import connection, transaction

    from wixcache.index import index_prune
    from wixcache.models import Label

    started = time.perf_counter()
    sql = SEED_SQL[connection.vendor]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_first (i integer PRIMARY KEY, name text)")
        cursor.execute("CREATE TEMP TABLE bench_last (i integer PRIMARY KEY, name text)")
        cursor.executemany("INSERT INTO bench_first VALUES (%s, %s)", list(enumerate(FIRST_NAMES)))
        cursor.executemany("INSERT INTO bench_last VALUES (%s, %s)", list(enumerate(LAST_NAMES)))
        made = Label.objects.bulk_create(
            Label(key=f"custom.bench-{i}", display_name=f"Bench {i}", namespace="custom")
            for i in range(labels)
        )
        first = min(label.pk for label in made) if made[0].pk else None
        if first is None:
            first = Label.objects.filter(key="custom.bench-0").values_list("pk", flat=True)[0]
        cursor.execute(
            CONTACTS_SQL.format(
                created=sql["created"],
                series=sql["series"].format(n=int(contacts)),
                firsts=len(FIRST_NAMES),
                lasts=len(LAST_NAMES),
            )
        )
        for share in (1.0, 1.0, 1.0, 0.5):  # three labels each, a fourth for half
            cursor.execute(
                MEMBERSHIPS_SQL.format(first=first, labels=labels, rand=sql["rand"], share=share)
            )
    pruned = index_prune(keep_seconds=-1)
    return {"load_seconds": round(time.perf_counter() - started, 1), "log_changes_pruned": pruned}


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


def timed(fn, repeat: int, before=None) -> tuple[float, float]:
    """Median and 95th percentile in milliseconds; `before` runs untimed before each call."""
    fn()
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return round(statistics.median(times), 2), round(p95, 2)


def bench_index(rules, repeat: int) -> dict:
    """The issue's figures: cold (the first view after a write: the index catches up with the
    change log, the count cache is empty) count, first page, both, search, a deep page; the
    same audience with a stock Django ORM query and with the database path labelsite used
    before the index (what answers inside a transaction); the index's build time and size."""
    from django.core.cache import cache
    from django.db import transaction

    from contacts.segments import SegmentRules
    from contacts.selectors import (
        contact_count_and_page_for_segment,
        contact_count_for_segment,
        contact_page_for_segment,
    )
    from wixcache.index import LabelIndex, label_index
    from wixcache.models import Contact, ContactLabel, Label

    label_ids = dict(Label.objects.filter(key__in=rules.keys).values_list("key", "pk"))
    writer = Contact.objects.order_by("pk").first()
    spare = (  # a label the writer does not hold: the write adds it, then takes it away
        Label.objects.exclude(pk__in=label_ids.values())
        .exclude(contactlabel__contact=writer)
        .order_by("pk")
        .first()
    )

    def a_write():  # as a webhook would: one membership added and taken away again
        ContactLabel.objects.create(contact=writer, label=spare)
        ContactLabel.objects.filter(contact=writer, label=spare).delete()
        cache.clear()

    def count(r=rules):
        return contact_count_for_segment(rules=r, label_ids=label_ids)

    def first_page(r=rules):
        return contact_page_for_segment(rules=r, label_ids=label_ids, per_page=25)

    def both(r=rules):  # as the contacts page asks: the index read once for both
        return contact_count_and_page_for_segment(rules=r, label_ids=label_ids, per_page=25)

    searched = SegmentRules(**{**vars(rules), "search": "anna"})
    deep = first_page()
    for _ in range(40):
        if not deep.has_next:
            break
        deep = contact_page_for_segment(
            rules=rules, label_ids=label_ids, per_page=25, after=deep.next_cursor
        )
    cursor = deep.previous_cursor

    def stock():  # the same audience as a stock Django ORM query would ask it
        ids = label_ids
        query = Contact.objects.all()
        for key in rules.all_of:
            query = query.filter(labels=ids[key])
        query = query.filter(labels__in=[ids[k] for k in rules.any_of]).exclude(
            labels__in=[ids[k] for k in rules.none_of]
        )
        query = query.distinct()
        return query.count(), list(query.order_by("remote_created_at", "wix_id")[:25])

    def before_the_index():  # what answers inside a transaction: the membership table
        with transaction.atomic():  # as this figure was first measured: count, then the page
            return count(), first_page()

    figures: dict = {}
    for name, fn, before in (
        ("count_cold", count, a_write),
        ("first_page_cold", first_page, a_write),
        ("count_and_first_page_cold", both, a_write),
        ("search_cold", lambda: both(searched), a_write),
        (
            "deep_page",
            lambda: contact_page_for_segment(
                rules=rules, label_ids=label_ids, per_page=25, after=cursor
            ),
            None,
        ),
        ("stock_admin", stock, None),
        ("database_path", before_the_index, a_write),
    ):
        figures[f"{name}_ms"], figures[f"{name}_ms_p95"] = timed(fn, repeat, before)
    fresh = LabelIndex("default")
    started = time.perf_counter()
    fresh.rebuild()
    figures["index_rebuild_s"] = round(time.perf_counter() - started, 2)
    figures["index_mb"] = round(label_index().nbytes() / 1e6, 1)
    figures["count"] = count()
    figures["search_count"] = count(searched)
    figures["rss_mb"] = round(rss_kb("VmRSS") / 1024, 1)
    return figures


def bench_pages(rules, label_counts: dict, repeat: int) -> dict:
    """The contacts page through Django's test client, as a person opens it: the audience, cold
    (after a write, as `bench_index`'s: the index catches up with the change log, the count
    cache is empty), at 25 and 200 rows, on the first page and on a page in the middle of the
    order (a cursor there, as "Next" links carry it), in created and name order; the queries of
    each view; and a stock ModelAdmin changelist of one label beside it, first page and deep."""
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import clear_url_caches, path, set_urlconf

    from contacts.models import Contact  # the admin's handle, as a stock changelist would use
    from contacts.selectors import SORT_KEYS, Cursor, contact_count_for_segment
    from wixcache.models import Contact as CachedContact
    from wixcache.models import ContactLabel, Label

    user = User.objects.create_superuser("bench", password=None)

    class StockContactAdmin(admin.ModelAdmin):
        list_display = ["first_name", "last_name", "email", "phone", "remote_created_at"]
        list_filter = ["labels"]
        search_fields = ["first_name", "last_name", "email", "phone"]

    def stock_site(name: str, **options) -> admin.AdminSite:
        site = admin.AdminSite(name=name)
        site.register(Contact, type(f"Stock{name}", (StockContactAdmin,), options))
        # labelsite's other pages too: the templates name them (`admin:labels_label_...`).
        for model, model_admin in admin.site._registry.items():
            if model is not Contact:
                site.register(model, type(model_admin))
        return site

    # The stock changelist's page size is the admin's, not the URL's: one site for each.
    stock_sites = {rows: stock_site(f"stock{rows}", list_per_page=rows) for rows in (25, 200)}
    stock_sites[""] = stock_site("stock")

    import labelsite.urls

    urlconf = type("BenchUrls", (), {})
    urlconf.urlpatterns = [
        *(path(f"stock{rows}/", site.urls) for rows, site in stock_sites.items()),
        *labelsite.urls.urlpatterns,
    ]
    sys.modules["bench_urls"] = urlconf

    from django.conf import settings

    settings.ROOT_URLCONF = "bench_urls"
    settings.ALLOWED_HOSTS = ["*"]
    clear_url_caches()
    set_urlconf(None)

    client = Client()
    client.force_login(user)
    one_label = rules.all_of[0]
    label_ids = dict(Label.objects.filter(key__in=rules.keys).values_list("key", "pk"))
    one_label_pk = label_ids[one_label]
    ours_one = f"/admin/contacts/contact/?all={one_label}"
    stock_one = f"/stock/contacts/contact/?labels__id__exact={one_label_pk}"
    audience = "/admin/contacts/contact/?" + rules.querystring()
    writer = CachedContact.objects.order_by("pk").first()
    spare = (  # a label the writer does not hold: the write adds it, then takes it away
        Label.objects.exclude(pk__in=label_ids.values())
        .exclude(contactlabel__contact=writer)
        .order_by("pk")
        .first()
    )

    def a_write():  # as a webhook would: one membership added and taken away again
        ContactLabel.objects.create(contact=writer, label=spare)
        ContactLabel.objects.filter(contact=writer, label=spare).delete()

    def measure(url: str, htmx: bool = False, cold: bool = False) -> dict:
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

        def before():
            if cold:  # as after a write: the index catches up, the count is not in the cache
                a_write()
                cache.clear()

        def get():
            response = client.get(url, **headers)
            assert response.status_code == 200, (url, response.status_code)
            return response

        # Counted by an execute wrapper: CaptureQueriesContext reads `queries_log`, which stops
        # growing at 9,000 entries (reached while loading with DEBUG on), so it reported 0.
        queries = []

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        before()
        with connection.execute_wrapper(count):
            get()
        median, p95 = timed(get, repeat, before)
        return {"median_ms": median, "p95_ms": p95, "queries": len(queries)}

    count = contact_count_for_segment(rules=rules, label_ids=label_ids)
    total = CachedContact.objects.count()

    def deep_url(sort: str, rows: int) -> str:
        """The page a person reaches by "Next" in the middle of the whole order, as its link
        reads: the cursor of the contact there, the page number, the carried count."""
        middle = (
            CachedContact.objects.annotate(sort_key=SORT_KEYS[sort])
            .order_by("sort_key", "wix_id")
            .only("pk", "wix_id", "remote_created_at")[total // 2]
        )
        cursor = Cursor.of(middle, sort)
        number = max(2, count // rows // 2)
        extra = {"sort": sort if sort != "created" else None}
        return "/admin/contacts/contact/?" + rules.querystring(
            after=cursor, page=number, count=count, per_page=rows, **extra
        )

    figures: dict = {"audience_count": count}
    for sort in ("created", "name"):
        for rows in (25, 200):
            first = audience + f"&per_page={rows}" + ("&sort=name" if sort == "name" else "")
            deep = deep_url(sort, rows)
            tag = "" if sort == "created" else "name_"
            figures[f"ours_audience_{tag}{rows}"] = measure(first, cold=True)
            figures[f"ours_audience_{tag}deep_{rows}"] = measure(deep, cold=True)
    # The "Next" link of the first page, followed 40 pages in, as a person would click it.
    url = audience + "&per_page=25"
    for _ in range(40):
        page = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        found = re.search(r'<a href="([^"]+)" hx-get="[^"]+" rel="next">', page)
        if not found:
            break
        url = html.unescape(found.group(1))
    figures["ours_audience_next_40_25"] = measure(url, htmx=True, cold=True)
    figures.update(
        {
            "ours_audience_25_count_cached": measure(audience + "&per_page=25"),
            "ours_audience_200_count_cached": measure(audience + "&per_page=200"),
            "ours_audience_results_only_25": measure(audience + "&per_page=25", htmx=True),
            "ours_one_label_100": measure(ours_one + "&per_page=100", cold=True),
            "stock_one_label_100": measure(stock_one),
        }
    )
    stock_count = label_counts[one_label]
    for rows in (25, 200):
        stock = f"/stock{rows}/contacts/contact/?labels__id__exact={one_label_pk}"
        figures[f"stock_one_label_{rows}"] = measure(stock)
        # The stock changelist pages by OFFSET: the middle page of the label's contacts.
        figures[f"stock_one_label_deep_{rows}"] = measure(f"{stock}&p={stock_count // rows // 2}")
    figures["one_label"] = {"key": one_label, "contacts": stock_count}
    figures["stock_over_ours_ratio"] = round(
        figures["stock_one_label_100"]["median_ms"] / figures["ours_one_label_100"]["median_ms"], 1
    )
    return figures


PAGE_FIGURES = {
    # key in the printed JSON: the figure of `bench_pages` it reads
    "contacts_page_25": "ours_audience_25",
    "contacts_page_200": "ours_audience_200",
    "contacts_page_deep_25": "ours_audience_deep_25",
    "contacts_page_deep_200": "ours_audience_deep_200",
    "contacts_page_name_25": "ours_audience_name_25",
    "contacts_page_name_200": "ours_audience_name_200",
    "contacts_page_name_deep_25": "ours_audience_name_deep_25",
    "contacts_page_name_deep_200": "ours_audience_name_deep_200",
    "contacts_page_next_40_25": "ours_audience_next_40_25",
    "stock_admin_page_25": "stock_one_label_25",
    "stock_admin_page_200": "stock_one_label_200",
    "stock_admin_page_deep_25": "stock_one_label_deep_25",
    "stock_admin_page_deep_200": "stock_one_label_deep_200",
}


def page_summary(pages: dict) -> dict:
    """The contacts page's figures under flat keys: `<name>_ms`, `<name>_ms_p95`,
    `<name>_queries`, and the most queries any of our audience views took."""
    summary = {}
    for name, source in PAGE_FIGURES.items():
        summary[f"{name}_ms"] = pages[source]["median_ms"]
        summary[f"{name}_ms_p95"] = pages[source]["p95_ms"]
        summary[f"{name}_queries"] = pages[source]["queries"]
    summary["contacts_page_queries_max"] = max(
        pages[source]["queries"] for name, source in PAGE_FIGURES.items() if name.startswith("c")
    )
    return summary


def rss_kb(field: str = "VmHWM") -> int:
    """This process's resident memory (VmRSS) or its peak (VmHWM), in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def rss_peak_kb() -> int:
    return rss_kb("VmHWM")


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
    parser.add_argument(
        "--sync-load", action="store_true", help="load through the sync's upsert (slow), not SQL"
    )
    parser.add_argument("--index-only", action="store_true", help="the index figures only")
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
        if args.sync_load:
            result.update(load(args.contacts, args.labels, args.seed))
        else:
            result.update(seed_in_sql(args.contacts, args.labels))
    result["contacts"] = Contact.objects.count()
    User.objects.filter(username="bench").delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    rules, label_counts = audience_rules()
    result.update(bench_index(rules, args.repeat))
    if args.index_only:
        print(json.dumps(result, indent=2))
        return
    result["segment"] = bench_segment(rules, args.repeat)
    if not args.skip_pages:
        result["pages"] = bench_pages(rules, label_counts, args.repeat)
        result.update(page_summary(result["pages"]))
        result["export"] = bench_export()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
