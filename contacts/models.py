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


class ContactList(models.Model):
    """A list of people read for "Label from a list" (`contacts.lists`): which contacts it
    matched and which entries matched nobody, kept so that the preview, the change and the
    download of what was not found all read the same list. Kept `KEPT_DAYS` days."""

    KEPT_DAYS = 7

    source = models.CharField(max_length=200)  # the file's name, or "a pasted list"
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    rows = models.PositiveIntegerField(default=0)  # rows or lines read, blank ones left out
    entries = models.PositiveIntegerField(default=0)  # emails and contact ids, each once
    duplicates = models.PositiveIntegerField(default=0)
    unreadable = models.PositiveIntegerField(default=0)  # rows without an email or contact id
    found_entries = models.PositiveIntegerField(default=0)
    not_found_entries = models.PositiveIntegerField(default=0)
    # The matched contacts' ids, a serialised roaring bitmap (a few bytes per contact).
    matched = models.BinaryField()
    matched_count = models.PositiveIntegerField(default=0)
    # What matched nobody, as zlib-compressed CSV lines (entry, why), for the download.
    not_found = models.BinaryField()
    # The jobs started from the list, by change ("add:<label key>", "remove:<label key>"): the
    # same change asked twice (a double submit, a second tab) shows the first job.
    jobs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.source


class AudienceSize(models.Model):
    """How many contacts a saved audience had on a day: the last count of that day, taken by the
    worker's regular round (`contacts.services.audience_sizes_record`) and when the audience is
    saved. Counting starts when the audience is saved: an audience's rules name labels, dates
    and other audiences, and no log says which contacts matched them before."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField()
    count = models.PositiveIntegerField()
    smallest = models.PositiveIntegerField()  # the day's range, as counted
    largest = models.PositiveIntegerField()
    counted_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["audience", "day"], name="audiencesize_audience_day")
        ]

    def __str__(self) -> str:
        return f"{self.audience_id} on {self.day}: {self.count}"


class LivingLabel(models.Model):
    """A saved audience kept in Wix as a label (`contacts.living`): after every change to
    contacts or labels, contacts that entered the audience get the label and those that left
    lose it. Stopping deletes this row and leaves the label as it is. The label is named by its
    key (it follows a label restored under a new key); while the label is gone, nothing is kept
    ("paused")."""

    audience = models.OneToOneField(Audience, on_delete=models.CASCADE, related_name="living")
    label_key = models.CharField(max_length=80, db_index=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(auto_now_add=True)
    # When a pass last found the label equal to the audience, or queued the changes to make it.
    checked_at = models.DateTimeField(null=True, blank=True)
    entered = models.PositiveIntegerField(default=0)  # contacts given the label, since started
    left = models.PositiveIntegerField(default=0)  # contacts it was taken from
    # A removal from more than half the holders waits for a person's word (`contacts.living`):
    # why it waits and how many it would take the label from, and how many a person allowed.
    waiting = models.CharField(max_length=400, blank=True)
    waiting_leaving = models.PositiveIntegerField(default=0)
    allow_leaving = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        # Read on the audience's delete page, in the list of what goes with it: the label
        # itself stays in Wix.
        return f"{self.label_key}, kept for this audience (stops; the label stays in Wix as it is)"
