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

    def __str__(self) -> str:
        return self.name
