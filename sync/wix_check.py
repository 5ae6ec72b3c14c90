"""`manage.py wix_check`: ask the real site what Wix's documentation leaves open.

Each check returns a `Finding`: what Wix did, and what labelsite does about it. Read-only by
default; `write=True` adds a reversible probe (a throwaway label and contact, removed again at the
end whatever happens) for what only a change can show.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from labelsite.wix import WixClient, WixError, WixValidationError
from sync.models import WebhookEvent

IN_LIST_SIZES = (100, 500, 1000)
SOME_ID = {"id": {"$exists": True}}


@dataclass(frozen=True)
class Finding:
    question: str
    found: str
    labelsite_does: str
    ok: bool = True  # False: labelsite's choice does not hold on this site; read `labelsite_does`


def check_short_pages(client: WixClient) -> Finding:
    question = "Does Wix serve pages shorter than asked for while more remain?"
    page = client.query_contacts(limit=1000, fieldsets=["BASIC"])
    labels = client.query_labels(limit=1000)
    short = [
        name
        for name, served, total in (
            ("contacts", len(page.contacts), page.total),
            ("labels", len(labels.labels), labels.paging.total if labels.paging else None),
        )
        if total is not None and served < min(1000, total)
    ]
    found = (
        f"yes, for {' and '.join(short)}"
        if short
        else f"not here (contacts: {len(page.contacts)} of {page.total}; labels: "
        f"{len(labels.labels)})"
    )
    return Finding(
        question,
        found,
        "Walks end only on an empty page or when paging metadata says nothing remains, so a "
        "short page never ends one (and never causes a deletion).",
    )


def check_and_filter(client: WixClient) -> Finding:
    question = "Does Query Contacts accept `$and`?"
    try:
        client.query_contacts(
            filter={"$and": [{"createdDate": {"$gte": "2000-01-01T00:00:00.000Z"}}, SOME_ID]},
            limit=1,
        )
    except WixValidationError as error:
        return Finding(
            question,
            f"no: {error}",
            "Incremental syncs combine the updated-date filter with a created-date bound in `$and`"
            ": on this site they would fail. Run full syncs only (SYNC_INTERVAL_SECONDS=0 and a "
            "nightly `sync_wix --full`) and tell the labelsite team.",
            ok=False,
        )
    return Finding(question, "yes", "Incremental syncs combine their two bounds with `$and`.")


def check_in_list(client: WixClient) -> Finding:
    question = "How long an `$in` list does a contact filter take?"
    accepted = 0
    for size in IN_LIST_SIZES:
        ids = [str(uuid.uuid4()) for _ in range(size)]
        try:
            client.query_contacts(filter={"id": {"$in": ids}}, limit=1)
        except WixValidationError:
            break
        accepted = size
    if accepted < IN_LIST_SIZES[0]:
        return Finding(
            question,
            f"fewer than {IN_LIST_SIZES[0]} ids",
            "Second looks and bulk jobs send 100 ids at a time: on this site they would fail. "
            "Tell the labelsite team the limit.",
            ok=False,
        )
    return Finding(
        question,
        f"at least {accepted} ids",
        "Second looks send 100 ids a query, bulk jobs 1,000 a job.",
        ok=accepted >= 1000,
    )


def check_label_events() -> Finding:
    question = "Which event types do label webhooks carry?"
    types = sorted(
        set(
            WebhookEvent.objects.filter(event_type__contains="label").values_list(
                "event_type", flat=True
            )
        )
    )
    if not types:
        return Finding(
            question,
            "no label webhook has arrived here yet",
            "Label events are recognised by `.label_` in their type; create, rename and delete a "
            "label in Wix's dashboard, then run this check again.",
        )
    recognised = [t for t in types if ".label_" in t]
    return Finding(
        question,
        ", ".join(types),
        "Recognised as label events: " + (", ".join(recognised) or "none"),
        ok=len(recognised) == len(types),
    )


def _probe(client: WixClient, say: Callable[[str], None]) -> list[Finding]:
    """Label, unlabel and bulk-label a throwaway contact, and remove everything again."""
    marker = f"labelsite-check-{uuid.uuid4().hex[:12]}"
    findings: list[Finding] = []
    label, _ = client.find_or_create_label(f"{marker} (safe to delete)")
    try:
        contact = client.create_contact(
            {
                "name": {"first": "labelsite", "last": "check"},
                "emails": {"items": [{"email": f"{marker}@example.invalid"}]},
            }
        )
        say(f"made a throwaway label {label.key} and contact {contact.id}")
        labelled = client.label_contact(contact.id, [label.key])
        unlabelled = client.unlabel_contact(contact.id, [label.key])
        works = label.key in labelled.label_keys and label.key not in unlabelled.label_keys
        findings.append(
            Finding(
                "How does Unlabel Contact take its keys?",
                "as repeated query parameters" if works else "not as query parameters",
                "labelsite sends them as query parameters"
                + ("." if works else ": on this site removing a label fails. Tell the team."),
                ok=works,
            )
        )
        job_id = client.bulk_add_remove_labels(
            filter={"id": {"$in": [contact.id]}}, add=[label.key]
        )
        job = client.get_bulk_job(job_id)
        findings.append(
            Finding(
                "What does Get Bulk Job answer?",
                f'`{{"job": ...}}` with status {job.status or "none"}',
                "Polled until COMPLETED, any other status being 'not yet', up to "
                "LABEL_JOB_DEADLINE_SECONDS.",
            )
        )
    finally:
        for match in client.query_contacts(
            filter={"info.emails.email": {"$startsWith": marker}}, limit=100
        ).contacts:
            client.delete_contact(match.id)
        client.delete_label(label.key)
        say("removed the throwaway label and contact again")
    return findings


def wix_check(
    *, client: WixClient, write: bool = False, say: Callable[[str], None] = print
) -> list[Finding]:
    """Every check that can run, each reported even when another fails."""
    checks: list[Callable[[], Finding | list[Finding]]] = [
        lambda: check_short_pages(client),
        lambda: check_and_filter(client),
        lambda: check_in_list(client),
        check_label_events,
    ]
    if write:
        checks.append(lambda: _probe(client, say))
    findings: list[Finding] = []
    for check in checks:
        try:
            result = check()
        except WixError as error:
            result = Finding("A check could not run", str(error), "Run it again later.", ok=False)
        findings.extend(result if isinstance(result, list) else [result])
    return findings
