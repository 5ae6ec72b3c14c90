"""Benchmark "Audiences that keep themselves" (issue 14): label from a list, nested rules.

    .venv/bin/python bench/living.py                        # SQLite, 100k contacts
    DATABASE_URL=postgres://labelsite:labelsite@127.0.0.1:5432/labelsite_bench \
        .venv/bin/python bench/living.py [--contacts 100000] [--rows 100000]

Builds its own database as `bench/segments.py` does (its SQL seeding: names, emails, phones,
skewed labels), writes a CSV of `--rows` rows (nine in ten the email of a contact, in any case,
one in ten an address nobody has), and reads it through the page as a person does: one POST of
the file to "Label from a list" with a label chosen, which reads and matches every row, keeps
the list and answers with how many matched, how many already have the label and how many were
not found. Prints one JSON object:

- `list_preview_s`: median seconds of that POST (the upload parsed, every row matched, the list
  kept, the label's preview counted);
- `list_rss_growth_mb`: how far the process's peak resident memory rose during one such POST
  (the test client's own copy of the request body included), and `list_rss_growth_mb_small` the
  same for a list a tenth as long: memory flat means the two are close.

- `nested_vs_flat_ratio`: the contacts page's results (the count and the first page, as the
  builder asks for them) for a nested rule of depth 3 over the 8 most used labels, divided by
  the same for the flat ALL/ANY/NONE audience of those labels (medians of `--repeat` x 3
  interleaved requests); `nested_ms` and `flat_ms` are the two medians.

The living-label keys issue 14 names are printed once living labels exist.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import segments  # noqa: E402  (bench/segments.py: database set-up and seeding)


def write_list(path: Path, rows: int, seed: int) -> None:
    from wixcache.models import Contact

    emails = list(Contact.objects.exclude(email="").values_list("email", flat=True))
    pick = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write("Name,Email\n")
        for n in range(rows):
            if n % 10 == 9:
                out.write(f"Stranger {n},stranger{n}@nowhere.example\n")
            else:
                email = pick.choice(emails)
                out.write(f"Guest {n},{email.upper() if n % 3 == 0 else email}\n")


def preview_once(client, path: Path, label_key: str) -> tuple[float, float]:
    """Seconds and peak-RSS growth (MB) of one POST of the file."""
    from django.urls import reverse

    from contacts.models import ContactList

    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:  # reset the peak RSS mark (VmHWM)
        refs.write("5")
    before = segments.rss_peak_kb()
    started = time.perf_counter()
    with path.open("rb") as upload:
        response = client.post(
            reverse("admin:contacts_contact_from_list"),
            {"file": upload, "chosen": label_key},
            headers={"HX-Request": "true"},
        )
    seconds = time.perf_counter() - started
    growth = (segments.rss_peak_kb() - before) / 1024
    assert response.status_code == 200, response.content[:500]
    assert b"will get" in response.content or b"have it already" in response.content
    ContactList.objects.all().delete()
    return seconds, growth


def rule_timings(client, keys: list[str], repeat: int) -> tuple[float, float]:
    """Median milliseconds of the results request for the flat audience and the nested one."""
    from django.urls import reverse

    a, b, c, d, e, f, g, h = keys
    flat = {"all": [a, b], "any": [c, d, e], "none": [f, g, h]}
    label = [{"label": key} for key in keys]
    tree = {  # depth 3: ANY of (ALL of a, b, NONE of f, g), (ALL of (ANY of c, d, e), NOT h)
        "v": 1,
        "any": [
            {"all": [label[0], label[1], {"none": [label[5], label[6]]}]},
            {"all": [{"any": [label[2], label[3], label[4]]}, {"none": [label[7]]}]},
        ],
    }
    nested = {"rule": json.dumps(tree, separators=(",", ":"))}
    url, htmx = reverse("admin:contacts_contact_changelist"), {"HX-Request": "true"}
    timings: dict[str, list[float]] = {"flat": [], "nested": []}
    for _ in range(repeat):
        for name, params in (("flat", flat), ("nested", nested)):
            started = time.perf_counter()
            response = client.get(url, params, headers=htmx)
            timings[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            assert b"contact-count" in response.content
    return statistics.median(timings["flat"]), statistics.median(timings["nested"])


def living_eval(keys: list[str], *, audiences: int = 50, page: int = 1000, seed: int = 7) -> dict:
    """`audiences` living labels, each already equal to its audience (ALL of one label, ANY of
    two, NONE of one, or a nested rule of them); then a page of `page` contacts changes labels
    (as a sync page writes them), and a pass re-reads every living audience: once reading only
    (`living_eval_*`: what the audiences' difference costs), then for real (`living_pass_*`:
    with an operation and its jobs written, in a transaction each, for every label that
    changed). Milliseconds, wall and database; the median of three pages."""
    from django.db import connection
    from django.utils import timezone

    from contacts import rules as nested
    from contacts.living import living_labels_keep
    from contacts.models import Audience, LivingLabel
    from contacts.segments import SegmentRules
    from contacts.selectors import segment_members
    from journal.models import Operation
    from labels.models import LabelJob
    from wixcache.index import label_index
    from wixcache.models import Contact, ContactLabel, Label
    from wixcache.store import memberships_add, memberships_remove

    pick = random.Random(seed)
    ids = dict(Label.objects.filter(key__in=keys).values_list("key", "pk"))
    for n in range(audiences):
        a, b, c, d = pick.sample(keys, 4)
        if n % 2:
            rules = SegmentRules(all_of=(a,), any_of=(b, c), none_of=(d,))
        else:
            tree = {"any": [{"all": [{"label": a}, {"without": d}]}, {"label": b}]}
            rules = SegmentRules(tree=nested.from_document(tree))
        audience = Audience.objects.create(name=f"Living {n}", rules=rules.as_json())
        label = Label.objects.create(
            key=f"custom.living-{n}", display_name=f"Living {n}", namespace="custom"
        )
        members = segment_members(rules, ids, label_index())
        memberships_add(contact_pks=list(members), label_pks=[label.pk])
        LivingLabel.objects.create(audience=audience, label_key=label.key)
    everyone = list(Contact.objects.values_list("pk", flat=True))
    living_labels_keep()  # warm: every audience equal, nothing to queue
    walls, dbs, passes = [], [], []
    spent = [0.0]  # seconds in the database, this page

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started

    for _ in range(3):
        changed = pick.sample(everyone, page)
        key = pick.choice(keys)
        holding = set(
            ContactLabel.objects.filter(label_id=ids[key], contact_id__in=changed).values_list(
                "contact_id", flat=True
            )
        )
        memberships_remove(contact_pks=list(holding), label_pks=[ids[key]])
        memberships_add(
            contact_pks=[pk for pk in changed if pk not in holding], label_pks=[ids[key]]
        )
        label_index()  # the page's writes read into the index, as any request would first
        spent[0] = 0.0
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            living_labels_keep(why="bench", dry_run=True)
        walls.append((time.perf_counter() - started) * 1000)
        dbs.append(spent[0] * 1000)
        spent[0] = 0.0
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            queued = living_labels_keep(why="bench")["changed"]
        passes.append(((time.perf_counter() - started) * 1000, spent[0] * 1000, queued))
        # Settle as the jobs would: the labels equal their audiences again, for the next page.
        for job in LabelJob.objects.filter(status=LabelJob.Status.QUEUED):
            pks = list(
                Contact.objects.filter(wix_id__in=job.contact_ids).values_list("pk", flat=True)
            )
            label_pk = Label.objects.get(key=(job.add_keys or job.remove_keys)[0]).pk
            if job.add_keys:
                memberships_add(contact_pks=pks, label_pks=[label_pk])
            else:
                memberships_remove(contact_pks=pks, label_pks=[label_pk])
            job.status, job.finished_at = LabelJob.Status.SUCCEEDED, timezone.now()
            job.save(update_fields=["status", "finished_at"])
        Operation.objects.filter(kind=Operation.Kind.LIVING_LABEL).update(state="done")
    return {
        "living_audiences": audiences,
        "living_page": page,
        "living_eval_ms_per_page": round(statistics.median(dbs), 1),
        "living_eval_wall_ms_per_page": round(statistics.median(walls), 1),
        "living_pass_ms_per_page": round(statistics.median(p[0] for p in passes), 1),
        "living_pass_db_ms_per_page": round(statistics.median(p[1] for p in passes), 1),
        "living_labels_changed_per_page": round(statistics.median(p[2] for p in passes)),
    }


def webhook_requests(contacts: int = 2000, living: int = 5) -> dict:
    """In a child process (its own small SQLite database and sandbox): `living` living labels,
    then one contact changed in Wix and stored as a webhook stores it; one pass and its jobs.
    Counts the sandbox's requests per living label that changed."""
    env = {**os.environ, "LIVING_WEBHOOK_CHILD": str(contacts), "LIVING_COUNT": str(living)}
    with tempfile.TemporaryDirectory() as folder:
        env["DATABASE_URL"] = f"sqlite:///{folder}/webhook.sqlite3"
        out = subprocess.run(
            [sys.executable, __file__], env=env, capture_output=True, text=True, check=True
        )
    return json.loads(out.stdout)


