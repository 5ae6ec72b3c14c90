"""Contact and audience history in the Django admin's own log (`LogEntry`).

Contact entries are written against the `contacts.Contact` proxy's content type, the one the
admin's contact pages use.
"""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models

from contacts.models import Contact as AdminContact
from wixcache.models import Contact


def _content_type(obj: models.Model) -> ContentType:
    model = AdminContact if isinstance(obj, Contact) else type(obj)
    return ContentType.objects.get_for_model(model, for_concrete_model=False)


def history_log(*, user, obj: models.Model, action: int, message: str) -> None:
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=_content_type(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=action,
        change_message=message,
    )


def contact_history(*, contact: Contact, limit: int = 50) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(content_type=_content_type(contact), object_id=str(contact.pk))
        .select_related("user")
        .order_by("-action_time")[:limit]
    )
