from django import template

register = template.Library()


@register.filter
def intcomma_plain(value) -> str:
    """12345 -> "12,345" (without django.contrib.humanize's locale machinery)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""
