from django.contrib import admin
from django.urls import path

from journal import views
from journal.models import Operation
from labelsite.admin import ReadOnlyModelAdmin


@admin.register(Operation)
class OperationAdmin(ReadOnlyModelAdmin):
    """The history pages (journal/views.py), and only they: the site-wide page takes the stock
    change list's name, so the admin's index and sidebar lead to it. No add, change, delete or
    admin-history pages: the services alone write the journal, and an operation's row in the
    list says all a person needs (a change page would show its undo steps as raw JSON)."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(views.history_page), name="journal_operation_changelist"),
            path("export.csv", wrap(views.history_export), name="journal_operation_export"),
            path("label/<str:key>/", wrap(views.label_history), name=views.LABEL_HISTORY),
            path("contact/<str:wix_id>/", wrap(views.contact_history), name=views.CONTACT_HISTORY),
            path(
                "audience/<int:audience_id>/",
                wrap(views.audience_history),
                name=views.AUDIENCE_HISTORY,
            ),
        ]
