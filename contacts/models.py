from django.conf import settings
from django.db import models

from wixcache import models as cache


class Contact(cache.Contact):
    """The contacts page's handle on a cached contact: the admin's pages at
    /admin/contacts/contact/, the contact permissions and the contacts' history entries belong to
    it. The row itself is `wixcache.Contact`, which every query uses."""

    class Meta:
        proxy = True
        default_permissions = ("add", "change", "delete", "view")
        permissions = [
            ("label_contacts", "Can apply and remove labels on contacts"),
            ("export_contacts", "Can export contacts as CSV"),
        ]


class Audience(models.Model):
    """A saved segment: its rules (see `contacts.segments.SegmentRules`), not its contacts."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        permissions = [
            ("change_others_audience", "Can change and delete audiences other people saved"),
        ]

    def __str__(self) -> str:
        return self.name


def audience_can_change(user, audience: Audience, *, action: str = "change") -> bool:
    """An audience belongs to the person who saved it: others change or delete it only with
    `change_others_audience` (Label managers have it)."""
    if not user.has_perm(f"contacts.{action}_audience"):
        return False
    owned = audience.created_by_id is not None and audience.created_by_id == user.pk
    return owned or user.has_perm("contacts.change_others_audience")
