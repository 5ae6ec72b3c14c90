from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts and audiences"

    def ready(self) -> None:
        from contacts import living, services, settle
        from journal.references import KEY_USER_FINDERS, LABEL_KEEPER_FINDERS
        from journal.services import label_key_replaced
        from journal.undo import StepKind, step_kind
        from wixcache.store import CHANGE_LISTENERS

        step_kind(
            "contact",
            StepKind(
                run=services.contact_step_run,
                settle=settle.contact_step_settle,
                check=services.contact_step_check,
            ),
        )
        label_key_replaced.connect(settle.audiences_key_replace, dispatch_uid="audiences-keys")
        label_key_replaced.connect(living.living_key_replace, dispatch_uid="living-keys")
        if living.living_labels_nudge not in CHANGE_LISTENERS:
            CHANGE_LISTENERS.append(living.living_labels_nudge)

        if settle.audiences_using not in KEY_USER_FINDERS:
            KEY_USER_FINDERS.append(settle.audiences_using)
        if settle.audiences_keeping not in LABEL_KEEPER_FINDERS:
            LABEL_KEEPER_FINDERS.append(settle.audiences_keeping)
