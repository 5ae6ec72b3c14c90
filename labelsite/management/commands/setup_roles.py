"""Create (or bring up to date) the two staff roles: "Marketing" and "Label managers"."""

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

MARKETING = [
    "labels.view_label",
    "labels.add_label",
    "labels.view_labeljob",
    "contacts.view_contact",
    "contacts.label_contacts",
    "contacts.export_contacts",
    "contacts.view_audience",
    "contacts.add_audience",
    "contacts.change_audience",
    "contacts.delete_audience",
    "sync.view_syncrun",
    "journal.view_operation",
]
LABEL_MANAGERS_EXTRA = [
    "labels.change_label",
    "labels.delete_label",
    "sync.run_sync",
    "journal.export_operation",
    # Audiences belong to who saved them; label managers may change or delete anyone's.
    "contacts.change_others_audience",
]


def _permissions(names: list[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if permission is not None:
            found.append(permission)
    return found


class Command(BaseCommand):
    help = 'Create the groups "Marketing" and "Label managers" with their permissions.'

    @transaction.atomic
    def handle(self, *args, **options):
        missing = [name for name in MARKETING + LABEL_MANAGERS_EXTRA if not _permissions([name])]
        if missing:
            self.stderr.write(f"Missing permissions (run migrate first): {', '.join(missing)}")
        marketing = _permissions(MARKETING)
        managers = marketing + _permissions(LABEL_MANAGERS_EXTRA)
        for name, permissions in (("Marketing", marketing), ("Label managers", managers)):
            group, created = Group.objects.get_or_create(name=name)
            group.permissions.set(permissions)
            if options["verbosity"]:
                self.stdout.write(
                    f"{'Created' if created else 'Updated'} group “{name}” "
                    f"with {len(permissions)} permissions."
                )
