"""The labels page, its htmx endpoints and label jobs' progress. Every endpoint checks its own
permission."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from journal.models import Operation
from journal.references import key_users, label_keepers
from journal.selectors import operation_actor
from journal.services import undo_seconds
from journal.undo import UndoRefused, can_undo, operation_undo, undo_offered
from labels.charts import overlap_map, weeks_chart
from labels.forms import (
    LabelCreateForm,
    LabelDeleteForm,
    LabelJobProgressForm,
    LabelListForm,
    LabelMergeForm,
    LabelNoteForm,
    LabelRenameForm,
    LabelUndoForm,
)
from labels.models import Label as AdminLabel
from labels.models import LabelDeletion, LabelJob
from labels.selectors import (
    DEFAULT_ORDER,
    OVERLAP_SIZES,
    contacts_total,
    label_contacts_newest,
    label_deletion_latest,
    label_deletions_open,
    label_get,
    label_jobs_active,
    label_jobs_of,
    label_key_successors,
    label_list,
    label_merge_plan,
    label_near_duplicates,
    label_operations_recent,
    label_overlap,
    label_restored_by,
)
from labels.services import (
    LabelError,
    LabelNoteStale,
    LabelStale,
    label_create,
    label_delete,
    label_deletion_operation,
    label_job_look_again,
    label_job_retry_failed,
    label_merge,
    label_note_save,
    label_rename,
)
from labelsite.pickers import Picker
from labelsite.views import (
    PARTIALS_TEMPLATE,
    HtmxHttpRequest,
    has_permissions,
    permission_required,
    render_partials,
)
from labelsite.wix import WixError
from wixcache.index import label_weeks
from wixcache.models import Label

PAGE = "admin/labels/label/labels.html"
OVERLAP_PAGE = "admin/labels/label/overlap.html"
WEEKS_SHOWN = 12
DETAIL = "admin/labels/label/detail.html"
JOB_PROGRESS = "admin/labels/labeljob/progress.html"
PAGE_SIZE = 100
CAN_VIEW = ("labels.view_label", "labels.change_label")


def _permissions(request: HttpRequest) -> dict:
    user = request.user
    can_change = user.has_perm("labels.change_label")
    can_delete = user.has_perm("labels.delete_label")
    return {
        "can_add": user.has_perm("labels.add_label"),
        "can_change": can_change,
        "can_delete": can_delete,
        "can_merge": can_change and can_delete,
        # Audiences are named to those who may see them, linked (to their contacts) for those
        # who may see contacts too, as on a label's own page.
        "can_name_audiences": user.has_perm("contacts.view_audience"),
        "can_open_audiences": has_permissions(
            user, "contacts.view_contact", "contacts.view_audience"
        ),
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
        current = label_get(key=highlight.key)
        if current is not None:  # else someone deleted it meanwhile: nothing to highlight
            labels.insert(0, current)
    total = _shown(labels)
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


def _shown(labels: list[Label]) -> int:
    """What a label's row shows beside the label: its share of the contacts (the total is
    returned), and the saved audiences keeping it equal to themselves (a living label: its
    next update undoes a change by hand). One query for the keepers, whatever the labels."""
    total = _with_usage(labels)
    keepers = label_keepers(label.key for label in labels)
    for label in labels:
        label.kept_by = [keeper for keeper in keepers if label.key in keeper.keys]
    return total


def _row(request, label: Label | None, *, mode: str = "show", status: int = 200, **extra):
    if request.method == "POST" and not request.htmx:
        return _back_to_page(request, label, mode=mode, **extra)
    context = {**_permissions(request), "label": label, "mode": mode, **extra}
    if label is not None and mode == "show":
        context["contacts_total"] = _shown([label])
    if label is None and mode == "show":
        context["mode"] = "gone"
    return TemplateResponse(request, f"{PAGE}#label-row", context, status=status)


def _back_to_page(
    request, label: Label | None, *, mode: str, error="", notice="", form=None, deletion=None, **_
) -> HttpResponse:
    """A row's form sent without htmx (before htmx took over a freshly swapped row, or with
    JavaScript off) is answered with the labels page again and the outcome as a message."""
    if error:
        messages.error(request, error)
    elif form is not None and form.errors:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    elif mode == "deleted":
        messages.success(
            request,
            f"Deleted “{deletion.display_name}”: {deletion.contact_count} "
            f"contact{'' if deletion.contact_count == 1 else 's'} lost it. "
            f"You can undo this under “Recently deleted” for {_duration(undo_seconds())}.",
        )
    elif notice:
        messages.info(request, notice)
    return _labels_page_at(label)


def _labels_page_at(label: Label | None) -> HttpResponse:
    url = reverse("admin:labels_label_changelist")
    if label is not None:
        url += "?" + urlencode({"q": label.key}) + f"#label-row-{label.pk}"
    return redirect(url)


def _gone(request, key: str) -> TemplateResponse:
    return _row(
        request,
        None,
        status=404,
        notice=f"There is no label with key “{key}” any more; it may have been deleted. "
        "Reload the page to see the labels as they are now.",
    )


@require_GET
@permission_required(CAN_VIEW)
def label_page(request: HtmxHttpRequest) -> HttpResponse:
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
        opts=AdminLabel._meta,
        create_form=LabelCreateForm(),
        deletions=label_deletions_open(),
        jobs=label_jobs_active(user=request.user),
    )
    return TemplateResponse(request, PAGE, context)


@require_GET
@permission_required(CAN_VIEW)
def label_row(request: HtmxHttpRequest, key: str) -> HttpResponse:
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    # Back from a confirmation: the button that opened it has the focus again.
    return _row(request, label, focus=True, focus_delete=request.GET.get("focus") == "delete")


@require_GET
@permission_required(CAN_VIEW)
def label_detail(request: HtmxHttpRequest, key: str) -> HttpResponse:
    """A label's own page: its contacts, the saved audiences using it, its history."""
    label = label_get(key=key)
    context = {
        **admin.site.each_context(request),
        **_permissions(request),
        "opts": AdminLabel._meta,
        "key": key,
        "can_see_contacts": request.user.has_perm("contacts.view_contact"),
        "can_see_audiences": request.user.has_perm("contacts.view_audience"),
        "can_label_contacts": has_permissions(
            request.user, "contacts.view_contact", "contacts.label_contacts"
        ),
    }
    if label is None:
        return _detail_gone(request, key, context)
    operations, operations_total = label_operations_recent(key=key)
    for op in operations:
        op.actor = operation_actor(op)
    on_labels_page = reverse("admin:labels_label_changelist") + "?" + urlencode({"q": key})
    context.update(
        title=label.display_name,
        label=label,
        # Who has the label, and which audiences use it, only for those who may see contacts
        # and audiences; the others see the numbers.
        contacts=label_contacts_newest(label=label) if context["can_see_contacts"] else [],
        contacts_url=reverse("admin:contacts_contact_changelist") + "?all=" + quote(key, safe=""),
        audiences=key_users([key]),
        operations=operations,
        operations_total=operations_total,
        row_url=f"{on_labels_page}#label-row-{label.pk}",
        note_form=LabelNoteForm(initial=_note_initial(label)),
        weeks=weeks_chart(label_weeks(label.pk, weeks=WEEKS_SHOWN)),
    )
    return TemplateResponse(request, DETAIL, context)


