"""The /review page end to end in headless Debian Chromium, driven by Playwright.

Playwright's own browser download does not work offline, so the test launches the system
Chromium (``.ci/run`` installs Debian's ``chromium`` when it is missing). The screenshot of
the page with the item claimed is written to ``$MODSERVE_SCREENSHOT`` when that is set.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
# Chromium's own background traffic is refused on a closed network; these keep it quiet.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def red_square() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def system_chromium() -> str:
    """The browser's path. Without one, CI fails and a developer's ``make test`` skips this
    test only, saying what to install (``.ci/run`` installs it; a bare checkout may not)."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    missing = f"{CHROMIUM} is missing: install Debian's chromium to run the review page test"
    if os.environ.get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


def test_reviewer_claims_and_removes_an_item_in_the_browser(base_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = system_chromium()

    body = {
        "content_id": "page-1",
        "author_id": "page-author",
        "platform": "reddit",
        "policy": "limited",
        "text": "you posted a forbidden phrase again",
        "image_base64": red_square(),
    }
    answer = httpx.post(f"{base_url}/v1/moderate", json=body, timeout=60)
    assert answer.json()["decision"] == "review", answer.text

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(f"{base_url}/review")
        page.fill("#token", ADMIN_TOKEN)
        page.fill("#reviewer", "ana")
        page.click("#load")
        item = page.locator(".item", has_text="forbidden phrase again")
        expect(item).to_be_visible(timeout=15_000)
        expect(item.locator("img")).to_have_js_property("naturalWidth", 48, timeout=10_000)
        item.locator("button.claim").click()
        expect(item.locator(".meta").first).to_contain_text("claimed by ana", timeout=10_000)
        expect(item.locator("img")).to_have_js_property("naturalWidth", 48, timeout=10_000)
        page.screenshot(path=os.environ.get("MODSERVE_SCREENSHOT") or tmp_path / "review.png")
        item.locator("button.remove").click()
        expect(page.locator(".item", has_text="forbidden phrase again")).to_have_count(0)
        browser.close()

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resolved = httpx.get(f"{base_url}/v1/reviews", params={"status": "resolved"}, headers=headers)
    (done,) = [i for i in resolved.json()["items"] if i["content_id"] == "page-1"]
    assert (done["resolution"], done["resolved_by"]) == ("remove", "ana")
