"""The contacts page (segment builder, results, bulk labelling, saving, export), saved audiences
and the contact page (label chips edited in place, history). Each view checks its own
permission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url, trigger_client_event

from contacts import rules as nested
from contacts.charts import sizes_chart
from contacts.export import contact_csv_rows, export_content_disposition
from contacts.forms import (
    PER_PAGE_CHOICES,
    AudienceForm,
    AudienceIdForm,
    BulkLabelForm,
    ContactLabelForm,
    ContactPageForm,
    LabelSearchForm,
    SegmentForm,
    WixLabelNameForm,
)
from contacts.history import contact_history
from contacts.living import (
    living_allow,
    living_difference,
    living_labels_for_keys,
    living_loop,
    living_pass_queue,
    living_removal_refusal,
)
from contacts.models import Audience, LivingLabel, audience_can_change
from contacts.models import Contact as AdminContact
from contacts.rule_views import builder_context
from contacts.segments import SegmentRules
from contacts.selectors import (
    audience_label_preview,
    contact_count_and_page_for_segment,
    contact_count_for_segment,
    contact_wix_ids_for_change,
    label_chips_for_contacts,
    label_contact_counts,
    label_map_for_contacts,
)
from contacts.services import (
    AudienceRefused,
    TakesLabelFromEveryone,
    audience_create,
    audience_duplicate,
    audience_label_start,
    audience_update,
    contact_label_add,
    contact_label_remove,
    contacts_label_bulk_start,
    takes_from_everyone_refusal,
)
from journal.models import Operation
from journal.references import label_names_known
from journal.services import undo_seconds
from journal.undo import UndoRefused, can_undo, operation_undo, undo_offered
from labels.selectors import (
    label_deleted_names,
    label_get,
    label_jobs_for_contact,
    label_list_for_search,
    label_map_for_keys,
    label_with_name,
)
from labels.services import LabelError
from labelsite.pickers import Picker
from labelsite.views import HtmxHttpRequest, permission_required
from labelsite.wix import WixError
from wixcache.models import Contact, Label

PAGE = "admin/contacts/contact/change_list.html"
SIZE_DAYS = 90  # an audience's size over time: the last 90 days
CONTACT_PAGE = "admin/contacts/contact/change_form.html"
GROUPS = {"all": "ALL of", "any": "ANY of", "none": "NONE of"}
BULK_GROUPS = {"add": "Add labels", "remove": "Remove labels"}
PICKER_TEMPLATE = "admin/contacts/label_picker.html"


def _chip_picker(group: str, title: str, exclude: str) -> Picker:
    label, placeholder = f"Add a label to {title}", "Type to add a label…"
    if group == "add":
        label = "Label to add"
    elif group == "remove":
        label, placeholder = "Label to remove", "Type a label to remove…"
    return Picker(
        id=f"picker-{group}",
        label=label,
        suggest_url=reverse("admin:contacts_contact_suggest"),
        pick_url=f"{reverse('admin:contacts_contact_chip')}?group={group}",
        pick_target=f"#chips-{group}",
        exclude=exclude,
        placeholder=placeholder,
    )


def _page_url(rules: SegmentRules, **extra) -> str:
    query = rules.querystring(**extra)
    return reverse("admin:contacts_contact_changelist") + (f"?{query}" if query else "")


@dataclass(frozen=True)
class MissingLabel:
    """A label a rule names that no longer exists: shown as a chip that says so."""

    key: str
    display_name: str
    missing: bool = True

    def __str__(self) -> str:
        return f"{self.display_name} (deleted)"


def _missing_labels(rules: SegmentRules) -> dict[str, MissingLabel]:
    keys = set(rules.unknown_keys)
    if not keys:
        return {}
    names = label_names_known(keys)
    names.update(label_deleted_names(keys))
    return {key: MissingLabel(key, names.get(key, key)) for key in keys}


def _missing_notes(rules: SegmentRules, missing: dict[str, MissingLabel]) -> list[str]:
    """Plain sentences on what the missing labels do to the audience."""
    notes = []
    gone_all = [missing[k].display_name for k in rules.all_of if k in missing]
    if gone_all:
        notes.append(
            f"{_quoted(gone_all)} no longer exist{'s' if len(gone_all) == 1 else ''}, so no "
            "contact can have it: this audience matches nobody. Remove it, or pick another "
            "label for ALL of."
        )
    gone_any = [missing[k].display_name for k in rules.any_of if k in missing]
    if gone_any and len(gone_any) == len(rules.any_of):
        notes.append(
            f"None of the labels in ANY of exists any more ({_quoted(gone_any)}): this "
            "audience matches nobody. Pick another label for ANY of."
        )
    elif gone_any:
        notes.append(f"{_quoted(gone_any)} no longer exists; ANY of uses the other labels.")
    gone_none = [missing[k].display_name for k in rules.none_of if k in missing]
    if gone_none:
        notes.append(f"{_quoted(gone_none)} no longer exists; nobody has it to be left out.")
    nested_keys = sorted(nested.label_keys(rules.tree))
    gone_nested = [missing[k].display_name for k in nested_keys if k in missing]
    if gone_nested:
        notes.append(
            f"{_quoted(gone_nested)} no longer exist{'s' if len(gone_nested) == 1 else ''}: in "
            "the nested rule nobody has it. Choose another label there."
        )
    return notes


def _quoted(names: list[str]) -> str:
    return ", ".join(f"“{name}”" for name in names)


def _results_context(form: ContactPageForm, request: HttpRequest) -> dict:
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return {"errors": errors, "rules": getattr(form, "rules", SegmentRules())}
    data, rules = form.cleaned_data, form.rules
    label_ids = {key: label.pk for key, label in form.labels.items()}
    per_page = data["per_page"] or 25
    sort = data["sort"] or "created"
    count, page = contact_count_and_page_for_segment(
        rules=rules,
        label_ids=label_ids,
        per_page=per_page,
        after=data["after"],
        before=data["before"],
        # A page turn carries the count; the first page counts afresh.
        count=data["count"] if data["after"] or data["before"] else None,
        sort=sort,
    )
    _prepare_rows(page.contacts)
    number = data["page"] or 1
    audience_id = data["audience"]
    keep = {
        "per_page": per_page if per_page != 25 else None,
        "audience": audience_id,
        "sort": sort if sort != "created" else None,
    }
    missing = _missing_labels(rules)
    return {
        "rules": rules,
        "labels": {**form.labels, **missing},
        "missing_notes": _missing_notes(rules, missing),
        "count": count,
        "page": page,
        "page_number": number,
        "page_total": max(1, -(-count // per_page)),
        "per_page": per_page,
        "per_page_choices": PER_PAGE_CHOICES,
        "next_url": page.next_cursor
        and _page_url(rules, after=page.next_cursor, page=number + 1, count=count, **keep),
        "previous_url": page.previous_cursor
        and _page_url(rules, before=page.previous_cursor, page=number - 1, count=count, **keep),
        "first_url": _page_url(rules, **keep),
        "sort": sort,
        "sort_columns": _sort_columns(rules, sort, keep),
        # After a bulk job the same page again, counted afresh: the labels on it have changed.
        "refresh_url": _page_url(
            rules,
            after=data["after"],
            before=data["before"],
            page=number if data["after"] or data["before"] else None,
            **keep,
        ),
        "querystring": rules.querystring(),
        "export_querystring": rules.querystring(audience=audience_id),
        "can_label": request.user.has_perm("contacts.label_contacts"),
        "can_export": request.user.has_perm("contacts.export_contacts"),
    }


SORT_COLUMNS = {
    # column: (its name in the header, what ascending and descending read as)
    "name": ("Name", "A to Z", "Z to A"),
    "email": ("Email", "A to Z", "Z to A"),
    "created": ("Created", "oldest first", "newest first"),
}


def _sort_columns(rules: SegmentRules, sort: str, keep: dict) -> dict[str, dict]:
    """Each sortable header's state and link: a click sorts by it, a second click reverses."""
    columns = {}
    for column, (title, ascending, descending) in SORT_COLUMNS.items():
        state = "ascending" if sort == column else "descending" if sort == f"-{column}" else None
        turn_to = f"-{column}" if state == "ascending" else column
        columns[column] = {
            "title": title,
            "state": state,
            "said": {"ascending": ascending, "descending": descending}.get(state, ""),
            "url": _page_url(rules, **{**keep, "sort": None if turn_to == "created" else turn_to}),
            "hint": f"Sort by {title.lower()}, "
            + (descending if turn_to.startswith("-") else ascending),
        }
    return columns


