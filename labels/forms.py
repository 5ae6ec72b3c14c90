from django import forms

from labels.models import Label
from labels.selectors import ORDERINGS
from labels.services import NAME_MAX_LENGTH


class LabelNameField(forms.CharField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", "Name")
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

    q = forms.CharField(required=False, max_length=200)
    o = forms.ChoiceField(required=False, choices=[(o, o) for o in ORDERINGS])
    page = forms.IntegerField(required=False, min_value=1)


class LabelCreateForm(forms.Form):
    display_name = LabelNameField()
    # Set once the person has seen the near-duplicate warning and still wants this name.
    confirm_similar = forms.BooleanField(required=False, widget=forms.HiddenInput)


class LabelRenameForm(forms.Form):
    display_name = LabelNameField(label="New name")
    expected_name = forms.CharField(strip=False, max_length=NAME_MAX_LENGTH)


class LabelDeleteForm(forms.Form):
    expected_name = forms.CharField(strip=False, max_length=NAME_MAX_LENGTH)


class LabelUndoForm(forms.Form):
    place = forms.ChoiceField(choices=[("row", "row"), ("list", "list")], required=False)


class LabelMergeForm(forms.Form):
    source = forms.ModelMultipleChoiceField(
        queryset=Label.objects.all(),
        to_field_name="key",
        error_messages={
            "required": "Tick the labels to merge in the list below, then press “Merge”.",
            "invalid_choice": "One of the ticked labels no longer exists; reload the page.",
        },
    )
    target = forms.ModelChoiceField(
        queryset=Label.objects.all(),
        to_field_name="key",
        required=False,
        error_messages={"invalid_choice": "The target label no longer exists; reload the page."},
    )

    def clean(self):
        data = super().clean()
        sources = data.get("source")
        if sources is not None and len(sources) < 2:
            raise forms.ValidationError("Tick at least two labels: those to merge and the target.")
        return data
