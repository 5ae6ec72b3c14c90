"""Building a nested rule in Chromium, by keyboard and by mouse: the count follows each change,
the URL keeps the rule, a reload shows the same builder, and the rule reads as a sentence."""

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import shot
from wixcache.models import Contact, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def holders(*keys: str) -> set[int]:
    return set(Contact.objects.filter(labels__key__in=keys).values_list("pk", flat=True))


def count_is(page, n: int) -> None:
    expect(page.locator("#contact-count")).to_have_text(f"{n} contact{'s' if n != 1 else ''}")


def builder_settled(page) -> None:
    expect(page.locator("#rule-busy")).not_to_have_class(re.compile("htmx-request"))


def test_a_nested_rule_built_by_keyboard_then_by_mouse(contacts_page):
    page = contacts_page
    labels = list(Label.objects.order_by("display_name", "key"))
    first, last, middle = labels[0], labels[-1], labels[len(labels) // 2]

    # Keyboard: a group, its first label by arrow key, a second condition, the last label by End.
    page.get_by_role("button", name="Add a group", exact=True).focus()
    page.keyboard.press("Enter")
    label_1 = page.get_by_label("Condition 1.1: label")
    expect(label_1).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(label_1).to_have_value(first.key)
    expect(label_1).to_be_focused()  # the builder was swapped; the focus stayed
    count_is(page, len(holders(first.key)))
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Remove condition 1.1")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add a condition to group 1")).to_be_focused()
    page.keyboard.press("Enter")
    label_2 = page.get_by_label("Condition 1.2: label")
    expect(label_2).to_be_focused()
    page.keyboard.press("End")
    expect(label_2).to_have_value(last.key)
    builder_settled(page)
    either = holders(first.key) | holders(last.key)  # a new group matches ANY of its conditions
    count_is(page, len(either))

    # Mouse: a second top-level group, NONE of the middle label.
    page.get_by_role("button", name="Add a group", exact=True).click()
    page.get_by_label("Contacts in group 2 match").select_option("none")
    builder_settled(page)
    page.get_by_label("Condition 2.1: label").select_option(middle.key)
    builder_settled(page)
    count_is(page, len(either - holders(middle.key)))
    words = f"Reads: ({first.display_name} or {last.display_name}) and not {middle.display_name}"
    expect(page.locator("#rule-words")).to_have_text(words)
    shot(page, "nested-rule")

    # The address keeps the rule: a reload shows the same builder and count.
    expect(page).to_have_url(re.compile(r"rule=%7B%22v%22%3A1"))
    page.reload()
    count_is(page, len(either - holders(middle.key)))
    expect(page.get_by_label("Condition 2.1: label")).to_have_value(middle.key)
    expect(page.locator("#rule-words")).to_have_text(words)

    # A condition of another kind: created in the last 36,600 days matches everyone it did.
    page.get_by_role("button", name="Add a condition", exact=True).click()
    page.get_by_label("Condition 3: what it checks").select_option("days")
    days = page.get_by_label("Condition 3: number of days")
    days.fill("36600")
    days.press("Enter")
    builder_settled(page)
    expect(page.locator("#rule-words")).to_contain_text("and created in the last 36,600 days")
    expect(days).to_be_focused()  # the field typed in is not replaced
    count_is(page, len(either - holders(middle.key)))

    # Dates typed without stopping: the first is sent while the second is typed; both stay.
    kind = page.get_by_label("Condition 3: what it checks")
    kind.select_option("dates")
    start = page.get_by_label("Condition 3: from (first day, YYYY-MM-DD)")
    start.click()
    page.keyboard.type("2021-01-01")
    page.keyboard.press("Tab")
    page.keyboard.type("2022-12-31")
    page.keyboard.press("Tab")
    end = page.get_by_label("Condition 3: to (last day, YYYY-MM-DD)")
    expect(end).to_have_value("2022-12-31")
    expect(start).to_have_value("2021-01-01")
    expect(page.locator("#rule-words")).to_contain_text("created 2021-01-01 to 2022-12-31")
    in_range = set(
        Contact.objects.filter(
            remote_created_at__date__gte="2021-01-01", remote_created_at__date__lte="2022-12-31"
        ).values_list("pk", flat=True)
    )
    count_is(page, len((either - holders(middle.key)) & in_range))
    dated = page.locator("#rule-words").inner_text()

    # Back shows the builder as the address before meant it, not one step behind.
    end.fill("2021-06-30")
    end.press("Tab")
    expect(page.locator("#rule-words")).to_contain_text("created 2021-01-01 to 2021-06-30")
    expect(page).to_have_url(re.compile("2021-06-30"))  # the results came, with their address
    page.go_back()
    expect(page.locator("#rule-words")).to_have_text(dated)
    expect(page.get_by_label("Condition 3: to (last day, YYYY-MM-DD)")).to_have_value("2022-12-31")

    # Removing group 1 by mouse: the focus goes to the top group's "Add a condition".
    page.get_by_role("button", name="Remove group 1").click()
    expect(page.get_by_role("button", name="Add a condition", exact=True)).to_be_focused()
    builder_settled(page)
    everyone = set(Contact.objects.values_list("pk", flat=True))
    count_is(page, len((everyone - holders(middle.key)) & in_range))


def test_a_control_changed_the_moment_it_appears_is_not_lost(contacts_page):
    """A choice made as soon as a swapped-in control shows (here in the same turn of the browser's
    event loop, before htmx's default 20 ms settle) is sent like any other: it was lost before."""
    page = contacts_page
    page.evaluate(
        """() => new MutationObserver((_, observer) => {
            const label = [...document.querySelectorAll('#rule-builder label')]
                .find(each => each.textContent.trim() === 'Contacts in group 1 match');
            if (!label) return;
            observer.disconnect();
            const select = document.getElementById(label.htmlFor);
            select.value = 'none';
            select.dispatchEvent(new Event('change', {bubbles: true}));
        }).observe(document.body, {childList: true, subtree: true})"""
    )
    page.get_by_role("button", name="Add a group", exact=True).click()
    expect(page.get_by_label("Contacts in group 1 match")).to_have_value("none")
    expect(page.locator("#rule-text")).to_have_value(re.compile(r'"none"'))