@require_POST
@permission_required("labels.change_label")
def label_note_view(request: HtmxHttpRequest, key: str) -> HttpResponse:
    """Save a label's local description and colour (labelsite only; Wix has no such fields)."""
    label = label_get(key=key)
    if label is None:
        return _note(request, key, None, error="This label no longer exists; nothing was saved.")
    form = LabelNoteForm(request.POST)
    if not form.is_valid():
        return _note(request, key, label, form=form)
    data = form.cleaned_data
    try:
        label_note_save(
            label=label,
            description=data["description"],
            colour=data["colour"],
            expected=(data["expected_description"], data["expected_colour"]),
            user=request.user,
        )
    except LabelNoteStale as stale:
        # The note as it is now above; below, what this person typed, to save over it on purpose.
        typed = LabelNoteForm(
            initial={
                "description": data["description"],
                "colour": data["colour"],
                "expected_description": stale.note.description,
                "expected_colour": stale.note.colour,
            }
        )
        return _note(request, key, label_get(key=key), form=typed, error=str(stale))
    except LabelStale as stale:
        return _note(request, key, None, error=str(stale))
    except LabelError as error:
        form.add_error(None, str(error))
        return _note(request, key, label, form=form)
    return _note(request, key, label_get(key=key), notice="Note saved.")


def _note(
    request: HtmxHttpRequest, key: str, label: Label | None, *, form=None, error="", notice=""
) -> HttpResponse:
    """The note section of a label's page; without htmx, the page itself, the outcome as a
    message."""
    if not request.htmx:
        if error or (form is not None and form.errors):
            errors = [error] if error else [e for es in form.errors.values() for e in es]
            messages.error(request, " ".join(errors))
        elif notice:
            messages.success(request, notice)
        return redirect("admin:labels_label_detail", key)
    if form is None and label is not None:
        form = LabelNoteForm(initial=_note_initial(label))
    context = {
        **_permissions(request),
        "label": label,
        "note_form": form,
        "note_error": error,
        "note_notice": notice,
    }
    return TemplateResponse(request, f"{DETAIL}#label-note", context)


