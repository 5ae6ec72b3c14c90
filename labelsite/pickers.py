"""The one label picker (templates/admin/contacts/label_picker.html, static/js/picker.js): what
each page tells it to ask and do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Picker:
    """What one label picker (templates/admin/contacts/label_picker.html) asks and does."""

    id: str
    label: str
    suggest_url: str
    pick_url: str
    pick_target: str
    exclude: str
    pick_method: str = "GET"
    pick_swap: str = "beforeend"
    placeholder: str = "Type to add a label…"
