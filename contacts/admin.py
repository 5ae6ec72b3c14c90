from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from contacts import list_views, living_views, rule_views, views
from contacts import rules as nested
from contacts.forms import AudienceForm
from contacts.models import Audience, AudienceSize, Contact, LivingLabel, audience_can_change
from contacts.segments import SegmentRules, rules_in_words
from contacts.selectors import (
    audience_names,
    contact_count_for_segment,
    contact_counts_for_segments,
    label_names_and_present,
)
from contacts.services import audience_delete, audience_update, audiences_naming
from journal.templatetags.journal import idempotency_vals
from labelsite.admin import ReadOnlyModelAdmin
from labelsite.words import counted


@admin.register(Contact)
class ContactAdmin(ReadOnlyModelAdmin):
    """The contacts page is the audience builder; the change page shows a contact's labels."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("labels/suggest/", wrap(views.label_suggest), name="contacts_contact_suggest"),
            path("labels/chip/", wrap(views.label_chip), name="contacts_contact_chip"),
            path("labels/unchip/", wrap(views.chip_removed), name="contacts_contact_unchip"),
            path("rule/", wrap(rule_views.rule_edit), name="contacts_contact_rule"),
            path("bulk/preview/", wrap(views.bulk_preview), name="contacts_contact_bulk_preview"),
            path("bulk/start/", wrap(views.bulk_start), name="contacts_contact_bulk_start"),
            path("export/", wrap(views.export_csv), name="contacts_contact_export"),
            path("audience/save/", wrap(views.audience_save), name="contacts_contact_save"),
            path("from-list/", wrap(list_views.list_page), name="contacts_contact_from_list"),
            path(
                "from-list/<int:list_id>/",
                wrap(list_views.list_change_preview),
                name="contacts_contact_from_list_change",
            ),
            path(
                "from-list/<int:list_id>/apply/",
                wrap(list_views.list_apply),
                name="contacts_contact_from_list_apply",
            ),
            path(
                "from-list/<int:list_id>/not-found.csv",
                wrap(list_views.list_not_found),
                name="contacts_contact_from_list_not_found",
            ),
            path(
                "<int:contact_id>/labels/suggest/",
                wrap(views.contact_label_suggest),
                name="contacts_contact_label_suggest",
            ),
            path(
                "<int:contact_id>/labels/undo/<int:operation_id>/",
                wrap(views.contact_label_undo),
                name="contacts_contact_label_undo",
            ),
            path(
                "<int:contact_id>/labels/add/",
                wrap(views.contact_label_add_view),
                name="contacts_contact_label_add",
            ),
            path(
                "<int:contact_id>/labels/remove/",
                wrap(views.contact_label_remove_view),
                name="contacts_contact_label_remove",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return views.contacts_page(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not str(object_id).isdigit():
            return super().change_view(request, object_id, form_url, extra_context)
        return views.contact_page(request, int(object_id), extra_context)


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    """Saved audiences: each name opens its audience on the contacts page, its rules in words."""

    list_display = ["name_", "rules_", "contacts", "created_by", "updated_at", "actions_"]
    list_display_links = None  # the name opens the audience itself, not the Name/Description form
    form = AudienceForm  # a name another audience has is refused
    fields = ["name", "description"]
    search_fields = ["name", "description"]
    list_select_related = ["created_by", "living"]  # whether it keeps a label: no query a row

    class Media:
        css = {"all": ["css/contacts.css"]}

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:audience_id>/duplicate/",
                wrap(views.audience_duplicate_view),
                name="contacts_audience_duplicate",
            ),
            path(
                "<int:audience_id>/living/",
                wrap(living_views.living_panel),
                name="contacts_audience_living",
            ),
            path(
                "<int:audience_id>/living/preview/",
                wrap(living_views.living_preview),
                name="contacts_audience_living_preview",
            ),
            path(
                "<int:audience_id>/living/start/",
                wrap(living_views.living_start),
                name="contacts_audience_living_start",
            ),
            path(
                "<int:audience_id>/living/confirm/",
                wrap(living_views.living_confirm),
                name="contacts_audience_living_confirm",
            ),
            path(
                "<int:audience_id>/living/stop/",
                wrap(living_views.living_stop),
                name="contacts_audience_living_stop",
            ),
            path(
                "<int:audience_id>/sizes/",
                wrap(views.audience_sizes_view),
                name="contacts_audience_sizes",
            ),
            path(
                "<int:audience_id>/wix-label/preview/",
                wrap(views.audience_wix_label_preview),
                name="contacts_audience_wix_label_preview",
            ),
            path(
                "<int:audience_id>/wix-label/start/",
                wrap(views.audience_wix_label_start),
                name="contacts_audience_wix_label_start",
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request):
        return False  # audiences are saved from the contacts page, where their rules are built

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return audience_can_change(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request)
        return audience_can_change(request.user, obj, action="delete")

    def delete_queryset(self, request, queryset):
        # The bulk "delete selected" action: each audience checked for its owner.
        audiences = list(queryset)
        if not all(audience_can_change(request.user, a, action="delete") for a in audiences):
            raise PermissionDenied
        for audience in audiences:
            audience_delete(audience=audience, user=request.user)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Audiences", **(extra_context or {})})

    def get_changelist_instance(self, request):
        """The page's audiences, each told its label names (one query for the page) and what
        this person may do with it."""
        changelist = super().get_changelist_instance(request)
        audiences = list(changelist.result_list)  # fills the queryset's cache: the rows shown
        rules = {a.pk: SegmentRules.from_json(a.rules) for a in audiences}
        kept = {a.pk: a.living.label_key for a in audiences if hasattr(a, "living")}
        names, present = label_names_and_present(
            {key for r in rules.values() for key in r.keys} | set(kept.values())
        )
        named = audience_names(a for r in rules.values() for a in nested.audience_ids(r.tree))
        can_duplicate = request.user.has_perms(["contacts.view_audience", "contacts.add_audience"])
        counts = contact_counts_for_segments(rules)
        for audience in audiences:
            audience.segment = rules[audience.pk]
            audience.contact_count = counts[audience.pk]
            audience.rules_in_words = rules_in_words(audience.segment, names, named)
            audience.can_change = audience_can_change(request.user, audience)
            audience.can_duplicate = can_duplicate
            if audience.pk in kept:
                key = kept[audience.pk]
                audience.living_name = names[key] if key in present else None
        return changelist

    @admin.display(description="Name", ordering="name")
    def name_(self, audience: Audience) -> str:
        living = ""
        if hasattr(audience, "living_name"):
            living = format_html(
                '<span class="audience-living">{}</span>',
                f"Keeps the Wix label “{audience.living_name}” equal to it"
                if audience.living_name is not None
                else "Paused: the label it keeps is gone from Wix",
            )
        return format_html(
            '<a class="audience-name" href="{}">{}</a>{}{}',
            views.audience_url(audience),
            audience.name,
            format_html('<span class="audience-description">{}</span>', audience.description)
            if audience.description
            else "",
            living,
        )

    @admin.display(description="Rules")
    def rules_(self, audience: Audience) -> str:
        return getattr(audience, "rules_in_words", "")

    @admin.display(description="Contacts")
    def contacts(self, audience: Audience) -> str:
        count = getattr(audience, "contact_count", None)
        if count is None:
            count = contact_count_for_segment(rules=SegmentRules.from_json(audience.rules))
        return f"{count:,}"

    @admin.display(description="Actions")
    def actions_(self, audience: Audience) -> str:
        edit = ""
        if getattr(audience, "can_change", False):
            edit = format_html(
                '<a href="{}">Edit name</a>',
                reverse("admin:contacts_audience_change", args=[audience.pk]),
            )
        duplicate = ""
        if getattr(audience, "can_duplicate", False):
            duplicate = format_html(
                '<button type="button" class="button" hx-post="{}" hx-disabled-elt="this" '
                'hx-indicator="#duplicate-busy-{}" {}>Duplicate</button>'
                '<span id="duplicate-busy-{}" class="spinner htmx-indicator" aria-hidden="true">'
                "</span>",
                reverse("admin:contacts_audience_duplicate", args=[audience.pk]),
                audience.pk,
                idempotency_vals(),
                audience.pk,
            )
        history = format_html(
            '<a href="{}">History</a>',
            reverse("admin:journal_operation_audience_history", args=[audience.pk]),
        )
        return format_html(
            '<span class="audience-actions">{}</span>',
            format_html_join(" ", "{}", ((part,) for part in (edit, duplicate, history) if part)),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            raise PermissionDenied
        audience_update(
            audience=Audience.objects.get(pk=obj.pk),
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            user=request.user,
        )

    def delete_model(self, request, obj):
        audience_delete(audience=obj, user=request.user)

    def get_deleted_objects(self, objs, request):
        """What goes with each audience, in words (not a row per day of its chart); an audience
        that others name in their rules is protected, as a related object would be: the delete
        page lists those audiences instead of a Delete button."""
        _deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        audiences = list(objs)
        living = {
            kept.audience_id: kept.label_key
            for kept in LivingLabel.objects.filter(audience__in=audiences)
        }
        names, present = label_names_and_present(set(living.values()))
        days = dict(
            AudienceSize.objects.filter(audience__in=audiences)
            .values("audience")
            .annotate(n=Count("pk"))
            .values_list("audience", "n")
        )
        deleted = []
        for audience in audiences:
            parts = []
            if audience.pk in days:
                parts.append(f"its chart of sizes ({counted(days[audience.pk], 'day')})")
            if audience.pk in living and living[audience.pk] in present:
                name = names.get(living[audience.pk], living[audience.pk])
                parts.append(
                    f"keeping the Wix label “{name}” equal to it: that stops, and the label "
                    "stays in Wix with the contacts it has"
                )
            elif audience.pk in living:
                parts.append("keeping its living label, which is gone from Wix already (paused)")
            deleted += [f"Audience “{audience}”", parts] if parts else [f"Audience “{audience}”"]
            for other in audiences_naming(audience.pk):
                protected.append(f"Audience “{other}”, whose rules name “{audience}”")
        return deleted, counts, perms_needed, protected

    # The services write the history entries; the admin's own would repeat them.
    def log_change(self, request, obj, message):
        return None

    def log_deletions(self, request, queryset):
        return None
