"""The web demo as its users meet it: a real server process, the gradio_client API, a real browser, a burst.

One demo server (``python -m kind_tf.demo`` on a free localhost port) serves every test of this module. It
is a child process that dies with the test process (PR_SET_PDEATHSIG) and is terminated, then killed, when
the module's tests end, failed or not. Expected outputs come from enhance.py's own job function
(:func:`kind_tf.enhance_job.enhance_files`) run in this process on the same weights and settings.

``KIND_TF_DEMO_SCREENSHOT=docs/figures/demo.png`` also copies the browser test's screenshot there (how the
README's figure is made); the test itself writes into its tmp_path.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from kind_tf import methods as method_registry
from kind_tf.enhance_job import SAMPLE_IMAGE, enhance_files
from kind_tf.presets import preset_dir

CHROMIUM = Path("/usr/bin/chromium")          # Debian's chromium and chromium-driver (.ci/run installs them)
CHROMEDRIVER = Path("/usr/bin/chromedriver")
START_TIMEOUT = 240       # s: server start on a loaded 2-core machine (TensorFlow import, weights, first trace)
REQUEST_TIMEOUT = 120     # s: one enhancement of a small image, queue wait included
BURST = 8                 # concurrent requests in the burst test
# The server's peak RSS during the burst may exceed its RSS just before it by at most this: with one
# enhancement at a time (the demo's queue) eight small images need no more than one does, plus Gradio's
# request and file buffers. Without the limit eight pipelines' activations would be alive at once.
BURST_RSS_GROWTH_MB = 300
# The demo's log line per enhancement (kind_tf.demo.enhance_upload): start time, file name, duration.
ENHANCED_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) enhanced (\S+) \(\d+x\d+, \w+\) in ([\d.]+) s$",
                           re.MULTILINE)
SERVER_RSS_LIMIT_MB = 2500   # and in absolute terms: TensorFlow + both methods' networks + one image's activations


def _die_with_parent() -> None:
    """In the server's process before exec: get SIGTERM when the test process dies, however it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process, self.url, self.log = process, url, log
        self.ready = False

    def rss_mb(self) -> float:
        """The server's resident memory, its children's included (Gradio starts none today; if it did, they count)."""
        parent = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in (parent, *parent.children(recursive=True))) / 2 ** 20

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Return once the page answers (at once after the first time); fail with the server's log otherwise."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready:
            if self.process.poll() is not None:
                pytest.fail(f"the demo exited with {self.process.returncode} before serving:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as page:
                    self.ready = page.status == 200
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not serve within {START_TIMEOUT} s:\n{self.log_text()}")
            time.sleep(0.2)

    def enhancements(self, names: set[str]) -> list[tuple[float, float]]:
        """(start, end) in seconds of the server's enhancements of the files ``names``, from its log lines."""
        spans = []
        for stamp, name, seconds in ENHANCED_LINE.findall(self.log_text()):
            if name in names:
                start = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
                spans.append((start, start + float(seconds)))
        return sorted(spans)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One demo server for the module, started (not waited for: see :meth:`Server.wait_ready`), stopped at the
    end whatever happened."""
    log = tmp_path_factory.mktemp("demo") / "server.log"
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "wb") as handle:
        process = subprocess.Popen([sys.executable, "-m", "kind_tf.demo", "--port", str(port)], stdout=handle,
                                   stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent)
    server = Server(process, f"http://127.0.0.1:{port}/", log)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def client(server):
    server.wait_ready()
    return Client(server.url, verbose=False)


@pytest.fixture(scope="module")
def pipelines():
    """The shipped pipelines in this process, loaded as enhance.py loads them (recipe defaults)."""
    loaded: dict[str, object] = {}

    def get(method: str):
        if method not in loaded:
            entry = method_registry.get(method)
            loaded[method] = entry.load(preset_dir(entry.presets[0]))
        return loaded[method]

    return get


def test_methods_and_usage_errors(capsys):
    """The page offers every registered method with shipped weights (not, e.g., a method registered without
    presets); bad flags exit 2 in one line."""
    from kind_tf import cli
    from kind_tf.demo import demo_methods
    from kind_tf.presets import PRESETS

    with_presets = {preset.method for preset in PRESETS.values()}
    assert demo_methods() == tuple(name for name in method_registry.names() if name in with_presets)
    assert demo_methods()[:3] == ("kind", "zerodce", "kindpp")
    for argv in (["--port", "70000"], ["--concurrency", "0"], ["--queue-size", "0"]):
        assert cli.main(["demo", *argv]) == 2, argv
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith(f"error: {argv[0]}: out of range"), errors


def enhance_py_output(model, image_path: Path, out_dir: Path, ratio: float | str | None = None) -> np.ndarray:
    """What enhance.py writes for ``image_path`` (its job function, its tiling option), as uint8."""
    report = enhance_files(model, [str(image_path)], out_dir, ratio, options={"tile": "auto"}, io_workers=0,
                           log=lambda message: None)
    assert report.exit_code == 0, report.errors
    return np.asarray(Image.open(report.written[0]))


def crop(path: Path, box: tuple[int, int, int, int]) -> Path:
    """A small PNG cut out of the bundled sample (small images keep the module fast on 2 cores)."""
    Image.open(SAMPLE_IMAGE).crop(box).save(path)
    return path


def call(client: Client, image: Path, method: str, ratio: str) -> np.ndarray:
    job = client.submit(handle_file(str(image)), method, ratio, api_name="/enhance")
    return np.asarray(Image.open(job.result(timeout=REQUEST_TIMEOUT)))


def max_level_difference(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.fixture(scope="module")
def sample_expected(pipelines, tmp_path_factory) -> np.ndarray:
    """enhance.py's output for the bundled sample with its defaults (KinD, the weights' recipe: auto ratio)."""
    return enhance_py_output(pipelines("kind"), SAMPLE_IMAGE, tmp_path_factory.mktemp("expected"))


@pytest.mark.slow   # the module's server: TensorFlow, Gradio, the shipped weights (~1 min on 2 cores)
def test_api_endpoint_equals_enhance_py(server, sample_expected, client, pipelines, tmp_path):
    # (server before sample_expected: the server starts while this process computes the expected output)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/enhance"]   # the page's own event is undocumented
    assert [p["parameter_name"] for p in endpoints["/enhance"]["parameters"]] == ["image", "method", "ratio"]

    got = call(client, SAMPLE_IMAGE, "kind", "auto")
    assert got.shape == (400, 600, 3)
    assert max_level_difference(got, sample_expected) <= 1
    assert got.mean() > 2 * np.asarray(Image.open(SAMPLE_IMAGE)).mean()   # it did brighten

    small = crop(tmp_path / "small.png", (200, 100, 392, 260))
    for method, ratio in (("kind", "3"), ("zerodce", "auto")):
        expected = enhance_py_output(pipelines(method), small, tmp_path / method, None if ratio == "auto" else 3.0)
        assert max_level_difference(call(client, small, method, ratio), expected) <= 1, method
    # A fixed ratio is not auto: ratio 3 and ratio 8 give different images.
    assert max_level_difference(call(client, small, "kind", "3"), call(client, small, "kind", "8")) > 10


@pytest.mark.slow
def test_bad_uploads_get_one_line_messages(client, tmp_path):
    (tmp_path / "notes.png").write_text("hello, not pixels")
    (tmp_path / "empty.png").write_bytes(b"")
    data = SAMPLE_IMAGE.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    for name, expected in (("notes.png", "notes.png: not an image"), ("empty.png", "empty.png: empty file"),
                           ("truncated.png", "truncated.png: cannot decode image")):
        with pytest.raises(Exception) as raised:
            client.submit(handle_file(str(tmp_path / name)), "kind", "auto", api_name="/enhance").result(
                timeout=REQUEST_TIMEOUT)
        message = str(raised.value)
        assert message.startswith(expected), message
        assert "\n" not in message and "Traceback" not in message, message
        assert "/tmp/" not in message and "gradio" not in message   # named as the user named it
    with pytest.raises(Exception, match="^ratio must be a positive number or 'auto'"):
        call(client, SAMPLE_IMAGE, "kind", "bright")


@pytest.mark.slow
def test_burst_of_concurrent_requests(server, client, pipelines, tmp_path):
    """8 requests at once all come back right, within bounded time, and the server's memory stays bounded."""
    images = [crop(tmp_path / f"burst{i}.png", (40 * i, 30 * i, 40 * i + 160, 30 * i + 128)) for i in range(BURST)]
    expected = [enhance_py_output(pipelines("kind"), path, tmp_path / f"out{i}") for i, path in enumerate(images)]
    before = server.rss_mb()
    peak = [before]
    done = threading.Event()

    def sample_rss() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        jobs = [client.submit(handle_file(str(path)), "kind", "auto", api_name="/enhance") for path in images]
        results = [np.asarray(Image.open(job.result(timeout=REQUEST_TIMEOUT))) for job in jobs]
    finally:
        done.set()
        sampler.join(timeout=5)
    seconds = time.monotonic() - start
    for i, (got, want) in enumerate(zip(results, expected)):
        assert max_level_difference(got, want) <= 1, i
    print(f"\n{BURST} concurrent requests: {seconds:.1f} s; server RSS {before:.0f} MB before, peak {peak[0]:.0f} MB")
    assert peak[0] - before <= BURST_RSS_GROWTH_MB, (before, peak[0])
    assert peak[0] <= SERVER_RSS_LIMIT_MB, peak[0]
    assert server.process.poll() is None
    # The queue ran them one at a time (the documented limit, --concurrency 1): no two enhancements overlap.
    spans = server.enhancements({path.name for path in images})
    assert len(spans) == BURST, server.log_text()[-2000:]
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.005, spans


