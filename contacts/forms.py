"""Forms that read an audience's rules and a page position from GET parameters, and the small
POST forms of the contacts page. Malformed input becomes a plain message, never an error page."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from contacts import rules as nested
from contacts.models import Audience
from contacts.segments import (
    MAX_KEYS_PER_GROUP,
    MAX_SEARCH_LENGTH,
    SegmentRules,
    search_problem,
)
from contacts.selectors import Cursor
from labels.forms import LabelNameField, reject_control_characters
from labels.selectors import label_key_successors, label_map_for_keys
from wixcache.models import Label

PER_PAGE_CHOICES = (25, 50, 100, 200)


class LabelKeysField(forms.Field):
    widget = forms.MultipleHiddenInput

    def __init__(self, *, max_keys: int = MAX_KEYS_PER_GROUP, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_keys = max_keys

    def to_python(self, value) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        keys = [str(v).strip() for v in value if str(v).strip()]
        for key in keys:
            reject_control_characters(key)
        if len(keys) > self.max_keys:
            raise ValidationError(f"At most {self.max_keys} labels in one group.")
        if any(len(k) > 80 for k in keys):
            raise ValidationError("A label key is longer than any Wix label key.")
        return keys


class SegmentForm(forms.Form):
    """An audience's rules from GET parameters. A label that no longer exists stays in its rule
    (it never silently widens the audience: in ALL of it matches nobody) and is named in
    `missing`, for the page to say so."""

    all = LabelKeysField(required=False)
    any = LabelKeysField(required=False)
    none = LabelKeysField(required=False)
    unlabeled = forms.BooleanField(required=False)
    q = forms.CharField(
        required=False,
        max_length=MAX_SEARCH_LENGTH,
        error_messages={
            "max_length": f"Search for at most {MAX_SEARCH_LENGTH} characters at a time."
        },
    )

    rule = forms.CharField(required=False, max_length=nested.MAX_TEXT, strip=True)

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user  # whose rules: naming saved audiences needs leave to see them

    def clean_rule(self) -> nested.Group | None:
        try:
            tree = nested.parse(self.cleaned_data["rule"])
        except nested.RuleProblem as problem:
            raise ValidationError(str(problem)) from None
        if (
            nested.audience_ids(tree)
            and self.user is not None
            and not self.user.has_perm("contacts.view_audience")
        ):
            raise ValidationError(
                "These rules name saved audiences, which you may not see; take those "
                "conditions out, or ask someone who may see audiences."
            )
        return tree

    def clean_q(self) -> str:
        text = self.cleaned_data["q"]
        if problem := search_problem(text):
            raise ValidationError(problem)
        return text

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        tree = data["rule"]
        keys = {*data["all"], *data["any"], *data["none"], *nested.label_keys(tree)}
        self.labels = label_map_for_keys(keys)
        unknown = keys - self.labels.keys()
        if unknown:
            # A page or a tab from before a label was restored names its old key: the rules
            # follow the label to its new one (saving such a tab keeps the audience whole).
            moved = label_key_successors(unknown)
            if moved:
                for group in ("all", "any", "none"):
                    data[group] = [moved.get(key, key) for key in data[group]]
                tree = data["rule"] = nested.renamed(tree, moved)
                keys = {*data["all"], *data["any"], *data["none"], *nested.label_keys(tree)}
                self.labels = label_map_for_keys(keys)
        known = self.labels.keys()
        self.rules = SegmentRules(
            all_of=tuple(data["all"]),
            any_of=tuple(data["any"]),
            none_of=tuple(data["none"]),
            unlabeled=data["unlabeled"],
            search=data["q"],
            tree=tree,
            unknown_keys=tuple(sorted(keys - known)),
        )
        return data


SORT_CHOICES = [
    ("created", "Oldest first"),
    ("-created", "Newest first"),
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
    ("email", "Email, A to Z"),
    ("-email", "Email, Z to A"),
]


class ContactPageForm(SegmentForm):
    """The rules plus where the page starts: keyset cursors, a page number and a carried count."""

    after = forms.CharField(required=False, max_length=1000)
    before = forms.CharField(required=False, max_length=1000)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000_000)
    per_page = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(n, n) for n in PER_PAGE_CHOICES], empty_value=25
    )
    count = forms.IntegerField(required=False, min_value=0)
    audience = forms.IntegerField(required=False, min_value=1)
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def clean(self):
        data = super().clean()
        if data.get("after") and data.get("before"):
            raise ValidationError("A page cannot start both after and before a contact.")
        return data

    def clean_after(self) -> Cursor | None:
        return self._cursor("after")

    def clean_before(self) -> Cursor | None:
        return self._cursor("before")

    def _cursor(self, edge: str) -> Cursor | None:
        """The cursor read for the sort it was written for: a date, or a name or email.

        It is read here, with the fields, so that a bad one stops the form before the rules are
        read (the sort field comes later, so its raw value is used; a bad sort fails on its own).
        """
        text = self.cleaned_data[edge]
        if not text:
            return None
        sort = self.data.get("sort") or "created"
        if sort not in dict(SORT_CHOICES):
            sort = "created"
        cursor = Cursor.parse(text, sort=sort.removeprefix("-"))
        if cursor is None:
            raise ValidationError("This page position is not valid.")
        return cursor


class BulkLabelForm(SegmentForm):
    """Add or remove labels for the ticked contacts, or for everyone the rules match."""

    selection = forms.ChoiceField(choices=[("ids", "Ticked"), ("all", "All matching")])
    contact = forms.MultipleChoiceField(required=False, widget=forms.MultipleHiddenInput)
    add = LabelKeysField(required=False)
    remove = LabelKeysField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Ticked contacts are checked against the rules later; any id shape is accepted here.
        self.fields["contact"].valid_value = lambda value: len(value) <= 64 and "\x00" not in value

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        add, remove = data["add"], data["remove"]
        changes = label_map_for_keys({*add, *remove})
        self.add_labels = [changes[k] for k in add if k in changes]
        self.remove_labels = [changes[k] for k in remove if k in changes]
        if not self.add_labels and not self.remove_labels:
            raise ValidationError("Choose at least one label to add or remove.")
        if {lb.key for lb in self.add_labels} & {lb.key for lb in self.remove_labels}:
            raise ValidationError("A label cannot be both added and removed.")
        if data["selection"] == "ids" and not data["contact"]:
            raise ValidationError("Tick some contacts first, or select all matching.")
        if len(data["contact"]) > 1000:
            raise ValidationError("Too many ticked contacts; select all matching instead.")
        return data


class AudienceForm(forms.ModelForm):
    """An audience's name and description. A new name is one audience's (whatever its case):
    the audience list, the pickers and nested rules ("in audience …") name audiences by it. An
    audience keeps the name it has, even one another has too (saved before names were checked).
    `other_than`: the audience being saved, when the form has no instance. `user`: given, and
    not allowed to see audiences, nothing is checked: the answer would tell them which names
    exist (those who see audiences see a clash, and rename one)."""

    class Meta:
        model = Audience
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, other_than: Audience | None = None, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other_than = other_than or (self.instance if self.instance.pk else None)
        self.checked = user is None or user.has_perm("contacts.view_audience")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if not self.checked:
            return name
        if self.other_than is not None and name.casefold() == self.other_than.name.casefold():
            return name  # the name it has (as read: a ModelForm sets its instance after cleaning)
        taken = Audience.objects.filter(name__iexact=name)
        if self.other_than is not None:
            taken = taken.exclude(pk=self.other_than.pk)
        if taken.exists():
            raise ValidationError(
                f"An audience named “{name}” exists already; choose another name."
            )
        return name


class AudienceIdForm(forms.Form):
    """The saved audience the builder is editing, if any."""

    audience = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class WixLabelNameForm(forms.Form):
    name = LabelNameField()


class LabelSearchForm(forms.Form):
    """What a label picker asks: the typed text, and the labels already chosen (left out)."""

    label_q = forms.CharField(required=False, max_length=180)
    exclude = LabelKeysField(required=False, max_keys=5 * MAX_KEYS_PER_GROUP)


class ContactLabelForm(forms.Form):
    key = forms.CharField(max_length=80)


class ContactListForm(forms.Form):
    """Label from a list, step one: the list, pasted or as a file (one of the two)."""

    text = forms.CharField(
        label="Paste email addresses or Wix contact ids",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One per line, or however they came: “Anna <anna@example.com>; bob@…” works.",
    )
    file = forms.FileField(
        label="or choose a CSV or text file",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
        help_text="The first email address or contact id of each row is used; up to 100,000 rows.",
    )

    def clean(self):
        data = super().clean()
        pasted, upload = (data.get("text") or "").strip(), data.get("file")
        if pasted and upload:
            raise ValidationError("Paste a list or choose a file, not both.")
        if not pasted and not upload:
            raise ValidationError("Paste email addresses or contact ids, or choose a file.")
        return data


class ContactListChangeForm(forms.Form):
    """Label from a list, step two: which label, added or removed."""

    label = forms.CharField(max_length=255)
    action = forms.ChoiceField(
        choices=[("add", "Add the label"), ("remove", "Remove the label")],
        initial="add",
        widget=forms.RadioSelect,
    )
    # The number of contacts the preview said would change: applying refuses another number.
    expected = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean_label(self) -> Label:
        key = self.cleaned_data["label"]
        label = label_map_for_keys([key]).get(key) if "\x00" not in key else None
        if label is None:
            raise ValidationError(
                "This label is not in Wix any more (it was deleted meanwhile). Choose another."
            )
        return label
