"""Numbers and durations in plain words, in Python and in templates."""

from datetime import timedelta

import pytest
from django.template import Context, Template

from labelsite.words import ago, changes, counted, duration


@pytest.mark.parametrize(
    ("number", "nouns", "said"),
    [
        (1, ("page",), "1 page"),
        (0, ("page",), "0 pages"),
        (2000, ("contact",), "2,000 contacts"),
        (1, ("saved audience",), "1 saved audience"),
        (3, ("entry", "entries"), "3 entries"),
    ],
)
def test_counted_agrees_with_its_number(number, nouns, said):
    assert counted(number, *nouns) == said


@pytest.mark.parametrize(
    ("numbers", "said"),
    [
        ((2000, 0, 0), "2,000 new, none changed, none deleted"),
        ((0, 1, 12), "none new, 1 changed, 12 deleted"),
        ((0, 0, 0), "nothing new, changed or deleted"),
    ],
)
def test_changes(numbers, said):
    assert changes(*numbers) == said


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (timedelta(microseconds=825101), "0.8 s"),
        (timedelta(seconds=9.96), "10 s"),
        (12.4, "12 s"),
        (timedelta(seconds=125), "2 min 5 s"),
        (timedelta(minutes=3), "3 min"),
        (timedelta(hours=1, minutes=20, seconds=7), "1 h 20 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(seconds=-1), "under 0.1 s"),
        (timedelta(seconds=0.04), "under 0.1 s"),
        (None, ""),
    ],
)
def test_duration(value, said):
    assert duration(value) == said


def test_ago():
    from datetime import UTC, datetime

    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=3), now) == "3\xa0minutes ago"
    assert ago(None) == ""


def test_the_template_filters():
    template = Template(
        "{% load words %}{{ pages|counted:'page' }}; {{ n|counted:'entry,entries' }}; "
        "{{ took|duration }}; {% changes 2000 0 0 %}; [{{ junk|counted:'page' }}]"
    )
    said = template.render(Context({"pages": 1, "n": 2, "took": timedelta(seconds=0.8)}))
    assert said == "1 page; 2 entries; 0.8 s; 2,000 new, none changed, none deleted; []"