def _prepare_rows(contacts: list[Contact]) -> None:
    """Give each row its link, name, date and chips ready to print.

    The row loop is the page's hot spot (200 rows, some 700 chips): one `reverse`, one chip
    fragment per distinct label and no filters in the loop keep rendering a few milliseconds.
    """
    change_url = reverse("admin:contacts_contact_change", args=[0]).replace("/0/", "/{}/", 1)
    chips = label_chips_for_contacts(contact_ids=[c.pk for c in contacts])
    fragments: dict[tuple, SafeString] = {}
    for contact in contacts:
        items = []
        for chip in chips.get(contact.pk, ()):
            if chip not in fragments:
                name, system, key, colour, description = chip
                fragments[chip] = format_html(
                    '<li class="chip{}{}"{}><a class="chip-name" href="{}">{}</a></li>',
                    " chip-system" if system else "",
                    f" chip-colour chip-{colour}" if colour else "",
                    format_html(' title="{}"', description) if description else "",
                    reverse("admin:labels_label_detail", args=[key]),
                    name,
                )
            items.append(fragments[chip])
        contact.chip_items = mark_safe("".join(items))  # noqa: S308 (joined escaped fragments)
        contact.url = change_url.format(contact.pk)
        contact.title = str(contact)
        contact.created = timezone.localtime(contact.remote_created_at).strftime("%Y-%m-%d")


