"""The labels page and its htmx endpoints. Every endpoint checks its own permission."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from labels.forms import (
    LabelCreateForm,
    LabelDeleteForm,
    LabelListForm,
    LabelMergeForm,
    LabelRenameForm,
    LabelUndoForm,
)
from labels.models import Label, LabelDeletion
from labels.selectors import (
    DEFAULT_ORDER,
    contacts_total,
    label_deletions_open,
    label_get,
    label_jobs_active,
    label_list,
    label_merge_preview,
    label_near_duplicates,
    undo_seconds,
)
from labels.services import (
    LabelError,
    LabelStale,
    label_create,
    label_delete,
    label_deletion_undo,
    label_merge,
    label_rename,
)
from labelsite.wix import WixError

PAGE = "admin/labels/label/labels.html"
PAGE_SIZE = 100


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _require(request: HttpRequest, *codenames: str) -> None:
    if not all(request.user.has_perm(f"labels.{codename}") for codename in codenames):
        raise PermissionDenied


def _permissions(request: HttpRequest) -> dict:
    user = request.user
    can_change = user.has_perm("labels.change_label")
    can_delete = user.has_perm("labels.delete_label")
    return {
        "can_add": user.has_perm("labels.add_label"),
        "can_change": can_change,
        "can_delete": can_delete,
        "can_merge": can_change and can_delete,
        "undo_window": _duration(undo_seconds()),
    }


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    minutes = max(1, seconds // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _list_state(data) -> dict:
    form = LabelListForm(data)
    form.is_valid()
    return {
        "query": form.cleaned_data.get("q") or "",
        "order": form.cleaned_data.get("o") or DEFAULT_ORDER,
        "page_number": form.cleaned_data.get("page") or 1,
    }


def _table_context(*, query: str, order: str, page_number: int, highlight: Label | None = None):
    paginator = Paginator(label_list(query=query, order=order), PAGE_SIZE)
    page = paginator.get_page(page_number)
    labels = list(page.object_list)
    if highlight is not None and all(label.pk != highlight.pk for label in labels):
        labels.insert(0, label_get(key=highlight.key))
    total = _with_usage(labels)
    return {
        "labels": labels,
        "page_obj": page,
        "paginator": paginator,
        "query": query,
        "order": order,
        "contacts_total": total,
        "highlight_pk": highlight.pk if highlight else None,
    }


def _with_usage(labels: list[Label]) -> int:
    total = contacts_total()
    for label in labels:
        label.usage_percent = round(100 * label.contact_count / total) if total else 0
    return total


def _row(request, label: Label | None, *, mode: str = "show", status: int = 200, **extra):
    context = {**_permissions(request), "label": label, "mode": mode, **extra}
    if label is not None and mode == "show":
        context["contacts_total"] = _with_usage([label])
    if label is None and mode == "show":
        context["mode"] = "gone"
    return TemplateResponse(request, f"{PAGE}#label-row", context, status=status)


def _gone(request, key: str) -> TemplateResponse:
    return _row(
        request,
        None,
        status=404,
        notice=f"There is no label with key “{key}” any more; it may have been deleted. "
        "Reload the page to see the labels as they are now.",
    )


def _with_progress(request, response: HttpResponse, jobs) -> HttpResponse:
    """Add the jobs' progress to the page's activity region (out of band)."""
    response.render()
    response.content += render_to_string(
        f"{PAGE}#label-activity-oob", {"jobs": jobs}, request=request
    ).encode()
    return response


@require_GET
def label_page(request: HtmxHttpRequest) -> HttpResponse:
    _require_view(request)
    state = _list_state(request.GET)
    context = _table_context(**state)
    if request.htmx and not request.htmx.history_restore_request:
        return TemplateResponse(
            request, f"{PAGE}#label-table", {**_permissions(request), **context}
        )
    context.update(admin.site.each_context(request))
    context.update(
        _permissions(request),
        title="Labels",
        opts=Label._meta,
        create_form=LabelCreateForm(),
        deletions=label_deletions_open(),
        jobs=label_jobs_active(user=request.user),
    )
    return TemplateResponse(request, PAGE, context)


def _require_view(request: HttpRequest) -> None:
    user = request.user
    if not (user.has_perm("labels.view_label") or user.has_perm("labels.change_label")):
        raise PermissionDenied


@require_GET
def label_row(request: HtmxHttpRequest, key: str) -> HttpResponse:
    _require_view(request)
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    return _row(request, label, focus=True)


@require_POST
def label_create_view(request: HtmxHttpRequest) -> HttpResponse:
    _require(request, "add_label")
    form = LabelCreateForm(request.POST)
    context = _permissions(request)
    if not form.is_valid():
        return TemplateResponse(request, f"{PAGE}#label-create", {**context, "create_form": form})
    name = form.cleaned_data["display_name"]
    similar = label_near_duplicates(display_name=name)
    if similar and not form.cleaned_data["confirm_similar"]:
        confirm = LabelCreateForm(initial={"display_name": name, "confirm_similar": True})
        return TemplateResponse(
            request,
            f"{PAGE}#label-create",
            {**context, "create_form": confirm, "similar": similar, "wanted": name},
        )
    try:
        label, created = label_create(display_name=name, user=request.user)
    except (WixError, LabelError) as error:
        form.add_error(None, str(error))
        return TemplateResponse(request, f"{PAGE}#label-create", {**context, "create_form": form})
    response = TemplateResponse(
        request,
        f"{PAGE}#label-create",
        {**context, "create_form": LabelCreateForm(), "made": label, "created": created},
    )
    response.render()
    table = _table_context(**_list_state(request.POST), highlight=label)
    response.content += render_to_string(
        f"{PAGE}#label-table", {**context, **table, "oob": True}, request=request
    ).encode()
    return response


@require_GET
def label_edit(request: HtmxHttpRequest, key: str) -> HttpResponse:
    _require(request, "change_label")
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    if label.is_system:
        return _row(request, label, error="System labels cannot be renamed.")
    form = LabelRenameForm(initial={"display_name": label.display_name})
    return _row(request, label, mode="edit", form=form)


@require_POST
def label_rename_view(request: HtmxHttpRequest, key: str) -> HttpResponse:
    _require(request, "change_label")
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    form = LabelRenameForm(request.POST)
    if not form.is_valid():
        return _row(request, label, mode="edit", form=form)
    try:
        label = label_rename(
            label=label,
            display_name=form.cleaned_data["display_name"],
            expected_name=form.cleaned_data["expected_name"],
            user=request.user,
        )
    except LabelStale as stale:
        if stale.label is None:
            return _row(request, None, notice=str(stale))
        return _row(request, label_get(key=key), error=str(stale))
    except (WixError, LabelError) as error:
        form.add_error(None, str(error))
        return _row(request, label, mode="edit", form=form)
    return _row(request, label_get(key=key), highlight=True, focus=True, notice="Renamed.")


@require_GET
def label_delete_confirm(request: HtmxHttpRequest, key: str) -> HttpResponse:
    _require(request, "delete_label")
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    if label.is_system:
        return _row(request, label, error="System labels cannot be deleted.")
    return _row(request, label, mode="confirm-delete")


@require_POST
def label_delete_view(request: HtmxHttpRequest, key: str) -> HttpResponse:
    _require(request, "delete_label")
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    form = LabelDeleteForm(request.POST)
    if not form.is_valid():
        return _row(request, label, mode="confirm-delete", error="Confirm the deletion again.")
    try:
        deletion = label_delete(
            label=label, expected_name=form.cleaned_data["expected_name"], user=request.user
        )
    except LabelStale as stale:
        return _row(request, stale.label, error=str(stale))
    except (WixError, LabelError) as error:
        return _row(request, label, mode="confirm-delete", error=str(error))
    response = _row(request, None, mode="deleted", deletion=deletion)
    return trigger_client_event(response, "labelsChanged")


@require_POST
def label_undo(request: HtmxHttpRequest, deletion_id: int) -> HttpResponse:
    _require(request, "delete_label")
    deletion = get_object_or_404(LabelDeletion.objects.select_related("merge_job"), pk=deletion_id)
    form = LabelUndoForm(request.POST)
    place = (form.cleaned_data.get("place") if form.is_valid() else "") or "list"
    partial = "label-row" if place == "row" else "label-deletion"
    context = {**_permissions(request), "deletion": deletion, "mode": "deleted", "label": None}
    try:
        result = label_deletion_undo(deletion=deletion, user=request.user)
    except (WixError, LabelError) as error:
        return TemplateResponse(request, f"{PAGE}#{partial}", {**context, "error": str(error)})
    deletion.refresh_from_db()
    restored = label_get(key=deletion.restored_key)
    context.update(mode="show", label=restored, restored=result.restored, highlight=True)
    if restored is not None:
        context["contacts_total"] = _with_usage([restored])
    response = TemplateResponse(request, f"{PAGE}#{partial}", context)
    return trigger_client_event(_with_progress(request, response, result.jobs), "labelsChanged")


@require_GET
def label_deletions(request: HtmxHttpRequest) -> HttpResponse:
    _require_view(request)
    context = {**_permissions(request), "deletions": label_deletions_open()}
    return TemplateResponse(request, f"{PAGE}#label-deletions", context)


def _merge_context(request, form: LabelMergeForm) -> dict:
    context = {**_permissions(request), "merge_form": form}
    if not form.is_valid():
        return context
    ticked = list(
        Label.objects.filter(pk__in=[s.pk for s in form.cleaned_data["source"]])
        .annotate(contact_count=Count("contacts"))
        .order_by("-contact_count", "display_name")
    )
    target = form.cleaned_data.get("target")
    if target is None or target.pk not in {t.pk for t in ticked}:
        system = [t for t in ticked if t.is_system]
        target = (system or ticked)[0]
    target = next(t for t in ticked if t.pk == target.pk)
    sources = [t for t in ticked if t.pk != target.pk]
    locked = [s for s in sources if s.is_system]
    context.update(
        ticked=ticked,
        target=target,
        sources=sources,
        locked=locked,
        gained=label_merge_preview(sources=sources, target=target),
    )
    return context


@require_GET
def label_merge_preview_view(request: HtmxHttpRequest) -> HttpResponse:
    _require(request, "change_label", "delete_label")
    if "cancel" in request.GET:
        return TemplateResponse(request, f"{PAGE}#label-merge", _permissions(request))
    context = _merge_context(request, LabelMergeForm(request.GET))
    return TemplateResponse(request, f"{PAGE}#label-merge", context)


@require_POST
def label_merge_view(request: HtmxHttpRequest) -> HttpResponse:
    _require(request, "change_label", "delete_label")
    form = LabelMergeForm(request.POST)
    context = _merge_context(request, form)
    if not form.is_valid() or context["locked"]:
        return TemplateResponse(request, f"{PAGE}#label-merge", context)
    try:
        job = label_merge(sources=context["sources"], target=context["target"], user=request.user)
    except LabelError as error:
        return TemplateResponse(request, f"{PAGE}#label-merge", {**context, "error": str(error)})
    response = TemplateResponse(request, f"{PAGE}#label-merge", {**context, "started": job})
    return _with_progress(request, response, [job])
