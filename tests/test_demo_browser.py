"""End to end: ``foresight demo`` serves the app on 127.0.0.1 and a headless Chromium uses it.

The browser is the system's Chromium (Debian's ``chromium`` package, which ``.ci/run`` installs),
driven by Playwright; the test is skipped only where no Chromium executable can be found. Every wait
is on a condition in the page or in the server's output, with generous time limits; a screenshot of
the finished page is saved under the test's ``tmp_path`` and, when ``FORESIGHT_TEST_ARTIFACTS`` is set,
in that folder too.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from foresight_models import testing

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
READY = re.compile(r"Running on local URL:\s*(http://127\.0\.0\.1:\d+)")
WAIT_MS = 180_000  # generous: the suite may run beside others on few cores


def chromium_executable() -> str | None:
    return next(filter(None, (shutil.which(name) for name in CHROMIUM_NAMES)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """``python -m foresight_models.cli demo`` in a subprocess, with its output read by a thread."""

    def __init__(self, model: str, port: int, cache: Path):
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "FORESIGHT_CACHE": str(cache),
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        command = [sys.executable, "-m", "foresight_models.cli", "demo", "--model", model, "--port", str(port)]
        self.process = subprocess.Popen(
            command, cwd=cache, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def url(self, timeout: float) -> str | None:
        """The served URL once the server says it runs; ``None`` if it exits or is silent for ``timeout`` s."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.output.append(line)
            match = READY.search(line)
            if match:
                return match.group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(tmp_path):
    model = testing.tiny_pipeline_folder(str(tmp_path / "tiny-random"))
    for _ in range(3):  # another process may take the free port before the server binds it
        server = DemoServer(model, free_port(), tmp_path)
        url = server.url(timeout=WAIT_MS / 1000)
        if url is not None:
            server.base_url = url
            yield server
            server.stop()
            return
        server.stop()
    pytest.fail("foresight demo did not start:\n" + "".join(server.output[-40:]))


def save_artifact(path: Path) -> None:
    folder = os.environ.get("FORESIGHT_TEST_ARTIFACTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


@pytest.fixture
def chromium() -> str:
    executable = chromium_executable()
    if executable is None:
        pytest.skip(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); install Debian's `chromium` package")
    return executable


def test_demo_in_a_browser(chromium, server, tmp_path):
    scene = tmp_path / "scene.png"
    testing.demo_image(128).save(scene)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        try:
            page.set_default_timeout(WAIT_MS)
            page.goto(server.base_url)
            page.locator("#images input[type=file]").set_input_files(str(scene))
            expect(page.locator("#images a[href$='/scene.png']")).to_have_count(1, timeout=WAIT_MS)  # uploaded

            # (bad settings as messages in the page are tested on the app's functions, in test_demo.py: a
            # typed number reaches Gradio's state asynchronously, so a click right after typing can race it)
            page.locator("#predict").click()

            expect(page.locator("#status textarea")).to_have_value(re.compile(r"^done in"), timeout=WAIT_MS)
            video = page.locator("#video video")
            expect(video).to_have_attribute("src", re.compile(r"prediction\.mp4"), timeout=WAIT_MS)
            expect(page.locator("#description textarea")).not_to_have_value("", timeout=WAIT_MS)
            expect(page.locator("#motion-prompt textarea")).not_to_have_value("", timeout=WAIT_MS)
            progress = page.locator("#progress progress")
            assert progress.get_attribute("value") == progress.get_attribute("max") == "4"
            expect(page.locator("#downloads a[href$='/prediction.mp4']")).to_have_count(1, timeout=WAIT_MS)
            result = page.locator("#downloads a[href$='/result.json']")
            expect(result).to_have_count(1, timeout=WAIT_MS)
            record = page.request.get(result.get_attribute("href")).json()
            assert record["images"] == ["scene.png"] and record["num_frames"] == 17
            assert record["description"] == [page.locator("#description textarea").input_value()]

            # the frame slider steps through the clip
            frame = page.locator("#frame img")
            first_frame = frame.get_attribute("src")
            assert first_frame, "the first frame is shown once the clip is ready"
            slider = page.locator("#frame-slider input[type=range]")
            for _ in range(5):  # the moved slider reaches Gradio's state asynchronously: move it until it has
                slider.fill("16")
                try:
                    expect(frame).not_to_have_attribute("src", first_frame, timeout=WAIT_MS // 5)
                    break
                except AssertionError:
                    slider.fill("0")
            expect(frame).not_to_have_attribute("src", first_frame, timeout=1)

            screenshot = tmp_path / "foresight-demo.png"
            page.screenshot(path=str(screenshot), full_page=True)
        except Exception:
            failure = tmp_path / "foresight-demo-failure.png"
            page.screenshot(path=str(failure), full_page=True)
            save_artifact(failure)
            print("server output:\n" + "".join(server.output) + "".join(drain(server.lines)))
            raise
        finally:
            browser.close()
    assert screenshot.stat().st_size > 0
    save_artifact(screenshot)


def drain(lines: queue.Queue) -> list[str]:
    """The lines the server has written so far and not yet read."""
    read = []
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return read
        if line is None:
            return read
        read.append(line)
