"""Label from a list (`contacts.lists`): paste or upload email addresses or contact ids, see what
they match, then add or remove a label on those contacts as one undoable bulk job.

Each view checks its own permission (view and label contacts); a list is its reader's own: anyone
else gets 404 for it."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.forms import ContactListChangeForm, ContactListForm
from contacts.lists import (
    PASTED,
    ListProblem,
    contact_list_read,
    contact_list_split,
    file_rows,
    not_found_lines,
    pasted_rows,
    wix_ids_in_created_order,
)
from contacts.living import living_labels_for_keys
from contacts.models import Contact as AdminContact
from contacts.models import ContactList
from contacts.services import (
    TakesLabelFromEveryone,
    contacts_label_from_list_start,
    takes_from_everyone_refusal,
)
from journal.services import undo_seconds
from labels.models import LabelJob
from labelsite.spreadsheets import BOM
from labelsite.views import HtmxHttpRequest, permission_required
from wixcache.models import Label

PAGE = "admin/contacts/contact/from_list.html"
PERMS = ("contacts.view_contact", "contacts.label_contacts")


def _label_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    labels = Label.objects.order_by("display_name", "key").values_list(
        "key", "display_name", "label_type"
    )
    mine = [(key, name) for key, name, kind in labels if kind != Label.Type.SYSTEM]
    system = [(key, name) for key, name, kind in labels if kind == Label.Type.SYSTEM]
    return [("Labels", mine), ("System labels", system)]


def _page(request: HtmxHttpRequest, context: dict, *, status: int = 200) -> TemplateResponse:
    if request.htmx and not request.htmx.history_restore_request:
        return TemplateResponse(request, f"{PAGE}#list-step", context, status=status)
    context.update(
        admin.site.each_context(request),
        title="Label contacts from a list",
        opts=AdminContact._meta,
    )
    return TemplateResponse(request, PAGE, context, status=status)


def _mine(request: HtmxHttpRequest, list_id: int) -> ContactList:
    """The person's own list, while it is kept (an older one names contacts as they were)."""
    kept_since = timezone.now() - timedelta(days=ContactList.KEPT_DAYS)
    return get_object_or_404(
        ContactList, pk=list_id, created_by=request.user, created_at__gte=kept_since
    )


@require_http_methods(["GET", "POST"])
@permission_required(*PERMS)
def list_page(request: HtmxHttpRequest):
    """GET: the form. POST: read the list, keep it, and show what it matched with step two."""
    chosen = request.GET.get("label", "")
    if request.method == "GET":
        return _page(request, {"form": ContactListForm(), "chosen": chosen})
    form = ContactListForm(request.POST, request.FILES)
    context = {"form": form, "chosen": request.POST.get("chosen", "")}
    if not form.is_valid():
        return _page(request, context, status=400)
    upload = form.cleaned_data["file"]
    try:
        if upload:
            rows, source, every = file_rows(upload), upload.name, False
        else:
            rows, source, every = pasted_rows(form.cleaned_data["text"]), PASTED, True
        contact_list = contact_list_read(rows, source=source, every=every, user=request.user)
    except ListProblem as problem:
        context["problem"] = str(problem)
        return _page(request, context, status=400)
    chosen = context["chosen"]  # a label asked for in the address: its preview at once
    change = ContactListChangeForm({"label": chosen, "action": "add"}) if chosen else None
    context.update(_change_context(request, contact_list, form=change))
    # What was pasted stays in its box, to be checked or corrected and read again.
    context["form"] = ContactListForm(initial={"text": form.cleaned_data["text"]})
    return _page(request, context)


def _change_context(
    request: HtmxHttpRequest,
    contact_list: ContactList,
    *,
    form: ContactListChangeForm | None = None,
) -> dict:
    """Step two: the list's figures, the label and action chosen, and what they would change."""
    form = form or ContactListChangeForm(initial={"action": "add"})
    context = {
        "contact_list": contact_list,
        "change_form": form,
        "label_choices": _label_choices(),
        "chosen": form["label"].value() or "",
        "undo_seconds": undo_seconds(),
    }
    if form.is_bound and form.is_valid():
        label, remove = form.cleaned_data["label"], form.cleaned_data["action"] == "remove"
        present, holders = contact_list_split(contact_list, label_pk=label.pk)
        changing = holders if remove else present - holders
        context.update(
            label=label,
            remove=remove,
            changing=len(changing),
            others=len(present) - len(changing),
            gone=contact_list.matched_count - len(present),
            living=living_labels_for_keys([label.key]).get(label.key),
        )
        if remove and changing and not request.user.has_perm("labels.delete_label"):
            losing = wix_ids_in_created_order(changing)
            context["refused"] = takes_from_everyone_refusal(label, losing, user=request.user)
    return context


@require_GET
@permission_required(*PERMS)
def list_change_preview(request: HtmxHttpRequest, list_id: int):
    """Step two again, for another label or action: what the change would do now."""
    contact_list = _mine(request, list_id)
    context = _change_context(request, contact_list, form=ContactListChangeForm(request.GET))
    if request.htmx:
        return TemplateResponse(request, f"{PAGE}#list-change", context)
    return _page(request, {"form": ContactListForm(), **context})  # "Show the change", no script


@require_POST
@permission_required(*PERMS)
def list_apply(request: HtmxHttpRequest, list_id: int):
    """Start the change the preview showed: its label, its action, and only while it would
    still change as many contacts as it said (else the preview again, with the new figure)."""
    contact_list = _mine(request, list_id)
    form = ContactListChangeForm(request.POST)
    context = _change_context(request, contact_list, form=form)
    if not form.is_valid() or context.get("refused"):
        return TemplateResponse(
            request, f"{PAGE}#list-change", context, status=403 if form.is_valid() else 400
        )
    label, remove = form.cleaned_data["label"], form.cleaned_data["action"] == "remove"
    earlier = LabelJob.objects.filter(
        pk=contact_list.jobs.get(f"{form.cleaned_data['action']}:{label.key}")
    ).first()
    if earlier is None or not earlier.is_active:
        if not context["changing"]:
            context["nothing"] = True
            return TemplateResponse(request, f"{PAGE}#list-change", context)
        if form.cleaned_data["expected"] not in (None, context["changing"]):
            context["moved_from"] = form.cleaned_data["expected"]
            return TemplateResponse(request, f"{PAGE}#list-change", context, status=409)
    try:
        job, started = contacts_label_from_list_start(
            contact_list=contact_list, label=label, remove=remove, user=request.user
        )
    except TakesLabelFromEveryone as refusal:  # another change got there first
        context["refused"] = str(refusal)
        return TemplateResponse(request, f"{PAGE}#list-change", context, status=403)
    if not request.htmx:
        return HttpResponseRedirect(reverse("admin:labels_labeljob_change", args=[job.pk]))
    context.update(job=job, started=started)
    return TemplateResponse(request, f"{PAGE}#list-change", context)


@require_GET
@permission_required(*PERMS)
def list_not_found(request: HtmxHttpRequest, list_id: int):
    """What matched nobody, as CSV (with a BOM: spreadsheets then read it as UTF-8)."""
    contact_list = _mine(request, list_id)
    if not contact_list.not_found_entries and not contact_list.unreadable:
        raise Http404("Every entry of this list was found.")
    lines = (line.encode() for line in _with_bom(not_found_lines(contact_list)))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stem = slugify(contact_list.source.rsplit(".", 1)[0]) or "list"
    response["Content-Disposition"] = f'attachment; filename="{stem}-not-found.csv"'
    return response


def _with_bom(lines):
    yield BOM
    yield from lines
