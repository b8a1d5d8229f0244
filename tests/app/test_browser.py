"""The page in headless Chromium (Debian's chromium and chromedriver, driven by Selenium): upload
an image, wait for the answer, check the bars, the outline and the heat map, save a screenshot.
Locally it skips when Chromium is not installed (`make browser-deps` installs it); in CI it fails."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.app.conftest import encode, lesion

CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        message = f"headless Chromium not installed ({CHROMIUM}, {DRIVER}): run `make browser-deps`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    selenium = pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=420,1400"):  # phone-sized: the page must work at this width
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    assert selenium  # imported for the skip above
    yield driver
    driver.quit()


def test_upload_shows_probabilities_outline_and_heat_map(browser, live_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    host, port = live_server
    image = tmp_path / "lesion.jpg"
    image.write_bytes(encode(lesion(11, (300, 400))))
    browser.get(f"http://{host}:{port}/")
    WebDriverWait(browser, 20).until(lambda d: "a test's random images" in d.find_element(By.ID, "card-list").text)
    assert "Not a medical device" in browser.find_element(By.ID, "disclaimer").text
    browser.find_element(By.ID, "file").send_keys(str(image))
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", \
        browser.find_element(By.ID, "status").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars li")
    assert len(bars) == 7
    values = [float(li.find_element(By.CLASS_NAME, "value").text.rstrip("%")) for li in bars]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 100) < 0.5
    polygons = browser.find_elements(By.CSS_SELECTOR, "#outline polygon")
    assert polygons and len(polygons[0].get_attribute("points").split()) >= 3
    WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.ID, "heat")))
    assert browser.find_element(By.ID, "top").text.startswith("Most probable:")
    assert "Skin tone" in browser.find_element(By.ID, "tone").text
    # nothing wider than the phone-sized window
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    shot = Path(os.environ.get("SKINLAB_SCREENSHOT", tmp_path / "page.png"))
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_a_refused_upload_is_shown_as_an_error(browser, live_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    host, port = live_server
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not an image at all" * 20)
    browser.get(f"http://{host}:{port}/")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "error")
    assert "cannot decode image" in browser.find_element(By.ID, "status").text
