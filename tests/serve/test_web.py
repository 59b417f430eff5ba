"""`mvlm web`: the demo page in a real headless Chromium, answering about a bundled image with the demo model."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from serve_testdata import RunningServer  # noqa: E402

import mvlm  # noqa: E402
from mvlm import MobileVLM  # noqa: E402
from mvlm.demo import demo_questions  # noqa: E402
from mvlm.serve import ServeConfig, create_app  # noqa: E402
from mvlm.serve.app import web_page  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT_COPY = Path(tempfile.gettempdir()) / "mvlm-web-screenshot.png"


def test_the_page_is_served_and_self_contained():
    page = web_page()
    assert "v1/chat/completions" in page and '"stream": true' not in page and "stream: true" in page
    assert "http://" not in page and "https://" not in page  # no CDN: works offline


@pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None, reason="Debian's chromium and chromium-driver are not installed"
)
def test_a_question_in_the_browser_streams_the_demo_models_answer(tmp_path):
    from selenium.webdriver.common.by import By

    model = MobileVLM.from_pretrained(mvlm.demo_model_path(), dtype=torch.float32).eval()
    asked = demo_questions()[0]
    image_file, question = asked.image, {"question": asked.question}
    expected = model.chat(str(image_file), asked.question)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=900,900", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    config = ServeConfig(model_name="mvlm-demo")
    with RunningServer(create_app(model, config)) as server:
        browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
        try:
            browser.set_page_load_timeout(60)
            browser.get(server.url + "/")
            deadline = time.monotonic() + 30
            while browser.find_element(By.ID, "model").text != "mvlm-demo":  # the page asked /v1/models
                assert time.monotonic() < deadline, "the page did not load the model's id"
                time.sleep(0.1)
            browser.find_element(By.ID, "image").send_keys(str(image_file))
            browser.find_element(By.ID, "question").send_keys(question["question"])
            browser.find_element(By.ID, "send").click()
            deadline = time.monotonic() + 120
            while (
                browser.find_element(By.ID, "status").text not in ("done",)
                and "error" not in browser.find_element(By.ID, "status").text
            ):
                assert time.monotonic() < deadline, "no answer within 120 s"
                time.sleep(0.1)
            assert browser.find_element(By.ID, "status").text == "done"
            assert browser.find_element(By.ID, "answer").text == expected
            browser.save_screenshot(str(tmp_path / "web.png"))
        finally:
            browser.quit()
    shutil.copy(tmp_path / "web.png", SCREENSHOT_COPY)
    assert (tmp_path / "web.png").stat().st_size > 10_000
