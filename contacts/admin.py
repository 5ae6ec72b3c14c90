from django.contrib import admin

from contacts.models import Contact
from contacts.sync_admin import ReadOnlyCacheAdmin


@admin.register(Contact)
class ContactAdmin(ReadOnlyCacheAdmin):
    list_display = ["__str__", "email", "phone", "remote_created_at"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    show_full_result_count = False
