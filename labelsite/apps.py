from django.apps import AppConfig


class LabelsiteConfig(AppConfig):
    """The project itself: shared view helpers, error pages and the site-wide commands
    (`setup_roles`, `ensure_admin`), above every feature app."""

    name = "labelsite"
    verbose_name = "labelsite"
