"""The web page end to end in headless Chromium (Debian's ``chromium``; skipped with the reason when absent).

uvicorn serves a small model on a free loopback port (fixture ``live_service``); Playwright drives
the system Chromium (its own browser download is not used).
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("TWINCELL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is not installed (run scripts/ensure_chromium.sh as root)"),
]

PASTED = "gene,logFC\nSTAT1,1.5\nIRF1,1.0\nJAK2,0.4\nIL10,-0.5\nNOT_A_GENE_XYZ,2.0\n"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def open_tab(browser, url: str):
    """A new tab on ``url`` that records JavaScript errors in ``tab.js_errors``."""
    tab = browser.new_page()
    tab.js_errors = []
    tab.on("pageerror", lambda exc: tab.js_errors.append(str(exc)))
    tab.goto(url)
    return tab


@pytest.fixture(scope="module")
def page(browser, live_service):
    tab = open_tab(browser, live_service + "/")
    yield tab
    assert tab.js_errors == [], f"JavaScript errors on the page: {tab.js_errors}"


def test_rank_and_explain_in_the_browser(page):
    page.wait_for_selector("#context option[value='synthetic_ctx_b']", state="attached", timeout=15_000)
    assert "300 nodes" in page.inner_text("#model-info")
    page.fill("#signature-text", PASTED)
    page.select_option("#context", "synthetic_ctx_b")
    page.fill("#top", "10")
    page.click("#rank")
    page.wait_for_selector("#targets tbody tr", timeout=30_000)
    rows = page.query_selector_all("#targets tbody tr")
    assert len(rows) == 10
    assert [r.query_selector("td").inner_text() for r in rows] == [str(i) for i in range(1, 11)]
    assert "NOT_A_GENE_XYZ" in page.inner_text("#unknown")
    target = rows[0].get_attribute("data-gene")

    rows[0].click()
    page.wait_for_selector("#explanation:not([hidden]), #error:not([hidden])", timeout=30_000)
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert page.inner_text("#explained-target") == target
    page.wait_for_function("document.getElementById('path-figure').naturalWidth > 0", timeout=30_000)
    paths = page.query_selector_all("#paths tbody tr")
    assert paths and all(target in p.query_selector("td").inner_text() for p in paths)
    assert "cover" in page.inner_text("#covered")


def test_bad_signature_shows_the_problem(page):
    page.fill("#signature-text", "gene,pvalue\nSTAT1,0.01\n")
    page.click("#rank")
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    text = page.inner_text("#error")
    assert "file:" in text and "log fold change" in text and "hint:" in text


def test_failed_submit_clears_the_old_results(page):
    page.wait_for_selector("#context option[value='synthetic_ctx_a']", state="attached", timeout=15_000)
    page.fill("#signature-text", PASTED)
    page.click("#rank")
    page.wait_for_selector("#targets tbody tr", timeout=30_000)
    page.fill("#signature-text", "gene,pvalue\nSTAT1,0.01\n")
    page.click("#rank")
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    assert page.is_hidden("#results") and page.is_hidden("#explanation") and page.is_hidden("#unknown")
    assert page.query_selector_all("#targets tbody tr") == [] and page.query_selector_all("#drug-targets tbody tr") == []


def test_busy_indicator_while_ranking(page):
    held = []
    page.route("**/v1/targets", lambda route: held.append(route))  # hold the answer until checked
    try:
        page.fill("#signature-text", PASTED)
        page.click("#rank")
        page.wait_for_selector("#busy:not([hidden])", timeout=15_000)
        page.wait_for_function("document.getElementById('busy').textContent.includes('ranking')", timeout=15_000)
        while not held:
            page.wait_for_timeout(50)
        assert page.is_disabled("#rank")
        held[0].continue_()
        page.wait_for_selector("#targets tbody tr", timeout=30_000)
        page.wait_for_selector("#busy", state="hidden", timeout=15_000)
        assert page.is_enabled("#rank")
    finally:
        page.unroute("**/v1/targets")


def test_token_box_is_visible_and_a_401_points_to_it(browser, service_model, serve_app):
    from twincell.service import create_app

    base = serve_app(create_app(service_model, token="synthetic-token"))
    tab = open_tab(browser, base + "/")
    tab.wait_for_selector("#error:not([hidden])", timeout=15_000)  # the page's first /v1 call is refused
    assert tab.is_visible("#token")
    assert "API token" in tab.inner_text("#error")
    assert tab.evaluate("document.activeElement.id") == "token"
    tab.fill("#token", "synthetic-token")
    tab.dispatch_event("#token", "change")
    tab.wait_for_selector("#context option[value='synthetic_ctx_b']", state="attached", timeout=15_000)
    assert tab.is_hidden("#error")
    tab.fill("#signature-text", PASTED)
    tab.click("#rank")
    tab.wait_for_selector("#targets tbody tr", timeout=30_000)
    assert tab.js_errors == []