def _note_initial(label: Label) -> dict:
    description, colour = label.note_description or "", label.note_colour or ""
    return {
        "description": description,
        "colour": colour,
        "expected_description": description,
        "expected_colour": colour,
    }


def _detail_gone(request: HtmxHttpRequest, key: str, context: dict) -> TemplateResponse:
    deletion = label_deletion_latest(key=key)
    successor = label_key_successors([key]).get(key) if deletion else None
    undoable = deletion is not None and label_deletions_open().filter(pk=deletion.pk).exists()
    context.update(
        title="Label not found",
        deletion=deletion,
        undoable=undoable,
        successor=label_get(key=successor) if successor else None,
    )
    return TemplateResponse(request, DETAIL, context, status=404)


@require_http_methods(["GET", "POST"])
@permission_required("labels.add_label")
def label_create_view(request: HtmxHttpRequest) -> HttpResponse:
    """POST creates; GET (Cancel on the near-duplicate warning) gives back the empty form."""
    context = _permissions(request)
    if request.method == "GET":
        if not request.htmx:
            return redirect("admin:labels_label_changelist")
        context.update(create_form=LabelCreateForm(), focus=True)
        return TemplateResponse(request, f"{PAGE}#label-create", context)
    form = LabelCreateForm(request.POST)
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
    table = _table_context(**_list_state(request.POST), highlight=label)
    context.update(table, create_form=LabelCreateForm(), made=label, created=created)
    return render_partials(request, PAGE, ["label-create"], context, oob=["label-table"])


@require_GET
@permission_required("labels.change_label")
def label_edit(request: HtmxHttpRequest, key: str) -> HttpResponse:
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    if label.is_system:
        return _row(request, label, error="System labels cannot be renamed.")
    form = LabelRenameForm(initial={"display_name": label.display_name})
    living = [user for user in key_users([label.key]) if user.kind == "living label"]
    return _row(request, label, mode="edit", form=form, living=living)


@require_POST
@permission_required("labels.change_label")
def label_rename_view(request: HtmxHttpRequest, key: str) -> HttpResponse:
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
    now = label_get(key=key)
    notice = "Renamed."
    if now is not None and now.display_name != label.display_name:  # another rename came after
        notice = (
            f"Renamed to “{label.display_name}”; someone has renamed it since, "
            f"to “{now.display_name}”."
        )
    return _row(request, now, highlight=True, focus=True, notice=notice)


@require_GET
@permission_required("labels.delete_label")
def label_delete_confirm(request: HtmxHttpRequest, key: str) -> HttpResponse:
    label = label_get(key=key)
    if label is None:
        return _gone(request, key)
    if label.is_system:
        return _row(request, label, error="System labels cannot be deleted.")
    return _row(request, label, mode="confirm-delete", key_users=key_users([label.key]))


@require_POST
@permission_required("labels.delete_label")
def label_delete_view(request: HtmxHttpRequest, key: str) -> HttpResponse:
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
@permission_required("labels.delete_label")
def label_undo(request: HtmxHttpRequest, deletion_id: int) -> HttpResponse:
    deletion = get_object_or_404(LabelDeletion.objects.select_related("merge_job"), pk=deletion_id)
    form = LabelUndoForm(request.POST)
    place = (form.cleaned_data.get("place") if form.is_valid() else "") or "list"
    partial = "label-row" if place == "row" else "label-deletion"
    context = {**_permissions(request), "deletion": deletion, "mode": "deleted", "label": None}
    if deletion.merge_job is not None and deletion.merge_job.is_active:
        error = "The merge is still running; undo it once it has finished."
        return _undo_failed(request, partial, context, error)
    try:
        op = label_deletion_operation(deletion)
        if not can_undo(request.user, op):
            raise PermissionDenied
        undo = operation_undo(op_id=op.pk, user=request.user)
    except (WixError, LabelError, UndoRefused) as error:
        return _undo_failed(request, partial, context, str(error))
    restored = label_restored_by(undo)
    deletion.refresh_from_db()
    label = label_get(key=deletion.restored_key) if deletion.restored_key else None
    if not request.htmx:  # see _back_to_page
        for item in restored:
            messages.success(
                request,
                f"Restored “{item.display_name}” as a new label: its key is now "
                f"{item.restored_key} (it was {item.key}; Wix never reuses a key).",
            )
        return _labels_page_at(label)
    context.update(mode="show", label=label, restored=restored, highlight=True)
    if label is not None:
        context["contacts_total"] = _shown([label])
    context["jobs"] = label_jobs_of(undo)
    response = render_partials(request, PAGE, [partial, "label-activity-oob"], context)
    return trigger_client_event(response, "labelsChanged")


