"""Server time and SQL query count of the labels page with 2,000 labels and 100k contacts.

    .venv/bin/python bench/labels_page.py [--requests 20] [--labels 2000] [--contacts 100000]
        [--postgres postgres://labelsite:labelsite@127.0.0.1:5432/labelsite_bench]

Runs once on a fresh SQLite file and once on a fresh PostgreSQL database (created and dropped
here), each in its own process, and prints one JSON document. The data is written directly with
bulk_create; no Wix sandbox is needed to render the page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgres://labelsite:labelsite@127.0.0.1:5432/labelsite_bench"


def _fill(labels: int, contacts: int, seed: int = 1) -> int:
    from wixcache.models import Contact, ContactLabel, Label

    rng = random.Random(seed)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    Label.objects.bulk_create(
        [
            Label(
                key=f"custom.label-{i}",
                display_name=f"Label {i:04d} {rng.choice(['Customers', 'Leads', 'Event', 'VIP'])}",
                namespace="custom",
                label_type=Label.Type.USER_DEFINED,
                remote_created_at=now - timedelta(days=rng.randint(0, 900)),
                remote_updated_at=now - timedelta(days=rng.randint(0, 300)),
            )
            for i in range(labels)
        ],
        batch_size=1000,
    )
    label_ids = list(Label.objects.values_list("pk", flat=True))
    weights = [1 / (rank + 1) for rank in range(len(label_ids))]  # skewed, as real use is
    memberships = 0
    for start in range(0, contacts, 10_000):
        batch = [
            Contact(
                wix_id=f"c-{i:07d}",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                email=f"person{i}@example.com",
                remote_created_at=now - timedelta(minutes=i),
                remote_updated_at=now - timedelta(minutes=i),
            )
            for i in range(start, min(contacts, start + 10_000))
        ]
        Contact.objects.bulk_create(batch, batch_size=5000)
        pks = Contact.objects.filter(wix_id__in=[c.wix_id for c in batch]).values_list(
            "pk", flat=True
        )
        rows = []
        for pk in pks:
            for label_id in set(rng.choices(label_ids, weights, k=rng.randint(0, 5))):
                rows.append(ContactLabel(contact_id=pk, label_id=label_id))
        ContactLabel.objects.bulk_create(rows, batch_size=5000)
        memberships += len(rows)
    return memberships


def _measure(requests: int) -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = User.objects.create_superuser("bench", password=None)
    client = Client()
    client.force_login(user)
    results = {}
    for name, params, headers in (
        ("page", {}, {}),
        ("page_sorted_by_contacts", {"o": "-contacts"}, {}),
        ("htmx_search", {"q": "vip"}, {"HX-Request": "true"}),
    ):
        response = client.get("/admin/labels/label/", params, headers=headers)  # warm up
        assert response.status_code == 200, response.status_code
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get("/admin/labels/label/", params, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/labels/label/", params, headers=headers)
        results[name] = {
            "median_ms": round(statistics.median(timings), 1),
            "min_ms": round(min(timings), 1),
            "max_ms": round(max(timings), 1),
            "sql_queries": len(queries.captured_queries),
            "response_kb": round(len(response.content) / 1024, 1),
        }
    return results


def child(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    sys.path.insert(0, str(ROOT))
    # Production-like: no debug bookkeeping; the test client speaks plain HTTP.
    os.environ.update(DEBUG="false", SECURE_SSL_REDIRECT="false", SECURE_COOKIES="false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test Client's "testserver" host in
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    memberships = _fill(args.labels, args.contacts)
    fill_seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    result = {
        "database": connection.vendor,
        "labels": args.labels,
        "contacts": args.contacts,
        "label_memberships": memberships,
        "fill_seconds": round(fill_seconds, 1),
        "requests_per_measure": args.requests,
        **_measure(args.requests),
    }
    print(json.dumps(result))


def _postgres_admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


def _run_child(database_url: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--requests",
        str(args.requests),
        "--labels",
        str(args.labels),
        "--contacts",
        str(args.contacts),
    ]
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "false"}
    output = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if output.returncode:
        return {"database_url": database_url.split("@")[-1], "error": output.stderr[-2000:]}
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(_run_child(f"sqlite:///{tmp}/bench.sqlite3", args))
    if not args.no_postgres:
        name = urlsplit(args.postgres).path.lstrip("/")
        _postgres_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}"')
        _postgres_admin(args.postgres, f'CREATE DATABASE "{name}"')
        try:
            results.append(_run_child(args.postgres, args))
        finally:
            _postgres_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}"')
    print(json.dumps({"bench": "labels_page", "results": results}, indent=2))


if __name__ == "__main__":
    main()