@require_GET
@permission_required("contacts.view_contact")
def contacts_page(request: HtmxHttpRequest, extra_context: dict | None = None):
    form = ContactPageForm(request.GET, user=request.user)
    context = _results_context(form, request)
    if request.htmx and not request.htmx.history_restore_request:
        response = TemplateResponse(request, f"{PAGE}#results", context)
        # The carried count and cursors are for page turns only; the address bar keeps the rules.
        rules = context["rules"]
        keep = {k: request.GET.get(k) for k in ("per_page", "audience", "sort")}
        if "page" in context:
            keep.update(
                after=request.GET.get("after"),
                before=request.GET.get("before"),
                page=request.GET.get("page"),
            )
        return push_url(response, _page_url(rules, **keep))
    audience, labels = None, context.get("labels", {})
    can_read_audiences = request.user.has_perm("contacts.view_audience")
    if form.is_valid() and form.cleaned_data["audience"] and can_read_audiences:
        audience = (
            Audience.objects.select_related("created_by", "living")
            .filter(pk=form.cleaned_data["audience"])
            .first()
        )
    rules = context["rules"]
    context.update(
        admin.site.each_context(request),
        title=f"Audience: {audience}" if audience else "Contacts",
        opts=AdminContact._meta,
        groups=[
            (
                name,
                title,
                [labels[k] for k in getattr(rules, f"{name}_of")],
                _chip_picker(name, title, exclude="#segment-rules"),
            )
            for name, title in GROUPS.items()
        ],
        bulk_groups=[
            (name, title, _chip_picker(name, title, exclude="#chips-add, #chips-remove"))
            for name, title in BULK_GROUPS.items()
        ],
        audience=audience,
        audience_form=AudienceForm(instance=audience) if audience else AudienceForm(),
        can_save=request.user.has_perm("contacts.add_audience"),
        can_change_audience=audience is not None and audience_can_change(request.user, audience),
        audience_living=audience is not None and hasattr(audience, "living"),
        search_value=rules.search,
        **builder_context(rules.tree, user=request.user, editing=audience and audience.pk),
        **(extra_context or {}),
    )
    return TemplateResponse(request, PAGE, context)


@require_GET
@permission_required(("contacts.view_contact", "labels.view_label"))  # also the merge panel's
def label_suggest(request: HtmxHttpRequest):
    """The picker's options: labels whose names hold the typed text, best match first, without
    those already chosen."""
    form = LabelSearchForm(request.GET)
    if not form.is_valid():
        return TemplateResponse(request, f"{PICKER_TEMPLATE}#options", {"labels": []})
    labels = label_list_for_search(
        text=form.cleaned_data["label_q"].strip(), exclude=form.cleaned_data["exclude"]
    )
    return TemplateResponse(request, f"{PICKER_TEMPLATE}#options", {"labels": labels})