def _undo_failed(request, partial: str, context: dict, error: str) -> HttpResponse:
    if not request.htmx:  # see _back_to_page
        messages.error(request, error)
        return _labels_page_at(None)
    return TemplateResponse(request, f"{PAGE}#{partial}", {**context, "error": error})


@require_GET
@permission_required(CAN_VIEW)
def label_overlap_view(request: HtmxHttpRequest) -> HttpResponse:
    """How the most used labels share contacts, as a map (each cell opens that pair's audience
    for those who may see contacts) and as a table. htmx asks for the map alone (the labels
    page loads it when its "How labels overlap" is opened); otherwise it is a page."""
    size = request.GET.get("size", "")
    size = int(size) if size.isdigit() and int(size) in OVERLAP_SIZES else OVERLAP_SIZES[1]
    overlap = label_overlap(size=size)
    context = {
        **_permissions(request),
        "overlap": overlap,
        "chart": overlap_map(overlap, contacts_url=reverse("admin:contacts_contact_changelist")),
        "size": size,
        "sizes": OVERLAP_SIZES,
        "can_see_contacts": request.user.has_perm("contacts.view_contact"),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return TemplateResponse(request, f"{OVERLAP_PAGE}#label-overlap", context)
    context.update(
        admin.site.each_context(request), title="How labels overlap", opts=AdminLabel._meta
    )
    return TemplateResponse(request, OVERLAP_PAGE, context)


@require_GET
@permission_required(CAN_VIEW)
def label_deletions(request: HtmxHttpRequest) -> HttpResponse:
    context = {**_permissions(request), "deletions": label_deletions_open()}
    return TemplateResponse(request, f"{PAGE}#label-deletions", context)


def _merge_context(request, form: LabelMergeForm) -> dict:
    context = {**_permissions(request), "merge_form": form}
    if form.is_valid():
        asked_target = form.cleaned_data.get("target")
        plan = label_merge_plan(ticked=form.cleaned_data["source"], target=asked_target)
        # The form found the labels; one may have been deleted since: say so, never merge into
        # or away anything else than what the person chose.
        planned = {label.pk for label in plan.ticked} | ({plan.target.pk} if plan.target else set())
        asked = {label.pk: label for label in [*form.cleaned_data["source"], asked_target] if label}
        vanished = [label for pk, label in asked.items() if pk not in planned]
        if vanished:
            names = ", ".join(f"“{label.display_name}”" for label in vanished)
            were = "was" if len(vanished) == 1 else "were"
            form.add_error(
                None,
                f"{names} {were} deleted meanwhile; nothing was merged. Tick the labels again.",
            )
            return context
        ticked_keys = [label.key for label in plan.ticked]
        context.update(
            key_users=key_users([source.key for source in plan.sources]),
            merge_picker=Picker(
                id="picker-merge-target",
                label="Merge into another label",
                suggest_url=reverse("admin:contacts_contact_suggest"),
                pick_url=reverse("admin:labels_label_merge_preview")
                + "?"
                + urlencode([("source", key) for key in ticked_keys]),
                pick_target="#label-merge",
                exclude="",
                pick_swap="outerHTML",
                placeholder="Type another label's name…",
            ),
            other_target=plan.target not in plan.ticked,
            ticked=plan.ticked,
            target=plan.target,
            sources=plan.sources,
            locked=plan.locked,
            gained=plan.gained,
        )
    return context


@require_GET
@permission_required("labels.change_label", "labels.delete_label")
def label_merge_preview_view(request: HtmxHttpRequest) -> HttpResponse:
    if "cancel" in request.GET:
        return TemplateResponse(request, f"{PAGE}#label-merge", _permissions(request))
    data = request.GET.copy()
    if data.get("key"):  # a label picked by name in the merge panel's picker is the target
        data["target"] = data["key"]
    context = _merge_context(request, LabelMergeForm(data, asking=True))
    return TemplateResponse(request, f"{PAGE}#label-merge", context)


@require_POST
@permission_required("labels.change_label", "labels.delete_label")
def label_merge_view(request: HtmxHttpRequest) -> HttpResponse:
    form = LabelMergeForm(request.POST)
    context = _merge_context(request, form)
    if not form.is_valid() or context["locked"]:
        return TemplateResponse(request, f"{PAGE}#label-merge", context)
    try:
        job = label_merge(sources=context["sources"], target=context["target"], user=request.user)
    except LabelError as error:
        return TemplateResponse(request, f"{PAGE}#label-merge", {**context, "error": str(error)})
    context.update(started=job, jobs=[job])
    return render_partials(request, PAGE, ["label-merge", "label-activity-oob"], context)


# --- Label jobs -------------------------------------------------------------------------------


def can_watch(user, job: LabelJob) -> bool:
    return job.requested_by_id == user.pk or user.has_perm("labels.view_labeljob")


def can_act_again(user, job: LabelJob) -> bool:
    """Retrying a job's failed contacts or looking at a stuck job again: a label manager, or the
    person who started it. A merge or a restore (which delete or make labels) needs what
    starting one needs."""
    if job.kind in (LabelJob.Kind.MERGE, LabelJob.Kind.RESTORE):
        return user.has_perms(["labels.change_label", "labels.delete_label"])
    return job.requested_by_id == user.pk or user.has_perm("labels.change_label")


def _undo_op(request: HtmxHttpRequest, job: LabelJob) -> Operation | None:
    """The job's operation, when this person can undo it now (bulk changes and "Save as Wix
    label"; deletes and merges are undone from the labels page)."""
    if job.is_active or job.operation_id is None or job.kind == LabelJob.Kind.MERGE:
        return None
    op = Operation.objects.defer("args", "reverse").get(pk=job.operation_id)
    return op if undo_offered(op) and can_undo(request.user, op) else None


def _progress(
    request: HtmxHttpRequest, job: LabelJob, *, table: dict | None = None, **extra
) -> HttpResponse:
    """The job's progress; once it has ended, with `table` (the labels page's table state) the
    label table comes along out of band, so that "Done" and the labels it made arrive at once."""
    context = {
        "job": job,
        "can_act_again": can_act_again(request.user, job),
        "undo_op": _undo_op(request, job),
        **extra,
    }
    if job.is_active or table is None:
        response = TemplateResponse(request, f"{JOB_PROGRESS}#job-progress", context)
    else:
        context.update(**_permissions(request), **_table_context(**table))
        names = [(f"{JOB_PROGRESS}#job-progress", False), (f"{PAGE}#label-table", True)]
        response = TemplateResponse(request, PARTIALS_TEMPLATE, {**context, "partials": names})
    if not job.is_active:
        trigger_client_event(response, "labelJobFinished", {"id": job.pk, "status": job.status})
    return response


@require_GET
def label_job_progress(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """The progress partial; polls itself while the job runs, and announces the end. From the
    labels page (which sends its table's state), the end brings the fresh table along."""
    job = get_object_or_404(LabelJob.objects.defer("contact_ids"), pk=job_id)
    if not can_watch(request.user, job):  # a person may always watch their own jobs
        raise PermissionDenied
    form = LabelJobProgressForm(request.GET)
    wants_table = form.is_valid() and form.cleaned_data["table"]
    if not wants_table or not has_permissions(request.user, CAN_VIEW):
        return _progress(request, job)
    return _progress(request, job, table=_list_state(request.GET))


@require_POST
def label_job_retry(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """A new job for the contacts Wix named as failed; answers with its progress."""
    job = get_object_or_404(LabelJob, pk=job_id)
    if not can_act_again(request.user, job):
        raise PermissionDenied
    try:
        retry = label_job_retry_failed(job=job, requested_by=request.user)
    except LabelError as error:
        return _progress(request, job, error=str(error))
    return _progress(request, retry, started_from=job)


@require_POST
def label_job_undo(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """Undo the change a finished job made (it becomes a job of its own, undoable again)."""
    job = get_object_or_404(LabelJob, pk=job_id)
    if not can_watch(request.user, job):
        raise PermissionDenied
    op = Operation.objects.filter(pk=job.operation_id).defer("args", "reverse").first()
    if op is None or not can_undo(request.user, op):
        raise PermissionDenied
    try:
        undo = operation_undo(op_id=op.pk, user=request.user)
    except (WixError, LabelError, UndoRefused) as error:
        return _progress(request, job, error=str(error))
    job.refresh_from_db()
    return _progress(request, job, undone=undo, undo_jobs=label_jobs_of(undo))


@require_POST
def label_job_again(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """Follow a stuck job's Wix job again."""
    job = get_object_or_404(LabelJob.objects.defer("contact_ids"), pk=job_id)
    if not can_act_again(request.user, job):
        raise PermissionDenied
    return _progress(request, label_job_look_again(job=job))
