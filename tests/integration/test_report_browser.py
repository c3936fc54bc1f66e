"""The QC report in a real browser: headless Chromium driven through Selenium.

A session page and a batch index page are loaded from disk (no server, as a person opens
them by double-click): no console errors, every image decoded with a non-zero size, the
index has one row per session, and clicking a column header sorts the table.  Skipped
where Chromium or its driver is not installed, except under CI (``.ci/run`` installs
Debian's ``chromium`` and ``chromium-driver``), where that is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

from moseq2_extract.report import write_report

webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium / chromedriver are not installed (.ci/run installs them)")
        pytest.skip("chromium and chromedriver are not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


IMAGES = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
Promise.all(imgs.map(i => i.decode().then(() => [i.alt, i.naturalWidth, i.naturalHeight],
                                          () => [i.alt, 0, 0]))).then(done);
"""


def _load(driver, path):
    driver.get(path.resolve().as_uri())
    images = driver.execute_async_script(IMAGES)
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    return images, errors


@pytest.fixture(scope="module")
def report(extracted_batch):
    folder, _ = extracted_batch
    return write_report(folder)


def test_session_page(browser, report):
    images, errors = _load(browser, report.sessions[1])
    assert errors == []
    assert [alt for alt, _, _ in images] == ["arena", "centroid path", "frames", "montage"]
    assert all(w > 0 and h > 0 for _, w, h in images)
    # the timeline, drawn by plotly.js on opening: every panel, the raster image laid
    # under the top one, the traces' lines, the flagged rows
    plot = browser.execute_script("""
        const div = document.getElementById('timeline');
        const box = div.getBoundingClientRect();
        return {width: box.width, height: box.height,
                yaxes: Object.keys(div.layout).filter(k => k.startsWith('yaxis')).length,
                images: div.querySelectorAll('svg image').length,
                lines: div.querySelectorAll('.scatterlayer .trace path.js-line').length,
                rows: div.layout.yaxis2.categoryarray};""")
    assert plot["width"] > 600 and plot["height"] > 400
    assert plot["yaxes"] == 8 and plot["images"] == 1 and plot["lines"] >= 6
    assert "intrusion" in plot["rows"]
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#quality tbody tr'))"
        ".map(r => r.cells[0].textContent)")
    assert "intrusion" in rows


def test_batch_page_rows_and_sorting(browser, report):
    images, errors = _load(browser, report.index)
    assert errors == [] and images == []
    names = "return Array.from(document.querySelectorAll('#sessions tbody tr'))" \
            ".map(r => r.cells[0].textContent)"
    assert browser.execute_script(names) == ["session_0", "session_1", "session_2"]
    header = browser.find_elements("css selector", "#sessions thead th")[0]
    header.click()
    header.click()  # second click: descending
    assert browser.execute_script(names) == ["session_2", "session_1", "session_0"]
    link = browser.find_element("link text", "session_1")
    link.click()
    assert browser.current_url.endswith("/s1/proc/report.html")
    _, errors = _load(browser, report.sessions[1])
    assert errors == []