def _chromium_driver():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"no {CHROMIUM} / {CHROMEDRIVER} (Debian: apt-get install chromium chromium-driver; .ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1500", "--hide-scrollbars"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.mark.slow
def test_browser_upload_enhance_and_screenshot(server, sample_expected, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _chromium_driver()
    server.wait_ready()
    try:
        driver.set_page_load_timeout(60)
        wait = WebDriverWait(driver, REQUEST_TIMEOUT)
        driver.get(server.url)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]")))
        upload.send_keys(str(SAMPLE_IMAGE))
        uploaded = "#upload a[download='{}']"
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, uploaded.format(SAMPLE_IMAGE.name))))
        driver.find_element(By.CSS_SELECTOR, "#enhance").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#comparison img")) >= 2)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#intermediates img")) >= 4)
        wait.until(ec.text_to_be_present_in_element((By.ID, "metrics"), "NIQE"))
        download = "#download a[download='sample_dark_enhanced.png']"
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, download)))
        time.sleep(1)   # let the images finish painting before the screenshot
        screenshot = tmp_path / "demo.png"
        assert driver.save_screenshot(str(screenshot))
        # The "after" image the page shows is enhance.py's output (the page's call, not the API's).
        after = driver.find_elements(By.CSS_SELECTOR, "#comparison img")[-1].get_attribute("src")
        with urllib.request.urlopen(after, timeout=30) as response:
            shown = np.asarray(Image.open(response).convert("RGB"))
        assert max_level_difference(shown, sample_expected) <= 1
        assert "ratio used" in driver.find_element(By.ID, "metrics").text

        # A bad upload: one line in the page, no traceback.
        (tmp_path / "notes.png").write_text("hello, not pixels")
        driver.find_element(By.CSS_SELECTOR, "#upload button[aria-label='Clear']").click()
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]")))
        upload.send_keys(str(tmp_path / "notes.png"))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, uploaded.format("notes.png"))))
        driver.find_element(By.CSS_SELECTOR, "#enhance").click()
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "notes.png: not an image"))
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.quit()
    with Image.open(screenshot) as image:
        assert image.size[0] >= 1000
    target = os.environ.get("KIND_TF_DEMO_SCREENSHOT")
    if target:
        shutil.copyfile(screenshot, target)
