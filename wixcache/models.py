"""The cache of the site's Wix data: labels, contacts and which contact has which label.

These rows are a copy of Wix, written only by `wixcache.store` (from what Wix answered) and read
by every feature app above. The tables kept the names they had when `labels` and `contacts`
owned them (see the 0001 migration), so moving them here moved no data. The feature apps keep
their admin pages and permissions through proxy models (`labels.Label`, `contacts.Contact`).
"""

from django.db import models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Concat, Lower, NullIf, Trim


class Label(models.Model):
    """A Wix contact label, as last seen in Wix (the cache is written only after Wix accepts)."""

    class Type(models.TextChoices):
        SYSTEM = "SYSTEM", "System"
        USER_DEFINED = "USER_DEFINED", "User"
        WIX_APP_DEFINED = "WIX_APP_DEFINED", "App"
        UNKNOWN = "UNKNOWN", "Unknown"

    # Wix makes keys from the whole name (up to 180 characters), so keys can be long.
    key = models.CharField(max_length=255, unique=True, editable=False)
    display_name = models.CharField(max_length=180)
    label_type = models.CharField(max_length=16, choices=Type.choices, default=Type.USER_DEFINED)
    namespace = models.CharField(max_length=25)
    namespace_display_name = models.CharField(max_length=180, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "labels_label"
        ordering = ["display_name", "key"]
        indexes = [models.Index(fields=["display_name"], name="label_display_name_idx")]
        default_permissions = ()  # people's permissions are the feature apps' (labels.Label)

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_system(self) -> bool:
        return self.label_type == self.Type.SYSTEM


# What the contacts page sorts by, lower-cased: the name as shown (the email, phone or id when
# there is no name), and the email with contacts that have none last. They are expressions, not
# columns, so the expression indexes below serve the keyset pages and no write path changes.
SORT_NAME = Lower(
    Coalesce(
        NullIf(Trim(Concat(F("first_name"), Value(" "), F("last_name"))), Value("")),
        NullIf(F("email"), Value("")),
        NullIf(F("phone"), Value("")),
        F("wix_id"),
    )
)
SORT_EMAIL = Concat(Case(When(email="", then=Value("1")), default=Value("0")), Lower(F("email")))


class Contact(models.Model):
    """A Wix contact's label-relevant fields, as last seen in Wix."""

    wix_id = models.CharField(max_length=64, unique=True, editable=False)
    revision = models.PositiveIntegerField(default=0)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=320, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    remote_created_at = models.DateTimeField()
    remote_updated_at = models.DateTimeField()
    labels = models.ManyToManyField(Label, through="ContactLabel", related_name="contacts")

    class Meta:
        db_table = "contacts_contact"
        ordering = ["remote_created_at", "wix_id"]
        indexes = [
            # With the id (PostgreSQL; SQLite's indexes hold the rowid anyway): the first page
            # walks this index and tests each id against the label index without a table read.
            models.Index(
                fields=["remote_created_at", "wix_id"], include=["id"], name="contact_created_idx"
            ),
            models.Index(SORT_NAME, F("wix_id"), name="contact_sort_name_idx"),
            models.Index(SORT_EMAIL, F("wix_id"), name="contact_sort_email_idx"),
        ]
        default_permissions = ()  # people's permissions are the feature apps' (contacts.Contact)

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or self.wix_id


class ContactLabel(models.Model):
    """Membership of a contact in a label, indexed both ways for segment queries."""

    # On PostgreSQL statement triggers check both instead of these foreign keys, once per
    # statement rather than once per row at commit (migration 0013; its text says what a later
    # schema operation on these fields does). SQLite keeps the foreign keys.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_index=False)
    label = models.ForeignKey(Label, on_delete=models.CASCADE, db_index=False)

    class Meta:
        db_table = "contacts_contactlabel"
        constraints = [
            models.UniqueConstraint(fields=["contact", "label"], name="contactlabel_contact_label"),
        ]
        indexes = [models.Index(fields=["label", "contact"], name="contactlabel_label_contact")]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.contact_id} has {self.label_id}"


class LabelGone(models.Model):
    """A label key the cache let go of (deleted here or in Wix), in order. A pull of Wix's
    labels that began before it may still have listed the label, and must not bring it back;
    a late webhook about it must not either (`wixcache.store.labels_replace`, `sync.webhooks`).
    Rows older than a day are pruned: no pull lasts that long."""

    key = models.CharField(max_length=255, db_index=True)
    gone_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.key} gone at {self.gone_at:%Y-%m-%d %H:%M:%S}"


class LabelWeek(models.Model):
    """How many contacts gained and lost a label in a week (Monday to Sunday, UTC), rolled up
    from the label index's change log as it is pruned (`wixcache.index.index_prune`), so that
    every writer counts: syncs, webhooks, bulk jobs, undo. The log's unpruned rows are added
    when read (`wixcache.index.label_weeks`). Kept by label id (a deleted label's rows are
    left, unread: a few dozen bytes a week)."""

    label_id = models.BigIntegerField()
    week = models.DateField()
    gained = models.PositiveIntegerField(default=0)
    lost = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["label_id", "week"], name="labelweek_label_week")
        ]

    def __str__(self) -> str:
        return f"label {self.label_id}, week of {self.week}: +{self.gained} -{self.lost}"


class WixRequest(models.Model):
    """One request sent to Wix for this site in the last minute: the site's rate budget, shared
    by every process on every machine (see `wixcache.budget`)."""

    at = models.FloatField(db_index=True)  # seconds since the epoch, by the database's clock
    interactive = models.BooleanField(default=False)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{'person' if self.interactive else 'background'} request at {self.at:.3f}"
