from django.apps import AppConfig


class LabelsConfig(AppConfig):
    name = "labels"
    verbose_name = "Labels"

    def ready(self) -> None:
        from journal.services import label_key_replaced
        from journal.settle import SWEEPERS
        from journal.undo import JOBS_FINISHED_CHECKS, StepKind, step_kind
        from labels import services, settle

        if settle.jobs_finished_check not in JOBS_FINISHED_CHECKS:
            JOBS_FINISHED_CHECKS.append(settle.jobs_finished_check)
        step_kind(
            "restore",
            StepKind(
                run=services.restore_run, settle=settle.restore_settle, check=services.restore_check
            ),
        )
        step_kind(
            "delete",
            StepKind(
                run=services.delete_run, settle=settle.delete_settle, check=services.delete_check
            ),
        )
        step_kind(
            "labels",
            StepKind(
                run=services.labels_run, settle=settle.labels_settle, check=services.labels_check
            ),
        )
        label_key_replaced.connect(settle.label_jobs_key_replace, dispatch_uid="label-jobs-keys")
        if settle.label_jobs_revive not in SWEEPERS:
            SWEEPERS.append(settle.label_jobs_revive)
