"""The history pages' filters, read from GET parameters. Anything malformed becomes a plain
message on the page, never an error page."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS

from journal.models import Operation, OperationRef
from journal.selectors import OperationFilter, operation_people

# Outside these years a day's bounds cannot be stored in every database's time zone.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
DATE_MESSAGE = "Enter a date as YYYY-MM-DD, for example 2026-03-31."


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_username()


class DayField(forms.DateField):
    widget = forms.DateInput(
        format="%Y-%m-%d",
        attrs={"type": "date", "min": FIRST_DAY.isoformat(), "max": LAST_DAY.isoformat()},
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(
            required=False,
            input_formats=["%Y-%m-%d"],
            error_messages={"invalid": DATE_MESSAGE},
            **kwargs,
        )

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise forms.ValidationError(
                f"Enter a date between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}.",
                code="out_of_range",
            )


class HistoryFilterForm(forms.Form):
    """Who, what, which outcome and when; every field may stay empty."""

    person = PersonField(
        queryset=get_user_model().objects.none(),
        required=False,
        label="Person",
        empty_label="Anyone",
        error_messages={"invalid_choice": "There is no such person in the history."},
    )
    kind = forms.ChoiceField(
        choices=[("", "Any change"), *Operation.Kind.choices],
        required=False,
        label="Kind",
        error_messages={"invalid_choice": "Unknown kind of change."},
    )
    state = forms.ChoiceField(
        choices=[("", "Any state"), *Operation.State.choices],
        required=False,
        label="State",
        error_messages={"invalid_choice": "Unknown state."},
    )
    date_from = DayField(label="From")
    date_to = DayField(label="To")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = operation_people()

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(
                "“From” is after “To”: choose a start on or before the end.", code="date_order"
            )
        return data

    def filter(self, *, ref_kind: str = "", ref: str = "") -> OperationFilter:
        """The valid filters as the selectors take them (call after `is_valid()`)."""
        data = self.cleaned_data
        return OperationFilter(
            user_id=data["person"].pk if data["person"] else None,
            kind=data["kind"],
            state=data["state"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            ref_kind=ref_kind,
            ref=ref,
        )

    def error_list(self) -> list[str]:
        """Every message, each prefixed with its field's label."""
        messages = [str(e) for e in self.non_field_errors()]
        for name, errors in self.errors.items():
            if name != NON_FIELD_ERRORS:
                messages += [f"{self.fields[name].label}: {e}" for e in errors]
        return messages


class HistoryExportForm(HistoryFilterForm):
    """The filters, plus the one thing whose history is exported (from its history page); the
    fields are named after the kinds of `OperationRef`."""

    label = forms.CharField(required=False, max_length=255, label="Label key")
    contact = forms.CharField(required=False, max_length=255, label="Contact Wix id")
    audience = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, label="Audience id"
    )

    def clean(self):
        data = super().clean()
        if sum(1 for kind in OperationRef.Kind if data.get(kind)) > 1:
            raise forms.ValidationError("Export the history of one thing at a time.")
        return data

    def thing(self) -> tuple[str, str]:
        """(kind, key or id) of the thing asked for; ("", "") for every change."""
        for kind in OperationRef.Kind:
            if value := self.cleaned_data.get(kind):
                return kind, str(value)
        return "", ""
