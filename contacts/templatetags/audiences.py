from django import template

register = template.Library()


@register.filter
def intcomma_plain(value) -> str:
    """12345 -> "12,345" (without django.contrib.humanize's locale machinery)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def duration_words(seconds) -> str:
    """86400 -> "24 hours", 90 -> "1 minute": how long something can still be undone."""
    seconds = int(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    minutes = max(1, seconds // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
