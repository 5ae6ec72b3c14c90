from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

from labels.models import LabelNote
from labels.selectors import ORDERINGS
from labels.services import (
    NAME_MAX_LENGTH,
    control_character_problem,
    display_name_problem,
)
from wixcache.models import Label


def reject_control_characters(value: object) -> None:
    """Every one-line text input: no NUL (PostgreSQL cannot store it) and no other control
    characters, refused with a plain message."""
    if problem := control_character_problem(str(value)):
        raise ValidationError(problem, code="control_characters")


class PlainTextField(forms.CharField):
    """A one-line text input that refuses NUL and other control characters plainly."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Django's own NUL check would repeat the message given by ours.
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]
        self.validators.append(reject_control_characters)


class KeyChoicesField(forms.ModelMultipleChoiceField):
    """Ticked label keys; a key no label can have (NUL) is an unknown key, not a database error."""

    def clean(self, value):
        if isinstance(value, (list, tuple)) and any("\x00" in str(v) for v in value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().clean(value)


class KeyChoiceField(forms.ModelChoiceField):
    def to_python(self, value):
        if value and "\x00" in str(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


def _validate_label_name(value: str) -> None:
    # Emptiness and length have their own messages (required, max_length).
    if value and len(value) <= NAME_MAX_LENGTH and (problem := display_name_problem(value)):
        raise ValidationError(problem, code="invalid_name")


class LabelNameField(PlainTextField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", "Name")
        kwargs.setdefault("validators", [_validate_label_name])
        super().__init__(
            max_length=NAME_MAX_LENGTH,
            strip=True,
            error_messages={
                "required": "Type a name for the label.",
                "max_length": (
                    "Names can have at most %(limit_value)d characters; "
                    "this one has %(show_value)d."
                ),
            },
            **kwargs,
        )


class LabelListForm(forms.Form):
    """The page's state in its URL: search, sort and page."""

    q = PlainTextField(required=False, max_length=200)
    o = forms.ChoiceField(required=False, choices=[(o, o) for o in ORDERINGS])
    page = forms.IntegerField(required=False, min_value=1)


class LabelJobProgressForm(LabelListForm):
    """A job's progress, asked from the labels page: `table` and the table's state."""

    table = forms.BooleanField(required=False)


class LabelCreateForm(forms.Form):
    display_name = LabelNameField()
    # Set once the person has seen the near-duplicate warning and still wants this name.
    confirm_similar = forms.BooleanField(required=False, widget=forms.HiddenInput)


STALE_PAGE = {
    "required": "This page is out of date; reload it and try again.",
    "max_length": "This page is out of date; reload it and try again.",
    "null_characters_not_allowed": "This page is out of date; reload it and try again.",
}


class LabelRenameForm(forms.Form):
    display_name = LabelNameField(label="New name")
    # The name the page showed (any text Wix holds, so only NUL is refused, by Django).
    expected_name = forms.CharField(
        strip=False, max_length=NAME_MAX_LENGTH, error_messages=STALE_PAGE
    )


class LabelDeleteForm(forms.Form):
    expected_name = forms.CharField(
        strip=False, max_length=NAME_MAX_LENGTH, error_messages=STALE_PAGE
    )


class LabelUndoForm(forms.Form):
    place = forms.ChoiceField(choices=[("row", "row"), ("list", "list")], required=False)


class LabelMergeForm(forms.Form):
    source = KeyChoicesField(
        queryset=Label.objects.all(),
        to_field_name="key",
        error_messages={
            "required": "Tick the labels to merge in the list below, then press “Merge”.",
            "invalid_choice": "One of the ticked labels no longer exists; reload the page.",
        },
    )
    target = KeyChoiceField(
        queryset=Label.objects.all(),
        to_field_name="key",
        required=False,
        error_messages={"invalid_choice": "The target label no longer exists; reload the page."},
    )

    def clean(self):
        data = super().clean()
        sources, target = data.get("source"), data.get("target")
        other_target = target is not None and sources is not None and target not in sources
        if sources is not None and len(sources) < 2 and not other_target and not self.asking:
            raise forms.ValidationError(
                "Tick at least two labels, or one and pick the label to merge it into."
            )
        return data

    def __init__(self, *args, asking: bool = False, **kwargs):
        # `asking`: the preview may show one ticked label and ask which label to merge it into.
        super().__init__(*args, **kwargs)
        self.asking = asking


class LabelNoteForm(forms.Form):
    description = forms.CharField(
        label="What it is for",
        required=False,
        strip=False,  # the service tidies it, and counts what it keeps
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": LabelNote.DESCRIPTION_MAX_LENGTH}),
        help_text=(
            f"Up to {LabelNote.DESCRIPTION_MAX_LENGTH} characters, shown on its chips and in "
            "pickers, and found by searches. Kept here only: Wix has no such field."
        ),
    )
    colour = forms.ChoiceField(
        label="Colour",
        choices=LabelNote.Colour.choices,
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Pick one of the colours on offer, or none."},
    )
    # What the page showed, to tell a stale page (any text, so only NUL is refused, by Django).
    expected_description = forms.CharField(
        required=False, strip=False, max_length=10_000, error_messages=STALE_PAGE
    )
    expected_colour = forms.CharField(required=False, max_length=8, error_messages=STALE_PAGE)
