"""Take README's screenshots from a running demo (`make run`), in Chromium.

    .venv/bin/python scripts/screenshots.py --password <the demo's admin password>

Writes docs/screenshots/{start,labels,label,contacts}.png at 1280 by 800 pixels.
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
        browser.close()


if __name__ == "__main__":
    main()
