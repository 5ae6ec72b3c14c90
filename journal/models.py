"""The operation journal: every change a person or the system makes, written down before Wix is
asked, and what is needed to reverse it.

An operation is PLANNED (the row is committed, Wix not asked yet), SENT (Wix is being asked),
then DONE (Wix accepted and the cache followed, in one transaction with this row) or FAILED
(nothing changed). An undone operation becomes REVERSED; the undo is an operation of its own.
A process that dies in between leaves PLANNED or SENT rows: `journal.settle` finds them and
settles each against Wix.
"""

from django.conf import settings
from django.db import models


class Operation(models.Model):
    class Kind(models.TextChoices):
        LABEL_CREATE = "label_create", "Create label"
        LABEL_RENAME = "label_rename", "Rename label"
        LABEL_DELETE = "label_delete", "Delete label"
        LABEL_MERGE = "label_merge", "Merge labels"
        BULK_LABELS = "bulk_labels", "Label contacts in bulk"
        CONTACT_LABELS = "contact_labels", "Change a contact's labels"
        AUDIENCE_LABEL = "audience_label", "Save audience as Wix label"
        AUDIENCE = "audience", "Change a saved audience"
        LIVING_LABEL = "living_label", "Keep a living label"
        UNDO = "undo", "Undo"
        SYNC = "sync", "Sync with Wix"
        WEBHOOK = "webhook", "Change told by Wix"

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        SENT = "sent", "Sent to Wix"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        REVERSED = "reversed", "Undone"

    OPEN_STATES = (State.PLANNED, State.SENT)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # One sentence in plain words, with names as they were written.
    summary = models.CharField(max_length=500)
    # What was asked, and what undoes it (a list of steps, see `journal.undo`); empty: no undo.
    args = models.JSONField(default=dict, blank=True)
    reverse = models.JSONField(default=list, blank=True)
    undo_until = models.DateTimeField(null=True, blank=True)
    # The operation an undo reverses; `partial`: an undo that did only some of its steps (the
    # undone operation keeps the rest, to be undone again).
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by"
    )
    partial = models.BooleanField(default=False)
    outcome = models.TextField(blank=True)
    # host:pid of the process carrying it out, so that a dead one's work is settled at once.
    process = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "updated_at"], name="operation_state_idx"),
            models.Index(fields=["created_at"], name="operation_created_idx"),
        ]
        permissions = [("export_operation", "Can export history as CSV")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class OperationRef(models.Model):
    """What an operation touched, for the history pages: a label (by key), a contact (by Wix
    id) or a saved audience (by id), with its name as it was then."""

    class Kind(models.TextChoices):
        LABEL = "label", "Label"
        CONTACT = "contact", "Contact"
        AUDIENCE = "audience", "Audience"

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="refs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    ref = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "ref"], name="operationref_ref_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name or self.ref}"


class SubmittedForm(models.Model):
    """A form's idempotency key (made when the form was rendered) and the first answer to it: a
    second submit of the same key gets that answer, and changes nothing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    path = models.CharField(max_length=500)
    # What was sent (a digest of the fields): a key sent again with other fields is not a
    # second submit of the same form, and is never answered with the first one's answer.
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)  # null while answering
    content = models.BinaryField(blank=True, default=b"")
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="submittedform_once"),
        ]
        indexes = [models.Index(fields=["created_at"], name="submittedform_created_idx")]

    def __str__(self) -> str:
        return f"Form {self.key} sent to {self.path}"
