"""The history pages: every change, newest first, site-wide or of one label, contact or saved
audience, filtered by person, kind, state and dates; and the same list as CSV. Each view checks
its own permission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from journal.export import operation_csv_rows
from journal.forms import HistoryExportForm, HistoryFilterForm
from journal.models import Operation, OperationRef
from journal.selectors import (
    Touched,
    cached_contact_pk,
    cached_label_exists,
    operation_actor,
    operation_list,
    operation_ref_name,
    touched_by_kind,
)
from labelsite.views import HtmxHttpRequest, has_permissions, permission_required

PAGE = "admin/journal/operation/history.html"
PAGE_SIZE = 50
CAN_VIEW = "journal.view_operation"
CAN_EXPORT = (CAN_VIEW, "journal.export_operation")
CAN_VIEW_LABEL = ("labels.view_label", "labels.change_label")
CAN_VIEW_CONTACT = "contacts.view_contact"
CAN_VIEW_AUDIENCE = "contacts.view_audience"


LABEL_HISTORY = "journal_operation_label_history"
CONTACT_HISTORY = "journal_operation_contact_history"
AUDIENCE_HISTORY = "journal_operation_audience_history"
# A thing's kind -> its history page and who may see it.
HISTORY_OF = {
    OperationRef.Kind.LABEL: (LABEL_HISTORY, CAN_VIEW_LABEL),
    OperationRef.Kind.CONTACT: (CONTACT_HISTORY, CAN_VIEW_CONTACT),
    OperationRef.Kind.AUDIENCE: (AUDIENCE_HISTORY, CAN_VIEW_AUDIENCE),
}


@dataclass(frozen=True)
class Thing:
    """The label (by key), contact (by Wix id) or saved audience (by id) a page is about."""

    kind: str
    ref: str

    @property
    def url(self) -> str:
        return reverse(f"admin:{HISTORY_OF[self.kind][0]}", args=[self.ref])

    @property
    def kind_label(self) -> str:
        return OperationRef.Kind(self.kind).label


REF_MAX_LENGTH = OperationRef._meta.get_field("ref").max_length
KIND_PLURAL = {
    OperationRef.Kind.LABEL: "Labels",
    OperationRef.Kind.CONTACT: "Contacts",
    OperationRef.Kind.AUDIENCE: "Audiences",
}


@require_GET
@permission_required(CAN_VIEW)
def history_page(request: HtmxHttpRequest) -> HttpResponse:
    return _history(request, thing=None)


@require_GET
@permission_required(CAN_VIEW_LABEL)
def label_history(request: HtmxHttpRequest, key: str) -> HttpResponse:
    return _history(request, thing=_thing(OperationRef.Kind.LABEL, key))


@require_GET
@permission_required(CAN_VIEW_CONTACT)
def contact_history(request: HtmxHttpRequest, wix_id: str) -> HttpResponse:
    return _history(request, thing=_thing(OperationRef.Kind.CONTACT, wix_id))


@require_GET
@permission_required(CAN_VIEW_AUDIENCE)
def audience_history(request: HtmxHttpRequest, audience_id: int) -> HttpResponse:
    return _history(request, thing=_thing(OperationRef.Kind.AUDIENCE, str(audience_id)))


@require_GET
@permission_required(*CAN_EXPORT)
def history_export(request: HtmxHttpRequest) -> HttpResponse:
    form = HistoryExportForm(request.GET)
    if not form.is_valid():
        message = "This history cannot be exported: " + " ".join(form.error_list())
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    kind, ref = form.thing()
    filters = form.filter(ref_kind=kind, ref=ref)
    response = StreamingHttpResponse(
        (line.encode() for line in operation_csv_rows(filters=filters)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="history.csv"'
    return response


def _thing(kind: str, ref: str) -> Thing:
    if not ref or len(ref) > REF_MAX_LENGTH or "\x00" in ref:
        raise Http404("No label, contact or audience has this key or id.")
    return Thing(kind, ref)


def _history(request: HtmxHttpRequest, *, thing: Thing | None) -> TemplateResponse:
    form = HistoryFilterForm(request.GET)
    context = {
        "form": form,
        "thing": thing,
        "page_url": thing.url if thing else reverse("admin:journal_operation_changelist"),
        **_results(request, form, thing),
    }
    status = 200 if form.is_valid() else 400
    if request.htmx and not request.htmx.history_restore_request:
        return TemplateResponse(request, f"{PAGE}#history-results", context, status=status)
    context.update(admin.site.each_context(request), opts=Operation._meta, **_heading(thing))
    return TemplateResponse(request, PAGE, context, status=status)


def _heading(thing: Thing | None) -> dict:
    if thing is None:
        return {"title": "History"}
    what = thing.kind_label
    name = operation_ref_name(kind=thing.kind, ref=thing.ref)
    heading = f"{what} “{name}”" if name else f"{what} {thing.ref}"
    page, page_text = _thing_page(thing)
    return {
        "title": f"History of {heading[0].lower()}{heading[1:]}",
        "thing_title": heading,
        "thing_page": page,
        "thing_page_text": page_text,
    }


def _thing_page(thing: Thing) -> tuple[str, str]:
    """Where the thing itself is shown, while labelsite still has it."""
    if thing.kind == OperationRef.Kind.LABEL and cached_label_exists(key=thing.ref):
        return reverse("admin:labels_label_detail", args=[thing.ref]), "Open its page"
    if thing.kind == OperationRef.Kind.CONTACT:
        pk = cached_contact_pk(wix_id=thing.ref)
        if pk is not None:
            return reverse("admin:contacts_contact_change", args=[pk]), "Open the contact"
    return "", ""


def _results(request: HtmxHttpRequest, form: HistoryFilterForm, thing: Thing | None) -> dict:
    if not form.is_valid():
        return {"errors": form.error_list()}
    filters = form.filter(ref_kind=thing.kind, ref=thing.ref) if thing else form.filter()
    paginator = Paginator(operation_list(filters=filters), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    ops = list(page.object_list)
    touched = touched_by_kind(ops)
    link = _history_links(request.user)
    for op in ops:
        op.actor = operation_actor(op)
        op.touched = [
            (KIND_PLURAL[kind], [(t, link(t)) for t in things])
            for kind, things in touched[op.pk].items()
            if things
        ]
        op.untold = (op.refs_total or 0) - len(op.touched_refs)
    query = request.GET.copy()
    for name in ("page", *HISTORY_OF):
        query.pop(name, None)
    if thing is not None:
        query[thing.kind] = thing.ref
    return {
        "operations": ops,
        "page_obj": page,
        "paginator": paginator,
        "filtered": any(value not in (None, "") for value in form.cleaned_data.values()),
        "can_export": has_permissions(request.user, *CAN_EXPORT),
        "export_url": reverse("admin:journal_operation_export") + "?" + query.urlencode(),
    }


def _history_links(user) -> Callable[[Touched], str]:
    """A thing's history page address, or "" where this person may not see it (or the page
    could not show it)."""
    patterns = {
        kind: reverse(f"admin:{name}", args=["0"]).removesuffix("0/")
        for kind, (name, perm) in HISTORY_OF.items()
        if has_permissions(user, perm)
    }

    def link(touched: Touched) -> str:
        start = patterns.get(touched.kind)
        if start is None or "/" in touched.ref or not touched.ref:
            return ""
        if touched.kind == OperationRef.Kind.AUDIENCE and not touched.ref.isdigit():
            return ""
        return f"{start}{quote(touched.ref, safe='')}/"

    return link
