from django.conf import settings
from django.db import models

from labels.models import Label


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
        ordering = ["remote_created_at", "wix_id"]
        permissions = [
            ("label_contacts", "Can apply and remove labels on contacts"),
            ("export_contacts", "Can export contacts as CSV"),
        ]
        indexes = [
            models.Index(fields=["remote_created_at", "wix_id"], name="contact_created_idx"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or self.wix_id


class ContactLabel(models.Model):
    """Membership of a contact in a label, indexed both ways for segment queries."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_index=False)
    label = models.ForeignKey(Label, on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "label"], name="contactlabel_contact_label"),
        ]
        indexes = [models.Index(fields=["label", "contact"], name="contactlabel_label_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} has {self.label_id}"


class SyncRun(models.Model):
    """One run of the sync service: its state is data, so a crash leaves a row to resume from."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"
        LABELS = "labels", "Labels only"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Contacts changed at or after this instant are fetched again by the next incremental run.
    watermark = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    labels_created = models.PositiveIntegerField(default=0)
    labels_updated = models.PositiveIntegerField(default=0)
    labels_deleted = models.PositiveIntegerField(default=0)
    contacts_created = models.PositiveIntegerField(default=0)
    contacts_updated = models.PositiveIntegerField(default=0)
    contacts_deleted = models.PositiveIntegerField(default=0)
    contacts_seen = models.PositiveIntegerField(default=0)
    contacts_total = models.PositiveIntegerField(null=True, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True)
    resumed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        permissions = [("run_sync", "Can start a sync with Wix")]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="syncrun_one_running",
                violation_error_message="Another sync is already running.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync #{self.pk} ({self.get_status_display()})"

    @property
    def duration(self):
        return (self.finished_at or self.heartbeat_at) - self.started_at

    @property
    def progress_percent(self) -> int | None:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.contacts_total:
            return None
        return min(99, round(100 * self.contacts_seen / self.contacts_total))


class WebhookEvent(models.Model):
    """A Wix webhook event applied to the cache, so that a replay is recognised and ignored."""

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=100)
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["entity_id", "event_time"], name="webhookevent_entity_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.entity_id}"


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