@require_GET
@permission_required("contacts.view_contact")
def label_chip(request: HtmxHttpRequest):
    """One chip for a group; a chip in ALL/ANY/NONE of then refreshes the results."""
    key = request.GET.get("key", "")
    if "\x00" in key:  # no label has one, and PostgreSQL cannot even compare it
        raise Http404
    label = label_get(key=key)
    if label is None:
        raise Http404
    group = request.GET.get("group", "all")
    if group not in (*GROUPS, *BULK_GROUPS):
        group = "all"
    response = TemplateResponse(request, f"{PAGE}#chip", {"label": label, "group": group})
    if group in GROUPS:
        trigger_client_event(response, "segmentChanged", after="settle")
    return response


@require_GET
@permission_required("contacts.view_contact")
def chip_removed(request: HtmxHttpRequest):
    """The answer to a chip's remove button: nothing to show, but the results must follow."""
    response = TemplateResponse(request, f"{PAGE}#nothing", {})
    if request.GET.get("group") in GROUPS:
        trigger_client_event(response, "segmentChanged", after="settle")
    return response


def _bulk_scope(form: BulkLabelForm) -> list[str] | None:
    return form.cleaned_data["contact"] if form.cleaned_data["selection"] == "ids" else None


def _takes_label_from_everyone(form: BulkLabelForm) -> list[Label]:
    """The labels this change would take from every contact that has them: that amounts to
    deleting the label (without Delete's safeguards), so it is a label manager's action."""
    if not form.remove_labels:
        return []
    counts = label_contact_counts([label.pk for label in form.remove_labels])
    taken = []
    for label in form.remove_labels:
        losing = contact_wix_ids_for_change(
            rules=form.rules, remove_ids=[label.pk], only_wix_ids=_bulk_scope(form)
        )
        if counts.get(label.pk) and len(losing) >= counts[label.pk]:
            taken.append(label)
    return taken


def _everyone_refused(request: HtmxHttpRequest, form: BulkLabelForm) -> str:
    """Why this person may not make the change (see `takes_from_everyone_refusal`), or ""."""
    if request.user.has_perm("labels.delete_label"):
        return ""
    for label in form.remove_labels:
        losing = contact_wix_ids_for_change(
            rules=form.rules, remove_ids=[label.pk], only_wix_ids=_bulk_scope(form)
        )
        refusal = takes_from_everyone_refusal(label, losing, user=request.user)
        if refusal:
            return refusal
    return ""


@require_POST
@permission_required("contacts.view_contact", "contacts.label_contacts")
def bulk_preview(request: HtmxHttpRequest):
    form = BulkLabelForm(request.POST, user=request.user)
    context = {"bulk_form": form, "post": request.POST}
    if form.is_valid():
        context["changing"] = len(
            contact_wix_ids_for_change(
                rules=form.rules,
                add_ids=[lb.pk for lb in form.add_labels],
                remove_ids=[lb.pk for lb in form.remove_labels],
                only_wix_ids=_bulk_scope(form),
            )
        )
        context["matching"] = (
            contact_count_for_segment(rules=form.rules)
            if _bulk_scope(form) is None
            else len(form.cleaned_data["contact"])
        )
        context["add_labels"], context["remove_labels"] = form.add_labels, form.remove_labels
        context["refused"] = _everyone_refused(request, form)
        context["takes_from_everyone"] = _takes_label_from_everyone(form)
        changed = [label.key for label in (*form.add_labels, *form.remove_labels)]
        context["livings"] = list(living_labels_for_keys(changed).values())
        context["undo_seconds"] = undo_seconds()
    return TemplateResponse(request, f"{PAGE}#bulk-panel", context)


