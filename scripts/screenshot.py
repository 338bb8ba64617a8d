"""Screenshot of a leaderboard page in headless Chromium (Debian's, driven by Playwright).

    python scripts/screenshot.py [results/leaderboard.html] [docs/leaderboard.png] [width] [height]

Used for the README's picture of the page. Set HARNESS_CHROMIUM if Chromium is not /usr/bin/chromium.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    from playwright.sync_api import sync_playwright
    page_file = Path(argv[0] if argv else "results/leaderboard.html").resolve()
    out = Path(argv[1] if len(argv) > 1 else "docs/leaderboard.png")
    width = int(argv[2]) if len(argv) > 2 else 1500
    height = int(argv[3]) if len(argv) > 3 else 1900
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(page_file.as_uri())
        page.wait_for_selector("table")
        page.screenshot(path=str(out), full_page=False)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
