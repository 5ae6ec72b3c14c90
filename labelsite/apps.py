from django.apps import AppConfig


class LabelsiteConfig(AppConfig):
    """The project itself: shared view helpers, error pages and the site-wide commands
    (`setup_roles`, `ensure_admin`), above every feature app."""

    name = "labelsite"
    verbose_name = "labelsite"

    def ready(self) -> None:
        from labelsite import checks  # noqa: F401  (registers the start-up checks)