@require_POST
@permission_required("contacts.view_contact", "contacts.label_contacts")
def bulk_start(request: HtmxHttpRequest):
    form = BulkLabelForm(request.POST, user=request.user)
    if not form.is_valid():
        return TemplateResponse(request, f"{PAGE}#bulk-panel", {"bulk_form": form})
    refused = _everyone_refused(request, form)
    if refused:
        return TemplateResponse(
            request, f"{PAGE}#bulk-panel", {"bulk_form": form, "refused": refused}, status=403
        )
    try:
        job = contacts_label_bulk_start(
            rules=form.rules,
            add=form.add_labels,
            remove=form.remove_labels,
            only_wix_ids=_bulk_scope(form),
            user=request.user,
        )
    except TakesLabelFromEveryone as refusal:  # another change got there first
        context = {"bulk_form": form, "refused": str(refusal)}
        return TemplateResponse(request, f"{PAGE}#bulk-panel", context, status=403)
    return TemplateResponse(request, f"{PAGE}#bulk-panel", {"job": job})


@require_POST
@permission_required("contacts.view_contact", "contacts.add_audience")
def audience_save(request: HtmxHttpRequest):
    """Save the builder's rules as a new audience, or into the one being edited."""
    segment = SegmentForm(request.POST, user=request.user)
    audience = None
    if request.POST.get("audience"):
        which = AudienceIdForm(request.POST)
        audience = (
            which.is_valid() and Audience.objects.filter(pk=which.cleaned_data["audience"]).first()
        )
        if not audience:
            return TemplateResponse(
                request,
                f"{PAGE}#save-errors",
                {"save_errors": ["That audience no longer exists; reload the page."]},
                status=400,
            )
        if not audience_can_change(request.user, audience):
            raise PermissionDenied
    form = AudienceForm(request.POST, other_than=audience, user=request.user)
    if not (segment.is_valid() and form.is_valid()):
        errors = [e for f in (segment, form) for errs in f.errors.values() for e in errs]
        return TemplateResponse(request, f"{PAGE}#save-errors", {"save_errors": errors})
    if audience is None:
        try:
            audience = audience_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                rules=segment.rules,
                user=request.user,
            )
        except AudienceRefused as refused:
            return TemplateResponse(request, f"{PAGE}#save-errors", {"save_errors": [str(refused)]})
        messages.success(request, f"Audience “{audience}” saved.")
    else:
        if answer := _living_rules_check(request, audience, segment.rules):
            return answer
        try:
            audience = audience_update(
                audience=audience,
                rules=segment.rules,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                user=request.user,
            )
        except AudienceRefused as refused:
            return TemplateResponse(request, f"{PAGE}#save-errors", {"save_errors": [str(refused)]})
        messages.success(request, f"Audience “{audience}” updated.")
        if hasattr(audience, "living"):
            living_pass_queue(why=f"the audience's rules changed ({request.user})")
    return HttpResponseClientRedirect(audience_url(audience))


def _living_rules_check(
    request: HtmxHttpRequest, audience: Audience, rules: SegmentRules
) -> TemplateResponse | None:
    """New rules for an audience kept as a living label: refused if they would read the label
    itself; otherwise the difference first (who would get the label, who would lose it), saved
    once the person confirms that same difference. None: nothing to ask."""
    living = LivingLabel.objects.filter(audience=audience).first()
    if living is None or rules.as_json() == audience.rules:
        return None
    label = Label.objects.filter(key=living.label_key).first()
    if refusal := living_loop(audience, rules, living.label_key):
        return TemplateResponse(request, f"{PAGE}#save-errors", {"save_errors": [refusal]})
    if label is None:
        return None  # paused: nothing changes in Wix until the label is back
    difference = living_difference(rules, label)
    if difference is None:
        return None  # rules with a hole: the living label waits, changing nothing in Wix
    leaving = len(difference.leaving)
    if refusal := living_removal_refusal(label, leaving, user=request.user):
        return TemplateResponse(request, f"{PAGE}#save-errors", {"save_errors": [refusal]})
    said = f"{len(difference.entering)}:{leaving}"
    if request.POST.get("living_confirmed") == said:
        living_allow(living, leaving)  # the person saw how many would lose it
        return None
    context = {
        "living_change": {
            "label": label,
            "entering": len(difference.entering),
            "leaving": len(difference.leaving),
            "said": said,
            "audience": audience,
        }
    }
    return TemplateResponse(request, f"{PAGE}#save-errors", context)


def audience_url(audience: Audience) -> str:
    return _page_url(SegmentRules.from_json(audience.rules), audience=audience.pk)


