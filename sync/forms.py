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

    # "Delete them" on a run waiting for confirmation: a full run that may delete up to this
    # many contacts it finds gone (the number the person was shown), beyond SYNC_MASS_DELETE_*.
    allow_mass_delete = forms.IntegerField(required=False, min_value=0)

    def __init__(self, data, **kwargs) -> None:
        data = data.copy()
        data.setdefault("kind", SyncRun.Kind.INCREMENTAL)  # the plain "Sync now" button
        super().__init__(data, **kwargs)
