"""A screenshot of the web app serving the default pipeline's model (after `make run`), for the README.

    python -m bench.app_screenshot [--out docs/app-page.png] [--image PATH] [--width 1000]

Starts `python -m skinlab.app` on a free port, opens the page in headless Chromium (Debian's
chromium and chromedriver: `make browser-deps`), uploads the image (default: the first test image
of data/split) and saves the page once the answer is shown.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench.bench_app import free_port, wait_ready


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/app-page.png"))
    parser.add_argument("--image", type=Path)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args(argv)
    if args.image is None:
        import pandas as pd

        args.image = Path("data/raw") / pd.read_csv("data/split/test.csv").iloc[0]["image"]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "skinlab.app", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={args.width},{args.height}"):
        options.add_argument(flag)
    driver = None
    try:
        wait_ready(port, process)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(driver, 20).until(lambda d: "trained on" in d.find_element(By.ID, "card-list").text)
        driver.find_element(By.ID, "file").send_keys(str(args.image.resolve()))
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
        print(f"{args.out}: the page after uploading {args.image}")
    finally:
        if driver is not None:
            driver.quit()
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
