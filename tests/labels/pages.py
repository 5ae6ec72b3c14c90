"""Where things are on the labels page, for the browser tests of this folder."""

from wixcache.models import Label

LABELS_URL = "/admin/labels/label/"


def row(page, key: str):
    """The labels table's row of the label with this key."""
    return page.locator(f"#label-row-{Label.objects.get(key=key).pk}")
