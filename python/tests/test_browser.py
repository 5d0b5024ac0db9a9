"""The report, the notebook views and the diagnostics widget in a real headless browser (Debian's Chromium).

What a reader would see go wrong: console errors, anything wider than the
screen at 400 px (a phone) or 1400 px (a desktop), images that do not decode,
a widget that does not redraw when a selection changes. ``make install``
installs the browser (tools/install_browser.sh); without it these tests fail
rather than skip, so CI cannot pass them silently.
"""

from __future__ import annotations

import pandas as pd
import pytest

import surveyfuse as sf
from surveyfuse.evaluate.report import write_report
from surveyfuse.notebook import diagnostics_data, diagnostics_html, evaluation_html, imputer_html, run_summary_html

import browser

WIDTHS = (400, 1400)
BLOCK = ["e00300", "e00600", "e00650", "has_div"]
PREDICTORS = ["age_head", "XTOT", "MARS", "e00200"]


@pytest.fixture(scope="module")
def driver():
    missing = browser.available()
    if missing:
        pytest.fail(f"no headless browser ({missing} missing): run tools/install_browser.sh (make install does)")
    with browser.browser() as d:
        yield d


@pytest.fixture(scope="module")
def evaluation(cps_donor):
    donor = cps_donor.sample(700, random_state=3).reset_index(drop=True)
    donor["has_div"] = (donor["e00600"] > 0).astype(int)
    return sf.evaluate_methods(donor, BLOCK, PREDICTORS, methods=["forest", "hotdeck"], folds=2, draws=4,
                               categorical=["MARS", "has_div"], weights="s006",
                               constraints=["e00650 <= e00600", "e00300 >= 0"], keep_examples=True)


@pytest.fixture(scope="module")
def report_page(evaluation, tmp_path_factory):
    return write_report(evaluation, tmp_path_factory.mktemp("report"), title="browser test report")["report"]


@pytest.mark.parametrize("width", WIDTHS)
def test_report_reads_at_phone_and_desktop_width(driver, report_page, width):
    page = browser.open_page(driver, report_page, width)
    assert page["errors"] == []
    assert page["overflow"] == [], page["overflow"][:5]
    assert page["scrollWidth"] <= page["viewport"]
    # densities, share bars, conditional plots, bars, folds, coverage, PIT, Spearman: well over ten figures
    assert page["images"]["count"] >= 12
    assert page["images"]["failed"] == [] and page["images"]["empty"] == []


def test_report_figures_are_drawn_at_a_legible_size(driver, report_page):
    browser.set_width(driver, 400)
    driver.get(browser.Path(report_page).resolve().as_uri())
    widths = driver.execute_script("return Array.from(document.images).map(i => i.getBoundingClientRect().width)")
    assert min(widths) > 300  # a figure fills a phone's width instead of shrinking into a column


@pytest.fixture(scope="module")
def imputed(cps_donor, cps_recipient):
    donor, rec = cps_donor.iloc[:800], cps_recipient.iloc[:150]
    imp = sf.Imputer(["e00300", "e00600"], ["age_head", "MARS", "e00200"], method="hotdeck", categorical=["MARS"],
                     weights="s006", constraints=["e00300 >= 0"], random_state=0).fit(donor)
    return donor, imp, imp.sample(rec, draws=3, seed=1)


def test_widget_renders_and_redraws_on_selection(driver, imputed, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    donor, _, out = imputed
    data = diagnostics_data(donor, out, ["e00300", "e00600"], ["age_head", "MARS", "e00200"], weights="s006",
                            recipient_weights="s006", categorical=["MARS"])
    page = tmp_path / "widget.html"
    page.write_text(diagnostics_html(data), encoding="utf-8")
    for width in WIDTHS:
        seen = browser.open_page(driver, page, width)
        assert seen["errors"] == [] and seen["overflow"] == [], seen
    titles = lambda: [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg text[font-weight='600']")]  # noqa: E731
    assert titles() == ["e00300: non-zero values", "mean e00300 by age_head"]
    assert driver.find_elements(By.CSS_SELECTOR, ".sf-distribution path.sf-imputed")
    selects = driver.find_elements(By.TAG_NAME, "select")
    Select(selects[0]).select_by_value("e00600")
    Select(driver.find_elements(By.TAG_NAME, "select")[1]).select_by_value("MARS")
    assert titles() == ["e00600: non-zero values", "mean e00600 by MARS"]
    ticks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, ".sf-conditional svg text")]
    assert {"1", "2", "4"} <= set(ticks)  # MARS keeps its own values as bins
    one = driver.find_element(By.CSS_SELECTOR, ".sf-conditional path.sf-imputed").get_attribute("d")
    Select(driver.find_elements(By.TAG_NAME, "select")[2]).select_by_value("2")
    assert driver.find_element(By.CSS_SELECTOR, ".sf-conditional path.sf-imputed").get_attribute("d") != one
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


def test_notebook_views_render(driver, imputed, evaluation, tmp_path):
    _, imp, _ = imputed
    from conftest import REPO

    result = sf.run_spec(REPO / "examples/cps_investment.json", write=False, overrides={"method": "hotdeck", "draws": 2})
    parts = [imputer_html(sf.Imputer(["a"], ["b"])), imputer_html(imp), evaluation_html(evaluation),
             run_summary_html(result.summary)]
    page = tmp_path / "views.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" '
                    'content="width=device-width, initial-scale=1"></head><body>' + "".join(parts) + "</body></html>")
    for width in WIDTHS:
        seen = browser.open_page(driver, page, width)
        assert seen["errors"] == [] and seen["scrollWidth"] <= seen["viewport"], seen
