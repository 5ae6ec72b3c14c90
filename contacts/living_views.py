"""The audience page's "Keep as a living Wix label" panel (`contacts.living`): a preview of
what starting would change, starting (the label found or created in Wix first), the state of a
living label (refreshed while changes are pending), and stopping."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from contacts.forms import WixLabelNameForm
from contacts.living import (
    LivingRefused,
    living_allow,
    living_difference,
    living_label_start,
    living_label_stop,
    living_labels_for_keys,
    living_loop,
    living_removal_refusal,
    living_status,
)
from contacts.models import Audience, LivingLabel, audience_can_change
from contacts.segments import SegmentRules
from contacts.selectors import contact_count_for_segment
from labels.selectors import label_with_name
from labels.services import LabelError, label_create
from labelsite.views import HtmxHttpRequest, permission_required
from labelsite.wix import WixError
from wixcache.models import Label

TEMPLATE = "admin/contacts/audience/living.html"
CHANGE_PERMISSIONS = ("contacts.view_audience", "contacts.label_contacts", "labels.add_label")


def living_context(request: HtmxHttpRequest, audience: Audience, **extra) -> dict:
    """The panel's state for this person: the living label's status, or the form to start."""
    living = LivingLabel.objects.filter(audience=audience).select_related("audience").first()
    may_change = all(request.user.has_perm(p) for p in CHANGE_PERMISSIONS) and (
        audience_can_change(request.user, audience)
    )
    return {
        "audience": audience,
        "status": living_status(living) if living else None,
        "may_change": may_change,
        **extra,
    }


def _audience_to_change(request: HtmxHttpRequest, audience_id: int) -> Audience:
    audience = get_object_or_404(Audience, pk=audience_id)
    if not audience_can_change(request.user, audience):
        raise PermissionDenied
    return audience


@require_GET
@permission_required("contacts.view_contact", "contacts.view_audience")
def living_panel(request: HtmxHttpRequest, audience_id: int):
    audience = get_object_or_404(Audience, pk=audience_id)
    if not request.htmx:  # the panel's address opened by hand: the page it belongs to
        return redirect("admin:contacts_audience_change", audience.pk)
    return TemplateResponse(request, TEMPLATE, living_context(request, audience))


@require_POST
@permission_required(*CHANGE_PERMISSIONS)
def living_preview(request: HtmxHttpRequest, audience_id: int):
    """What starting would do: the label (found, or to be made), who gets it, who loses it."""
    audience = _audience_to_change(request, audience_id)
    form = WixLabelNameForm(request.POST)
    extra: dict = {"label_form": form}
    if form.is_valid():
        name = form.cleaned_data["name"]
        label = label_with_name(name)
        rules = SegmentRules.from_json(audience.rules)
        extra.update(label_name=name, existing=label)
        keeper = living_labels_for_keys([label.key]).get(label.key) if label else None
        if label is not None and label.is_system:
            extra["refused"] = f"“{label}” is a system label: Wix does not let anyone change it."
        elif keeper is not None:
            extra["refused"] = (
                f"“{label}” is kept by audience “{keeper.audience}” already; a label can follow "
                "one audience only. Choose another name."
            )
        elif label is not None and (refusal := living_loop(audience, rules, label.key)):
            extra["refused"] = refusal
        else:
            extra.update(_preview(request, rules, label))
    return TemplateResponse(request, TEMPLATE, living_context(request, audience, **extra))


def _preview(request: HtmxHttpRequest, rules: SegmentRules, label) -> dict:
    """Who would get the label and who would lose it; why it is refused, if it is."""
    if label is None:
        return {"entering": contact_count_for_segment(rules=rules), "leaving": 0}
    difference = living_difference(rules, label)
    if difference is None:
        return {"refused": "These rules name a label or saved audience that is gone, or loop."}
    entering, leaving = len(difference.entering), len(difference.leaving)
    refusal = living_removal_refusal(label, leaving, user=request.user)
    return {"entering": entering, "leaving": leaving, "refused": refusal}


@require_POST
@permission_required(*CHANGE_PERMISSIONS)
def living_start(request: HtmxHttpRequest, audience_id: int):
    """Find or create the label in Wix, then keep it living; the first pass follows at once."""
    audience = _audience_to_change(request, audience_id)
    form = WixLabelNameForm(request.POST)
    if not form.is_valid():
        return TemplateResponse(
            request, TEMPLATE, living_context(request, audience, label_form=form)
        )
    name = form.cleaned_data["name"]
    rules = SegmentRules.from_json(audience.rules)
    label = label_with_name(name)
    preview = _preview(request, rules, label)
    seen = f"{preview.get('entering')}:{preview.get('leaving')}"
    if preview.get("refused") or request.POST.get("expected") != seen:
        # The figures moved since the preview (or were never seen): show them again.
        extra = {"label_name": name, "existing": label, **preview}
        if not preview.get("refused"):
            extra["moved"] = True
        return TemplateResponse(request, TEMPLATE, living_context(request, audience, **extra))
    try:
        label = label or label_create(display_name=name, user=request.user)[0]
        living = living_label_start(audience=audience, label=label, user=request.user)
        living_allow(living, preview["leaving"])  # what the person saw and confirmed
    except (WixError, LabelError, LivingRefused) as error:
        return TemplateResponse(
            request, TEMPLATE, living_context(request, audience, label_name=name, error=str(error))
        )
    return TemplateResponse(
        request, TEMPLATE, living_context(request, audience, started=True, acted=True)
    )


@require_POST
@permission_required(*CHANGE_PERMISSIONS)
def living_stop(request: HtmxHttpRequest, audience_id: int):
    audience = _audience_to_change(request, audience_id)
    living = LivingLabel.objects.filter(audience=audience).first()
    if living is not None:
        living_label_stop(living=living, user=request.user)
    return TemplateResponse(request, TEMPLATE, living_context(request, audience, stopped=True))


@require_POST
@permission_required(*CHANGE_PERMISSIONS)
def living_confirm(request: HtmxHttpRequest, audience_id: int):
    """A person's word for a removal the pass held back (more than half the holders)."""
    audience = _audience_to_change(request, audience_id)
    living = LivingLabel.objects.filter(audience=audience).first()
    extra = {"acted": True}
    if living is not None and living.waiting:
        label = Label.objects.filter(key=living.label_key).first()
        refusal = label and living_removal_refusal(label, living.waiting_leaving, user=request.user)
        if refusal:
            extra["error"] = refusal
        elif str(living.waiting_leaving) == request.POST.get("expected"):
            living_allow(living, living.waiting_leaving)
            living.refresh_from_db()
    return TemplateResponse(request, TEMPLATE, living_context(request, audience, **extra))
