"""The nested-rule builder on the contacts page (`contacts.rules`).

The builder is rendered by the server. Each control sends the rule the page shows, one change
(`do`), where (`at`, a node's path) and its value; the answer is the builder again, its hidden
`rule` field holding the new rule, and a `segmentChanged` event when what the rule matches may
have changed, so the results follow. Every control has a stable id, so the control in use keeps
the focus; after adding or removing, the focus goes to what was added, or to the group's
"Add a condition" button.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from contacts import rules as nested
from contacts.models import Audience
from contacts.selectors import label_names_for_keys
from labelsite.views import HtmxHttpRequest, permission_required
from wixcache.models import Label

TEMPLATE = "admin/contacts/contact/rule_builder.html"
BITS = "admin/contacts/contact/rule_bits.html"
# Changes of one value: the control keeps what was typed or chosen, and only the rule's hidden
# field, its sentence and the error line are sent back (a whole new builder would take the
# field from under the person typing in it, or a list from under its arrow keys).
VALUE_ACTIONS = ("op", "label", "days", "from", "to", "audience")
ACTIONS = ("add", "group", "remove", "kind", *VALUE_ACTIONS)


@dataclass
class NodeView:
    """One node as the builder shows it."""

    node: nested.Node
    path: tuple[int, ...]
    focus: bool = False
    items: list[NodeView] = field(default_factory=list)

    @property
    def at(self) -> str:
        return ".".join(map(str, self.path))

    @property
    def slug(self) -> str:  # for ids: "rule-1-0-kind"
        return "-".join(map(str, self.path)) or "top"

    @property
    def number(self) -> str:  # what a person reads: "2.1"
        return ".".join(str(i + 1) for i in self.path)

    @property
    def is_group(self) -> bool:
        return isinstance(self.node, nested.Group)

    @property
    def deep_enough(self) -> bool:
        return len(self.path) + 1 >= nested.MAX_DEPTH


def _view(node: nested.Node, path: tuple[int, ...], focus: str | None) -> NodeView:
    view = NodeView(node, path, focus == ".".join(map(str, path)))
    if isinstance(node, nested.Group):
        view.items = [_view(item, (*path, i), focus) for i, item in enumerate(node.items)]
    return view


def builder_context(
    tree: nested.Group | None,
    *,
    user,
    focus: str | None = None,
    error: str = "",
    editing: int | None = None,
) -> dict:
    """What the builder template needs: the tree as `NodeView`s, the labels and saved audiences
    to choose from (not `editing`, the audience being edited: it cannot include itself), the
    rule as a sentence."""
    tree = tree or nested.Group()
    labels = []  # an empty rule shows no lists: nothing to read for them
    if tree.items:
        labels = list(
            Label.objects.order_by("display_name", "key").values_list("key", "display_name")
        )
    known = {key for key, _name in labels}
    gone = nested.label_keys(tree) - known
    names = dict(labels)
    if gone:
        names.update(label_names_for_keys(gone))
    audiences, named = [], set()
    if tree.items and user.has_perm("contacts.view_audience"):  # they alone may name audiences
        audiences = list(Audience.objects.order_by("name", "pk").values_list("pk", "name"))
        named = nested.audience_ids(tree) - {pk for pk, _name in audiences}
    audience_map = dict(audiences)
    return {
        "rule_top": _view(tree, (), focus),
        "rule_text": tree.text() if tree.items else "",
        "rule_labels": labels,
        "rule_gone": sorted((key, names.get(key) or f"{key} (deleted)") for key in gone),
        "rule_audiences": [(pk, name) for pk, name in audiences if pk != editing],
        "rule_audiences_gone": sorted(named),
        "rule_kinds": [
            (kind, text)
            for kind, text in nested.KIND_NAMES.items()
            if kind != "audience" or user.has_perm("contacts.view_audience")
        ],
        "rule_ops": (("all", "all"), ("any", "any"), ("none", "none")),
        "rule_words": nested.in_words(tree, names, audience_map),
        "rule_error": error,
    }


class RuleEditForm(forms.Form):
    rule = forms.CharField(required=False, max_length=nested.MAX_TEXT)
    do = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    at = forms.CharField(required=False, max_length=60)
    value = forms.CharField(required=False, max_length=200)
    audience = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)  # edited


@require_GET
@permission_required("contacts.view_contact")
def rule_edit(request: HtmxHttpRequest):
    """One change to the nested rule; the builder again, with the results told to follow."""
    form = RuleEditForm(request.GET)
    if not form.is_valid():
        context = builder_context(None, user=request.user, error=nested.STALE)
        return TemplateResponse(request, TEMPLATE, context, status=400)
    data = form.cleaned_data
    editing = data["audience"]
    try:
        before = nested.parse(data["rule"])
    except nested.RuleProblem as problem:
        context = builder_context(None, user=request.user, error=str(problem))
        return TemplateResponse(request, TEMPLATE, context, status=400)
    template = BITS if data["do"] in VALUE_ACTIONS else TEMPLATE
    try:
        after, focus = nested.edit(before, data["do"], data["at"], data["value"])
    except nested.RuleProblem as problem:
        error = str(problem)
        if data["do"] in VALUE_ACTIONS:  # said beside what was typed, which stays as typed
            number = ".".join(str(int(i) + 1) for i in data["at"].split(".") if i.isdigit())
            error = f"Condition {number}: {error}"
        context = builder_context(before, user=request.user, error=error, editing=editing)
        return TemplateResponse(request, template, context)
    response = TemplateResponse(
        request,
        template,
        builder_context(after, user=request.user, focus=focus, editing=editing),
    )
    if nested.pruned(before) != nested.pruned(after):
        trigger_client_event(response, "segmentChanged", after="settle")
    return response
