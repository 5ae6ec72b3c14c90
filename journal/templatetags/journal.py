import uuid

from django import template
from django.utils.html import format_html

from journal.idempotency import FIELD

register = template.Library()


@register.simple_tag
def idempotency_key() -> str:
    """A hidden field with a key made for this render of a form: sending the form twice (a
    double click, a second tab, a retry) changes things once."""
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, uuid.uuid4().hex)


@register.simple_tag
def idempotency_vals() -> str:
    """The same key for an htmx element that posts without a form of its own: an `hx-vals`
    attribute."""
    return format_html('hx-vals=\'{{"{}": "{}"}}\'', FIELD, uuid.uuid4().hex)
