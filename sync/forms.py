from django import forms

from sync.models import SyncRun


class SyncRequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=SyncRun.Kind.choices,
        error_messages={
            "invalid_choice": "Unknown kind of sync.",
            "required": "Unknown kind of sync.",
        },
    )

    def __init__(self, data, **kwargs) -> None:
        data = data.copy()
        data.setdefault("kind", SyncRun.Kind.INCREMENTAL)  # the plain "Sync now" button
        super().__init__(data, **kwargs)