@require_GET
@permission_required("contacts.view_contact", "contacts.view_audience")
def audience_sizes_view(request: HtmxHttpRequest, audience_id: int):
    """The audience's size over the last 90 days, as a chart and as a table."""
    audience = get_object_or_404(Audience, pk=audience_id)
    today = timezone.localdate()
    rows = list(
        audience.sizes.filter(day__gt=today - timedelta(days=SIZE_DAYS))
        .order_by("day")
        .values_list("day", "count", "smallest", "largest")
    )
    chart = sizes_chart(rows, today=today, span=SIZE_DAYS)
    return TemplateResponse(
        request, "admin/contacts/audience/sizes.html", {"audience": audience, "chart": chart}
    )


@require_POST
@permission_required("contacts.view_audience", "contacts.add_audience")
def audience_duplicate_view(request: HtmxHttpRequest, audience_id: int):
    copy = audience_duplicate(
        audience=get_object_or_404(Audience, pk=audience_id), user=request.user
    )
    messages.success(request, f"Audience duplicated as “{copy}”.")
    return HttpResponseClientRedirect(audience_url(copy))


def _wix_label(request: HtmxHttpRequest, audience_id: int):
    audience = get_object_or_404(Audience, pk=audience_id)
    return audience, WixLabelNameForm(request.POST)


WIX_LABEL_PERMISSIONS = ("contacts.view_audience", "contacts.label_contacts", "labels.add_label")


@require_POST
@permission_required(*WIX_LABEL_PERMISSIONS)
def audience_wix_label_preview(request: HtmxHttpRequest, audience_id: int):
    audience, form = _wix_label(request, audience_id)
    context = {"audience": audience, "label_form": form}
    if form.is_valid():
        name = form.cleaned_data["name"]
        existing, changing = audience_label_preview(
            rules=SegmentRules.from_json(audience.rules), label=label_with_name(name)
        )
        context.update(label_name=name, existing=existing, changing=changing)
    return TemplateResponse(request, f"{PAGE}#wix-label", context)


@require_POST
@permission_required(*WIX_LABEL_PERMISSIONS)
def audience_wix_label_start(request: HtmxHttpRequest, audience_id: int):
    audience, form = _wix_label(request, audience_id)
    context = {"audience": audience, "label_form": form}
    if form.is_valid():
        try:
            context["job"] = audience_label_start(
                audience=audience, label_name=form.cleaned_data["name"], user=request.user
            )
        except (WixError, LabelError) as error:
            context["wix_error"] = str(error)
    return TemplateResponse(request, f"{PAGE}#wix-label", context)


