"""After a crash: a contact's label change or a "Save as Wix label" left between "planned" and
"done" is settled against Wix (see `journal.settle`)."""

from __future__ import annotations

import contextlib

from django.db import transaction
from django.urls import reverse

from contacts import rules as nested
from contacts.models import Audience, LivingLabel
from contacts.segments import SegmentRules
from contacts.services import audience_label_made, contact_labels_changed
from journal.models import Operation
from journal.references import KeyUser
from journal.services import operation_failed
from journal.settle import settler
from labels.services import LabelError
from labels.settle import CLOCK_SKEW, label_jobs_settle
from labelsite.wix import WixClient
from wixcache.store import contacts_store


def _reached(record, step: dict) -> bool:
    keys = set(record.label_keys)
    return set(step.get("add", [])) <= keys and not (set(step.get("remove", [])) & keys)


@settler(Operation.Kind.CONTACT_LABELS)
def contact_labels_settle(op: Operation, *, client: WixClient) -> None:
    record = client.find_contacts([op.args["contact"]]).get(op.args["contact"])
    if record is None:
        operation_failed(op, "The contact is gone from Wix.")
        return
    if _reached(record, op.args):
        contact_labels_changed(op, record, user=op.user)
        return
    with transaction.atomic():
        contacts_store([record])
        operation_failed(op, "Wix did not change the contact: nothing changed.")


def contact_step_settle(step: dict, *, op: Operation, client: WixClient) -> list | None:
    record = client.find_contacts([step["contact"]]).get(step["contact"])
    if record is None:
        return None
    contacts_store([record])
    if not _reached(record, step):
        return None
    return [{**step, "add": step["remove"], "remove": step["add"]}]


settler(Operation.Kind.LIVING_LABEL)(label_jobs_settle)  # its jobs are written with it


@settler(Operation.Kind.AUDIENCE_LABEL)
def audience_label_settle(op: Operation, *, client: WixClient) -> None:
    if op.args.get("key"):  # its job was written with the key: the job ends it
        label_jobs_settle(op, client=client)
        return
    name = op.args["name"]
    page = client.query_labels(filter={"displayName": {"$eq": name}}, limit=10)
    record = next((r for r in page.labels if r.display_name == name), None)
    if record is None:
        operation_failed(op, "Wix has no label of that name: nothing was made.")
        return
    created = record.created_date is None or record.created_date >= op.created_at - CLOCK_SKEW
    audience = Audience.objects.filter(pk=op.args["audience"]).first()
    with contextlib.suppress(LabelError):  # deleted meanwhile: the operation says so, and is done
        audience_label_made(op, record, created=created, audience=audience, user=op.user)


def audiences_key_replace(sender, *, old_key: str, new_key: str, **kwargs) -> None:
    """A label came back under a new key: saved audiences name the new key (in the restoring
    transaction)."""
    for audience in Audience.objects.select_for_update().only("pk", "rules"):
        rules = audience.rules
        changed = False
        for group in ("all_of", "any_of", "none_of"):
            keys = rules.get(group) or []
            if old_key in keys:
                rules[group] = [new_key if key == old_key else key for key in keys]
                changed = True
        tree = SegmentRules.from_json(rules).tree
        if old_key in nested.label_keys(tree):
            rules["tree"] = nested.renamed(tree, {old_key: new_key}).document()
            changed = True
        if changed:
            Audience.objects.filter(pk=audience.pk).update(rules=rules)


def audiences_using(keys: set[str]) -> list[KeyUser]:
    """Saved audiences whose rules name any of `keys`, then those that keep one of them as a
    living label (a change by hand to it is undone by the next pass; deleting it pauses the
    audience's label). One query."""
    found, living = [], []
    page = reverse("admin:contacts_contact_changelist")
    audiences = Audience.objects.select_related("living").only(
        "pk", "name", "rules", "living__label_key"
    )
    for audience in audiences:
        named = SegmentRules.from_json(audience.rules).keys
        if named & keys:
            url = f"{page}?" + SegmentRules.from_json(audience.rules).querystring(
                audience=audience.pk
            )
            found.append(KeyUser("audience", audience.name, url, frozenset(named & keys)))
        kept = getattr(audience, "living", None)
        if kept is not None and kept.label_key in keys:
            living.append(_keeper(page, audience.pk, audience.name, kept.label_key))
    return found + living


def audiences_keeping(keys: set[str]) -> list[KeyUser]:
    """Saved audiences that keep one of `keys` as a living label: one query by the label's
    key (indexed), however many saved audiences there are."""
    page = reverse("admin:contacts_contact_changelist")
    kept = (
        LivingLabel.objects.filter(label_key__in=keys)
        .select_related("audience")
        .only("label_key", "audience__id", "audience__name")
        .order_by("audience__name", "audience__pk")
    )
    return [
        _keeper(page, living.audience.pk, living.audience.name, living.label_key) for living in kept
    ]


def _keeper(page: str, audience_pk: int, name: str, key: str) -> KeyUser:
    return KeyUser("living label", name, f"{page}?audience={audience_pk}", frozenset([key]))
