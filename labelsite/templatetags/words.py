"""Plain words in templates: `{% load words %}`, then `{{ run.pages|counted:"page" }}`,
`{{ run.duration|duration }}`, `{{ run.started_at|ago }}` and
`{% changes run.contacts_created run.contacts_updated run.contacts_deleted %}`
(see labelsite.words)."""

from django import template

from labelsite import words

register = template.Library()


@register.filter
def counted(number, nouns: str) -> str:
    """`nouns` is the singular, or "singular,plural" where adding an s is wrong."""
    singular, _, plural = nouns.partition(",")
    try:
        return words.counted(int(number), singular, plural)
    except (TypeError, ValueError):
        return ""


@register.filter
def duration(value) -> str:
    return words.duration(value)


@register.filter
def ago(moment) -> str:
    return words.ago(moment)


@register.simple_tag
def changes(created: int, updated: int, deleted: int) -> str:
    return words.changes(created, updated, deleted)