@require_GET
@permission_required("contacts.view_contact", "contacts.export_contacts")
def export_csv(request: HtmxHttpRequest):
    form = SegmentForm(request.GET, user=request.user)
    if not form.is_valid():
        context = _results_context(ContactPageForm(request.GET, user=request.user), request)
        context.update(admin.site.each_context(request), title="Contacts", opts=AdminContact._meta)
        return TemplateResponse(request, PAGE, context, status=400)
    excel = request.GET.get("excel") == "1"
    response = StreamingHttpResponse(
        (line.encode() for line in contact_csv_rows(rules=form.rules, excel=excel)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = export_content_disposition(
        audience_name=_export_audience_name(request, form.rules), day=timezone.localdate()
    )
    return response


def _export_audience_name(request: HtmxHttpRequest, rules: SegmentRules) -> str | None:
    """The name of the saved audience being exported, for the file name (if the person may see
    saved audiences), and only while the rules are the audience's own: a file of edited rules
    named after the audience would be imported as that audience."""
    which = AudienceIdForm(request.GET)
    if not which.is_valid() or not request.user.has_perm("contacts.view_audience"):
        return None
    audience = Audience.objects.filter(pk=which.cleaned_data["audience"]).first()
    if audience is None or SegmentRules.from_json(audience.rules).as_json() != rules.as_json():
        return None
    return audience.name


# --- The contact page -------------------------------------------------------------------------


def _contact_context(request: HttpRequest, contact: Contact) -> dict:
    return {
        "contact": contact,
        "chips": label_map_for_contacts([contact.pk]).get(contact.pk, []),
        "history": contact_history(contact=contact),
        "jobs": label_jobs_for_contact(wix_id=contact.wix_id),
        "can_label": request.user.has_perm("contacts.label_contacts"),
    }


@require_GET
@permission_required("contacts.view_contact")
def contact_page(request: HtmxHttpRequest, contact_id: int, extra_context: dict | None = None):
    contact = get_object_or_404(Contact, pk=contact_id)
    context = _contact_context(request, contact)
    context.update(
        admin.site.each_context(request),
        title=str(contact),
        opts=AdminContact._meta,
        original=contact,
        picker=Picker(
            id="picker-contact",
            label="Add a label",
            suggest_url=reverse("admin:contacts_contact_label_suggest", args=[contact.pk]),
            pick_url=reverse("admin:contacts_contact_label_add", args=[contact.pk]),
            pick_method="POST",
            pick_target="#contact-labels",
            pick_swap="outerHTML",
            exclude="",  # the server leaves out the labels the contact has
        ),
        **(extra_context or {}),
    )
    return TemplateResponse(request, CONTACT_PAGE, context)


@require_GET
@permission_required("contacts.view_contact", "contacts.label_contacts")
def contact_label_suggest(request: HtmxHttpRequest, contact_id: int):
    """The picker's options for a contact: labels it does not have yet, best match first."""
    contact = get_object_or_404(Contact, pk=contact_id)
    form = LabelSearchForm(request.GET)
    if not form.is_valid():
        return TemplateResponse(request, f"{PICKER_TEMPLATE}#options", {"labels": []})
    have = contact.labels.values_list("key", flat=True)
    labels = label_list_for_search(text=form.cleaned_data["label_q"].strip(), exclude=list(have))
    return TemplateResponse(request, f"{PICKER_TEMPLATE}#options", {"labels": labels})


def _contact_label_change(request: HtmxHttpRequest, contact_id: int, change) -> TemplateResponse:
    contact = get_object_or_404(Contact, pk=contact_id)
    form = ContactLabelForm(request.POST)
    error, op = "", None
    if form.is_valid():
        label = label_map_for_keys([form.cleaned_data["key"]]).get(form.cleaned_data["key"])
        if label is None:
            error = "That label no longer exists; reload the page."
        else:
            try:
                op = change(contact=contact, label=label, user=request.user)
            except WixError as wix_error:
                error = str(wix_error)
    else:
        error = "Choose a label."
    return _contact_labels(request, contact, error=error, done_op=op)


def _contact_labels(request: HtmxHttpRequest, contact: Contact, **extra) -> TemplateResponse:
    op = extra.get("done_op")
    undoable = (
        op is not None
        and op.kind != Operation.Kind.UNDO  # its undo would redo it: not offered here
        and undo_offered(op)
        and can_undo(request.user, op)
    )
    context = _contact_context(request, contact) | extra | {"undo_op": op if undoable else None}
    return TemplateResponse(request, f"{CONTACT_PAGE}#contact-answer", context)


@require_POST
@permission_required("contacts.view_contact", "contacts.label_contacts")
def contact_label_undo(request: HtmxHttpRequest, contact_id: int, operation_id: int):
    """Undo a label change made on this contact's page."""
    contact = get_object_or_404(Contact, pk=contact_id)
    op = get_object_or_404(
        Operation.objects.all(),
        pk=operation_id,
        kind=Operation.Kind.CONTACT_LABELS,
        args__contact=contact.wix_id,
    )
    if not can_undo(request.user, op):
        raise PermissionDenied
    try:
        undo = operation_undo(op_id=op.pk, user=request.user)
    except UndoRefused as error:
        return _contact_labels(request, contact, error=str(error))
    undo.outcome = f"Undone: {op.summary}."
    return _contact_labels(request, contact, done_op=undo)


@require_POST
@permission_required("contacts.view_contact", "contacts.label_contacts")
def contact_label_add_view(request: HtmxHttpRequest, contact_id: int):
    return _contact_label_change(request, contact_id, contact_label_add)


@require_POST
@permission_required("contacts.view_contact", "contacts.label_contacts")
def contact_label_remove_view(request: HtmxHttpRequest, contact_id: int):
    return _contact_label_change(request, contact_id, contact_label_remove)
