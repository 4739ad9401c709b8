"""The live page in a real headless browser (Debian's chromium driven by selenium): it loads, its chart
receives the session's windows, and its video changes. Skipped where no browser or selenium is present
(.ci/run installs them); the test installs nothing."""

import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from peclip.predict import zero_shot_model
from peclip.predict.live import LiveOptions, LiveSession

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WOLF = DATA / "WolfgangLanger_Pexels.mp4"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.skipif(not WOLF.is_file(), reason="real media in ../shared/data is absent"),
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium + chromedriver (apt-get install chromium "
                                                         "chromium-driver)"),
]


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="peclip-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1300,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return None


def test_the_page_loads_its_chart_receives_windows_and_its_video_changes(browser):
    torch.manual_seed(0)
    model = zero_shot_model("test-clip-vit-b16")
    session = LiveSession(model, WOLF, LiveOptions(realtime=True, hop=1.0, summary_every=1.0), jsonl=False, serve=0)
    url = session.start_server()
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url + "live.js") as response:  # the page's script is package data
        assert b"EventSource" in response.read()
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    try:
        browser.get(url)
        assert browser.title == "peclip live"
        image = browser.find_element("id", "video")
        first = _wait(lambda: image.screenshot_as_png if browser.execute_script(
            "const i = document.getElementById('video'); return i.complete && i.naturalWidth > 0;") else None, 20)
        assert first, "the MJPEG video never showed a frame"
        count = lambda: int(browser.find_element("id", "updates").get_attribute("data-count"))  # noqa: E731
        assert _wait(lambda: count() >= 1, 20), "the chart received no window"
        seen = count()
        assert _wait(lambda: count() > seen, 20), "the chart stopped receiving windows"
        assert browser.execute_script("return window.peclipLive.people['0'].points.length") >= 2
        assert browser.find_element("id", "chart-0").is_displayed()
        assert "person 0" in browser.find_element("css selector", ".person h2").text
        assert _wait(lambda: image.screenshot_as_png != first, 10), "the video did not change"
        assert session.server.frames_sent >= 2
        assert "frames in" in browser.find_element("id", "status").text  # a summary event arrived
    finally:
        session.stop()
        thread.join(30)
    assert not thread.is_alive()
