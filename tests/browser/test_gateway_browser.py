"""A real browser against a real gateway: Debian's Chromium, headless, driven by Playwright.

The gateway runs as its own process (``python -m samizdat_node.gateway``) over a store holding
the synthetic sample. The reader searches for a name typed in Latin letters, opens the record,
sees that it verified and that a month-only date reads "в мае 1939 г.", and switches to English.
Screenshots go to ``artifacts/`` (git-ignored) for a person to look at.

Needs ``/usr/bin/chromium`` (CI installs it with apt); Playwright's own browser downloads are
never used.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from samizdat_node.gateway.sample_site import RETRACTED, RETRACTION_REASON, build_sample_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="BROWSER TEST NOT RUN: /usr/bin/chromium is missing. Install it with "
               "`apt-get update && apt-get install -y chromium` (CI does).",
    ),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a gateway process serving the sample (400 generated records + featured)."""
    path = tmp_path_factory.mktemp("browser") / "store.sqlite"
    build_sample_store(path, 400)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "samizdat_node.gateway", "--store", str(path), "--listen",
         "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = None
        for _ in range(50):
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "the gateway did not start"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _watch(page: Any, origin: str) -> tuple[list[str], list[str]]:
    """Collect console errors and any request that leaves the node."""
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url)
            if urlsplit(r.url).netloc != origin else None)
    return errors, outside


def test_search_open_verify_and_switch_language(gateway: str, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(locale="ru-RU", viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors, outside = _watch(page, urlsplit(gateway).netloc)

    page.goto(gateway + "/")
    assert page.locator("html").get_attribute("lang") == "ru"
    page.get_by_label("Имя").fill("Kozhevnikov Petr")  # a Latin transliteration
    page.get_by_role("button", name="Найти").click()
    page.wait_for_url(re.compile(r"q=Kozhevnikov"))
    first = page.locator("ol.hits > li").first
    assert "Кожевников Пётр Семёнович" in first.locator("h3").inner_text()
    page.screenshot(path=str(ARTIFACTS / "gateway-search.png"), full_page=True)

    first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/records/"))
    verify = page.locator("section.verify")
    assert "Проверено" in verify.inner_text()
    assert "Мемориал (образец)" in verify.inner_text()
    assert "в мае 1939 г." in page.locator("p.bio").inner_text()  # the partial date
    assert "май 1939 г." in page.locator("dl.fields").inner_text()
    assert page.locator("table.versions th", has_text="Региональный архив (образец)").count()
    page.screenshot(path=str(ARTIFACTS / "gateway-record.png"), full_page=True)

    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Verified" in page.locator("section.verify").inner_text()
    assert "Arrested in May 1939." in page.locator("p.bio").inner_text()
    page.screenshot(path=str(ARTIFACTS / "gateway-record-en.png"), full_page=True)

    page.locator("details.evidence summary").click()  # the evidence opens without scripts
    assert page.locator("ol.path li").count() > 0
    assert errors == [] and outside == []
    context.close()


def test_a_phone_sees_a_retraction(gateway: str, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors, outside = _watch(page, urlsplit(gateway).netloc)
    page.goto(f"{gateway}/records/{RETRACTED}")
    notice = page.locator("section.notice.retracted")
    assert notice.is_visible() and RETRACTION_REASON in notice.inner_text()
    # Nothing wider than the screen except the tables' own scroll boxes.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "gateway-record-phone.png"), full_page=False)
    page.goto(gateway + "/?q=Ivanov")
    page.screenshot(path=str(ARTIFACTS / "gateway-search-phone.png"), full_page=False)
    assert errors == [] and outside == []
    context.close()