def webhook_child() -> None:
    """The child of `webhook_requests`."""
    contacts, living = int(os.environ["LIVING_WEBHOOK_CHILD"]), int(os.environ["LIVING_COUNT"])
    os.environ.update(SECRET_KEY="bench", DJANGO_SETTINGS_MODULE="labelsite.settings")
    from tests.sandbox import SandboxProcess

    with SandboxProcess(contacts=contacts, labels=8, seed=3) as sandbox:
        os.environ.update(
            WIX_API_BASE_URL=sandbox.url,
            WIX_API_KEY=sandbox.api_key,
            WIX_SITE_ID=sandbox.site_id,
            WIX_MAX_REQUESTS_PER_MINUTE="0",
        )
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command

        from contacts.living import living_label_start, living_labels_keep
        from contacts.models import Audience
        from contacts.segments import SegmentRules
        from labels.bulk import label_job_execute
        from labels.models import LabelJob
        from labels.services import label_create
        from sync.service import sync_wix
        from wixcache.budget import site_client
        from wixcache.models import Label
        from wixcache.store import contacts_store

        call_command("migrate", verbosity=0)
        user = User.objects.create_superuser("bench")
        with site_client(interactive=False) as client:
            sync_wix(kind="full", client=client)
            keys = sorted(
                Label.objects.filter(label_type=Label.Type.USER_DEFINED).values_list(
                    "key", flat=True
                )
            )

            def run_all() -> None:
                for _ in range(5):
                    if not living_labels_keep()["changed"]:
                        return
                    for job in LabelJob.objects.filter(status=LabelJob.Status.QUEUED):
                        label_job_execute(job, client=client)

            for n in range(living):
                audience = Audience.objects.create(
                    name=f"A{n}", rules=SegmentRules(all_of=(keys[n % len(keys)],)).as_json()
                )
                label, _ = label_create(display_name=f"Living {n}", user=user)
                living_label_start(audience=audience, label=label, user=user)
            run_all()
            # One contact gains every rule label in Wix: it enters every living audience.
            outsider = next(
                c
                for c in client.query_contacts(limit=100).contacts
                if not set(keys[:living]) <= set(c.label_keys)
            )
            sandbox.api(
                "POST",
                f"/contacts/v4/contacts/{outsider.id}/labels",
                json={"labelKeys": keys[:living]},
            )
            record = client.find_contacts([outsider.id])[outsider.id]
            sandbox.reset_stats()
            contacts_store([record])  # what the webhook handler does with the contact
            changed = living_labels_keep(why="webhook")["changed"]
            for job in LabelJob.objects.filter(status=LabelJob.Status.QUEUED):
                label_job_execute(job, client=client)
        stats = sandbox.stats()
    routes = stats["byRoute"]
    writes = sum(n for route, n in routes.items() if not route.startswith("GET"))
    print(
        json.dumps(
            {
                "webhook_changed_labels": changed,
                "webhook_requests_per_changed_label": round(stats["requests"] / max(changed, 1), 2),
                "webhook_writes_per_changed_label": round(writes / max(changed, 1), 2),
                "webhook_requests_by_route": routes,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = segments.prepare_database(
        os.environ.get("DATABASE_URL"), args.contacts
    )
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
    os.environ.update(DEBUG="false", SECURE_SSL_REDIRECT="false", SECURE_COOKIES="false")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from wixcache.models import Contact, Label

    call_command("migrate", verbosity=0)
    segments.seed_in_sql(args.contacts, args.labels)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    settings.ALLOWED_HOSTS = ["*"]  # the test client's "testserver"
    boss = User.objects.create_superuser("bench", password="bench-only")
    client = Client()
    client.force_login(boss)
    label = Label.objects.filter(label_type=Label.Type.USER_DEFINED).order_by("key").first()

    result = {"database": connection.vendor, "contacts": Contact.objects.count()}
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder) / "small.csv", Path(folder) / "large.csv"
        write_list(small, args.rows // 10, args.seed)
        write_list(large, args.rows, args.seed)
        preview_once(client, small, label.key)  # warm: templates, the label index built
        _, small_growth = preview_once(client, small, label.key)
        runs = [preview_once(client, large, label.key) for _ in range(args.repeat)]
    keys = list(
        Label.objects.filter(label_type=Label.Type.USER_DEFINED)
        .annotate(n=Count("contactlabel"))
        .order_by("-n", "key")
        .values_list("key", flat=True)[:8]
    )
    rule_timings(client, keys, 2)  # warm
    flat_ms, nested_ms = rule_timings(client, keys, args.repeat * 3)
    result.update(living_eval(keys))
    result.update(webhook_requests())
    times = [seconds for seconds, _growth in runs]
    result.update(
        list_rows=args.rows,
        list_preview_s=round(statistics.median(times), 2),
        list_preview_s_p95=round(max(times), 2),
        list_rss_growth_mb=round(max(growth for _seconds, growth in runs), 1),
        list_rss_growth_mb_small=round(small_growth, 1),
        nested_vs_flat_ratio=round(nested_ms / flat_ms, 2),
        nested_ms=round(nested_ms, 1),
        flat_ms=round(flat_ms, 1),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if os.environ.get("LIVING_WEBHOOK_CHILD"):
        webhook_child()
    else:
        main()
