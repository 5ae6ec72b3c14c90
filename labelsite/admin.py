from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Admin pages for rows that mirror Wix or record work done: they change only through
    labelsite's services, which write to Wix first, never through the stock add/change/delete
    forms (those would write to the database alone)."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
