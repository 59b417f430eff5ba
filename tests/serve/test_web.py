"""`mvlm web`: the demo page in a real headless Chromium (Selenium + Debian's chromium-driver).

The demo model answers a bundled question about a bundled image as ``model.chat`` does; the chatty
checkpoint's longer answer shows that the page appends each streamed piece; a file that is not an
image shows the server's error message.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from serve_testdata import NEW, RunningServer  # noqa: E402

import mvlm  # noqa: E402
from mvlm import MobileVLM  # noqa: E402
from mvlm.demo import demo_questions  # noqa: E402
from mvlm.inference import GenerationOptions  # noqa: E402
from mvlm.serve import ServeConfig, create_app  # noqa: E402
from mvlm.serve.app import web_page  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT_COPY = Path(tempfile.gettempdir()) / "mvlm-web-screenshot.png"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=760,700")  # fmt: skip

# Records every text the answer area shows (the page replaces its text node on each appended piece).
RECORD_ANSWERS = """
window.shownAnswers = [];
new MutationObserver((records) => {
  for (const record of records) for (const node of record.addedNodes) window.shownAnswers.push(node.textContent);
}).observe(document.getElementById("answer"), {childList: true});
"""


def test_the_page_is_served_and_self_contained():
    page = web_page()
    assert "v1/chat/completions" in page and "stream: true" in page and 'id="status"' in page
    assert "http://" not in page and "https://" not in page  # no CDN: works offline


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a new empty profile (skips where Debian's chromium is not installed)."""
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` every 0.1 s; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds:g} s"
        time.sleep(0.1)


def open_page(browser: Any, server: RunningServer, model_name: str) -> None:
    """Load the page and wait until it has asked /v1/models for the model's id."""
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait_for(lambda: browser.find_element(By.ID, "model").text == model_name, 30, "the page showed the model's id")


def ask(browser: Any, image_file: Path, question: str) -> tuple[str, str]:
    """Choose ``image_file``, type ``question``, press Ask; wait for the stream to end: (status, answer)."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "image").send_keys(str(image_file))
    browser.find_element(By.ID, "question").clear()
    browser.find_element(By.ID, "question").send_keys(question)
    browser.find_element(By.ID, "send").click()

    def status() -> str:
        return str(browser.find_element(By.ID, "status").text)

    wait_for(lambda: status() == "done" or status().startswith("error"), 120, "the answer ended")
    return status(), browser.execute_script('return document.getElementById("answer").textContent')


def test_a_question_in_the_browser_gets_the_demo_models_answer(browser, tmp_path):
    model = MobileVLM.from_pretrained(mvlm.demo_model_path(), dtype=torch.float32).eval()
    asked = next(question for question in demo_questions() if question.family == "color")
    expected = model.chat(str(asked.image), asked.question)
    screenshot = tmp_path / "mvlm-web.png"
    with RunningServer(create_app(model, ServeConfig(model_name="mvlm-demo"))) as server:
        open_page(browser, server, "mvlm-demo")
        try:
            assert ask(browser, asked.image, asked.question) == ("done", expected)
        finally:
            browser.save_screenshot(str(screenshot))
            shutil.copy(screenshot, SCREENSHOT_COPY)

        not_an_image = tmp_path / "notes.png"
        not_an_image.write_text("a text file, not a picture")
        status, answer = ask(browser, not_an_image, asked.question)
    assert status == "error: image 1 of the conversation: not an image, or a format Pillow cannot read"
    assert answer == ""
    assert screenshot.stat().st_size > 10_000


def test_the_page_appends_each_streamed_piece(browser, tmp_path, model, images):
    image_file = tmp_path / "picture.png"
    images[0].save(image_file)
    expected = model.chat(images[0], "Describe the picture.", max_new_tokens=NEW)
    config = ServeConfig(model_name="chatty", generation=GenerationOptions(max_new_tokens=NEW))
    with RunningServer(create_app(model, config)) as server:
        open_page(browser, server, "chatty")
        browser.execute_script(RECORD_ANSWERS)
        assert ask(browser, image_file, "Describe the picture.") == ("done", expected)
        shown = browser.execute_script("return window.shownAnswers")
    assert len(shown) > 1 and shown[-1] == expected
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(shown))
