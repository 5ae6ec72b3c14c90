"""Take README's screenshots from a running demo (`make run`), in Chromium.

    .venv/bin/python scripts/screenshots.py --password <the demo's admin password>

Writes docs/screenshots/{start,labels,overlap,label,contacts,nested-rule,living-label,
from-list}.png, at 1280 by 800 pixels.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{args.url}/admin/login/")
        page.get_by_label("Username").fill(args.user)
        page.get_by_label("Password").fill(args.password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
        page.screenshot(path=SHOTS / "start.png")

        page.goto(f"{args.url}/admin/labels/label/?o=-contacts")
        page.screenshot(path=SHOTS / "labels.png")
        page.get_by_text("How labels overlap", exact=True).click()
        page.locator(".overlap-map").wait_for()
        page.locator(".labels-overlap-panel").screenshot(path=SHOTS / "overlap.png")
        page.locator("#label-table tbody tr a").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=SHOTS / "label.png")

        page.get_by_role("link", name="See its contacts").first.click()
        page.wait_for_load_state("networkidle")
        count = page.locator("#contact-count")
        before = count.inner_text()
        picker = page.locator("#picker-none")
        picker.fill("news")
        page.get_by_role("option", name=re.compile("^Newsletter")).wait_for()
        picker.press("ArrowDown")
        picker.press("Enter")
        page.locator(".chip-in-none").first.wait_for()
        expect(count).not_to_have_text(before)  # the results follow the new rule
        page.screenshot(path=SHOTS / "contacts.png")

        # A nested rule: (VIP and Newsletter) or (Lead and not Returning Customer).
        page.goto(f"{args.url}/admin/contacts/contact/")
        steps = [
            ("Add a group", "Condition 1.1: label", "VIP"),
            ("Add a condition to group 1", "Condition 1.2: label", "Newsletter"),
            ("Add a group", "Condition 2.1: label", "Lead"),
        ]
        for button, field, name in steps:
            page.get_by_role("button", name=button, exact=True).click()
            page.get_by_label(field).select_option(label=name)
            page.wait_for_load_state("networkidle")
        page.get_by_label("Contacts in group 1 match").select_option("all")
        page.wait_for_load_state("networkidle")
        page.get_by_role("button", name="Add a group to group 2", exact=True).click()
        page.wait_for_load_state("networkidle")
        page.get_by_label("Contacts in group 2.2 match").select_option("none")
        page.wait_for_load_state("networkidle")
        page.get_by_label("Condition 2.2.1: label").select_option(label="Returning Customer")
        page.wait_for_load_state("networkidle")
        page.get_by_label("Contacts in group 2 match").select_option("all")
        page.wait_for_load_state("networkidle")
        page.get_by_label("Contacts match", exact=True).select_option("any")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#rule-words")).to_contain_text("Returning Customer")
        page.screenshot(path=SHOTS / "nested-rule.png")

        # A living label: the first saved audience kept as one, once the worker has caught up.
        page.goto(f"{args.url}/admin/contacts/audience/")
        page.locator("a.audience-name").first.click()
        page.get_by_text("Keep as a living Wix label", exact=True).click()
        name = page.locator("#id_living_name")
        name.fill(name.input_value() + " (living)")
        name.press("Enter")
        page.locator(".living-slot .preview button").click()
        expect(page.locator("#living-panel")).to_contain_text("0 changes pending", timeout=60_000)
        page.locator(".side-panels").scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / "living-label.png")

        # Label from a list: the addresses on the contacts page, and one nobody has.
        emails = [text for text in page.locator("#results td").all_inner_texts() if "@" in text]
        page.get_by_role("link", name="Label from a list…").click()
        page.get_by_label("Paste email addresses or Wix contact ids").fill(
            "\n".join([*emails[:12], "someone@nowhere.example"])
        )
        page.get_by_role("button", name="Read the list").click()
        page.locator("#list-change").wait_for()
        page.get_by_label("Label", exact=True).select_option(label="Newsletter")
        page.locator("#list-change .preview").wait_for()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=SHOTS / "from-list.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
