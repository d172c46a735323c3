"""The web page (service/web_page.py, service/web/): served by the service itself, nothing from any other
host, and working end to end in a real browser.

The fast tests ask the app in-process. The slow ones (`make test-browser`) drive Debian's headless Chromium
through Selenium against real `wavenet serve` processes: one on the shipped model (the screenshots in
docs/screenshots/ come from it; a random-weight model of the same size would generate no faster) and a
small random-weight one with API keys. After every browser test the console must hold no error the test did
not expect, and every request the browser made must have gone to the page's own server.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from model_core import save_checkpoint
from service.app import create_app
from service.metrics import Metrics
from service.process import ServiceProcess
from service.request_middleware import RequestMiddleware
from service.settings import Settings
from service.web_page import ASSET_PREFIX, WEB_ROOT

from .conftest import make_model

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "weights" / "wavenet-default.safetensors"
SEED = REPO / "tests" / "data" / "heldout_seed.wav"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
KEY = "page-test-key"
RATE = 8000
# Colours the page draws with (service/web/plots.js): the likelihood curve and the seed/continuation boundary.
CURVE_RGB = (0xC2, 0x41, 0x0C)
BOUNDARY_RGB = (0xB3, 0x26, 0x1E)


# ---------------------------------------------------------------------------------------------------------
# Fast: the app in-process (no model is loaded: the lifespan does not run without `with TestClient(...)`).

@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(checkpoint=SHIPPED, api_keys=[KEY])))


def referenced_assets() -> set[str]:
    """Every file the page loads: what index.html links, and what each module imports, transitively."""
    html = (WEB_ROOT / "index.html").read_text()
    names = set(re.findall(r'(?:src|href)="' + re.escape(ASSET_PREFIX) + r'([\w.-]+)"', html))
    pending = [name for name in names if name.endswith(".js")]
    while pending:
        for imported in re.findall(r'from "\./([\w.-]+)"', (WEB_ROOT / pending.pop()).read_text()):
            if imported not in names:
                names.add(imported)
                pending.append(imported)
    return names


def test_the_page_is_served_at_the_root_as_html(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert f'<script type="module" src="{ASSET_PREFIX}main.js">' in response.text


@pytest.mark.parametrize("suffix,content_type", [(".js", "text/javascript"), (".css", "text/css"),
                                                 (".svg", "image/svg+xml")])
def test_every_asset_the_page_loads_is_served_with_its_content_type(client, suffix, content_type):
    names = [name for name in referenced_assets() if name.endswith(suffix)]
    assert names
    for name in names:
        response = client.get(ASSET_PREFIX + name)
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(content_type), name
        assert response.content == (WEB_ROOT / name).read_bytes()


def test_every_file_in_the_web_folder_is_used_by_the_page():
    assert referenced_assets() | {"index.html"} == {path.name for path in WEB_ROOT.iterdir()}


def test_no_file_of_the_page_names_another_host():
    for path in WEB_ROOT.iterdir():
        # An SVG's namespace name is an identifier, never fetched.
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?:|(?:src|href)=\"//|\burl\(|@import", text), path.name


def test_the_page_and_its_assets_need_no_key_but_the_api_still_does(client):
    assert client.get("/").status_code == 200
    assert client.get(ASSET_PREFIX + "main.js").status_code == 200
    assert client.get("/info").status_code == 401
    assert client.get("/info", headers={"Authorization": f"Bearer {KEY}"}).status_code != 401


@pytest.mark.parametrize("path,status", [("/", 200), ("/ui/main.js", 200), ("/ui/anything", 200), ("/info", 401),
                                         ("/uix", 401), ("/generate", 401), ("/docs", 401)])
def test_the_key_check_lets_only_the_page_through(path, status):
    async def answer(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    assert TestClient(RequestMiddleware(answer, Metrics(), api_keys=[KEY])).get(path).status_code == status


@pytest.mark.parametrize("path", ["/ui/../app.py", "/ui/..%2Fapp.py", "/ui/%2e%2e%2fweb_page.py", "/ui/web_page.py",
                                  "/ui/", "/ui/.%2E/settings.py", "/ui//etc/passwd"])
def test_no_path_reaches_outside_the_web_folder(client, path):
    response = client.get(path, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code in (401, 404)
    assert b"import" not in response.content


def test_an_unchanged_file_is_not_sent_again(client):
    first = client.get(ASSET_PREFIX + "main.js")
    again = client.get(ASSET_PREFIX + "main.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_page_is_not_part_of_the_api_document(client):
    paths = client.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()["paths"]
    assert "/" not in paths and not any(path.startswith(ASSET_PREFIX) for path in paths)


def test_an_installed_package_includes_the_page():
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "web/*" in package_data["service"]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("foreground,background", [("text", "background"), ("text", "panel"), ("muted", "panel"),
                                                   ("muted", "background"), ("accent", "panel"),
                                                   ("accent-text", "accent"), ("error", "panel"),
                                                   ("error", "error-background"), ("accent-text", "error")])
def test_text_colours_meet_wcag_aa_contrast(foreground, background):
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6});", (WEB_ROOT / "style.css").read_text()))
    assert contrast(colours[foreground], colours[background]) >= 4.5


# ---------------------------------------------------------------------------------------------------------
# Slow: headless Chromium against real servers.

@pytest.fixture(scope="module")
def chromium():
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with both paths given, Selenium downloads nothing
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     "--autoplay-policy=no-user-gesture-required", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    service = ServiceProcess(SHIPPED, tmp_path_factory.mktemp("log") / "server.log")
    service.wait_ready()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    checkpoint = save_checkpoint(make_model(), tmp_path_factory.mktemp("ckpt") / "small.safetensors",
                                 {"training_data": "none (random weights)"})
    service = ServiceProcess(checkpoint, tmp_path_factory.mktemp("log") / "keyed.log", api_keys=KEY)
    service.wait_ready()
    yield service
    service.stop()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Browser:
    """The module's Chromium, with what it logged since the test began: console errors and requests, each
    with the page that made it.

    A request is judged by the page that made it (CDP's documentURL), not by the page open when the log is
    read: Chromium fetches a page's favicon after it has loaded, so the previous test's page can log a
    request to its own server after the next test has opened another (seen: the keyed server's favicon in
    the screenshot test)."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.requests: list[tuple[str, str]] = []  # (url, the page's URL)
        self.console: list[str] = []
        self.expected_errors: list[str] = []

    def drain(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                params = message["params"]
                self.requests.append((params["request"]["url"], params.get("documentURL", "")))
        self.console += [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def requests_to(self, url: str) -> int:
        self.drain()
        return sum(made == url for made, _ in self.requests)

    def foreign(self) -> list[str]:
        """Requests to another origin than their page's."""
        return [f"{url} (from {page})" for url, page in self.requests
                if not url.startswith(("data:", "blob:")) and origin(url) != origin(page)]

    def open(self, url: str) -> None:
        self.driver.get(url + "/")
        self.wait("return document.getElementById('model-summary').textContent.startsWith('Model:')")

    def wait(self, script: str, *args, timeout: float = 30):
        """Polls a JS expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.driver.execute_script(script, *args)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"still false after {timeout} s: {script}")

    def text(self, element_id: str) -> str:
        return self.driver.execute_script(f"return document.getElementById('{element_id}').textContent")

    def set_file(self, element_id: str, path: Path) -> None:
        self.driver.find_element("id", element_id).send_keys(str(path))

    def fill(self, element_id: str, value: str) -> None:
        field = self.driver.find_element("id", element_id)
        field.clear()
        field.send_keys(value)

    def click(self, element_id: str) -> None:
        self.driver.find_element("id", element_id).click()

    def download(self, link_id: str, folder: Path) -> bytes:
        """Clicks a download link; the file the browser saved."""
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
        saved = folder / self.driver.execute_script(f"return document.getElementById('{link_id}').download")
        self.click(link_id)
        deadline = time.monotonic() + 10
        while not saved.exists() or list(folder.glob("*.crdownload")):
            assert time.monotonic() < deadline, f"{saved.name} was not downloaded"
            time.sleep(0.05)
        return saved.read_bytes()

    def pixels_of(self, canvas_id: str, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
        """How many pixels of a canvas are within `tolerance` of a colour in every channel."""
        return self.driver.execute_script("""
            const canvas = document.getElementById(arguments[0]);
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
              if ([0, 1, 2].every((k) => Math.abs(data[i + k] - arguments[1][k]) <= arguments[2])) n++;
            }
            return n;""", canvas_id, list(rgb), tolerance)

    def generate_until_done(self, timeout: float = 60) -> str:
        self.click("generate")
        return self.wait("const s = document.getElementById('generate-status').textContent;"
                         "return s.startsWith('Done') || s.startsWith('Not') ? s : null", timeout=timeout)


@pytest.fixture
def browser(chromium):
    page = Browser(chromium)
    page.drain()
    page.requests.clear()
    page.console.clear()
    yield page
    page.drain()
    foreign = page.foreign()
    assert not foreign, f"requests to another origin than their page's: {foreign}"
    unexpected = [line for line in page.console if not any(part in line for part in page.expected_errors)]
    assert not unexpected, f"console errors: {unexpected}"


class ReplayedLog:
    """Stands in for the driver: hands out Network.requestWillBeSent entries once, as Chromium's log does."""

    def __init__(self, requests: list[tuple[str, str]]) -> None:
        self.requests = requests

    def get_log(self, kind: str) -> list[dict]:
        if kind == "browser":
            return []
        entries = [{"message": json.dumps({"message": {"method": "Network.requestWillBeSent", "params": {
            "request": {"url": url}, "documentURL": page}}})} for url, page in self.requests]
        self.requests = []
        return entries


def test_a_request_is_judged_by_the_page_that_made_it():
    browser = Browser(ReplayedLog([("http://127.0.0.1:1/ui/app.js", "http://127.0.0.1:1/"),
                                   ("http://127.0.0.1:2/ui/favicon.svg", "http://127.0.0.1:2/"),  # a late favicon
                                   ("data:image/png;base64,AA", "http://127.0.0.1:1/"),
                                   ("https://cdn.example.com/lib.js", "http://127.0.0.1:1/")]))
    browser.drain()
    assert browser.foreign() == ["https://cdn.example.com/lib.js (from http://127.0.0.1:1/)"]
    assert browser.requests_to("http://127.0.0.1:2/ui/favicon.svg") == 1


def metric(server: ServiceProcess, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    return float(re.search(rf"^{name} (\S+)$", text, re.MULTILINE).group(1))


@pytest.mark.slow
def test_the_page_loads_and_shows_the_models_limits(browser, server):
    browser.open(server.url)
    info = httpx.get(server.url + "/info").json()
    assert info["checkpoint"]["sha256"][:12] in browser.text("model-summary")
    assert browser.driver.execute_script("return document.getElementById('duration').max") == \
        f"{info['limits']['max_duration_seconds']:g}"


@pytest.mark.slow
def test_every_control_has_a_label_and_the_tab_order_follows_the_page(browser, server):
    browser.open(server.url)
    unlabelled = browser.driver.execute_script("""
        return [...document.querySelectorAll("input, select, button, textarea")]
          .filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || e.textContent.trim()))
          .map((e) => e.id);""")
    assert unlabelled == []
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    order = []
    for _ in range(10):
        ActionChains(browser.driver).send_keys(Keys.TAB).perform()
        order.append(browser.driver.execute_script("const e = document.activeElement; return e.id || e.textContent"))
    assert order == ["API documentation", "seed-file", "record", "use-silence", "duration", "temperature",
                     "random-seed", "format", "generate", "score-file"]


@pytest.mark.slow
def test_enter_in_a_field_generates(browser, server):
    browser.open(server.url)
    browser.fill("duration", "0.25\n")
    browser.wait("return document.getElementById('generate-status').textContent.startsWith('Done')")


@pytest.mark.slow
def test_a_seed_file_streams_into_a_wav_of_the_requested_duration_that_curl_reproduces(browser, server, tmp_path):
    browser.open(server.url)
    browser.set_file("seed-file", SEED)
    browser.wait("return document.getElementById('seed-status').textContent.includes('1.50 s')")
    assert browser.pixels_of("seed-waveform", (0x3C, 0x40, 0x43), tolerance=8) > 100
    browser.fill("duration", "8")
    browser.fill("random-seed", "11")
    browser.driver.execute_script("document.getElementById('format').value = 'mulaw'")
    browser.click("generate")
    # While the response streams in: part of it received, and some of it already heard.
    heard_while_streaming = False
    while not browser.text("generate-status").startswith(("Done", "Not")):
        received, total, progress = browser.driver.execute_script(
            "const p = document.getElementById('progress');"
            "return [p.value, p.max, document.getElementById('progress-text').textContent]")
        played = re.search(r"played ([\d.]+) s", progress)
        heard_while_streaming |= 0 < received < total and played is not None and float(played.group(1)) > 0
        time.sleep(0.05)
    assert browser.text("generate-status").startswith("Done")
    assert heard_while_streaming

    href = browser.driver.execute_script("return document.getElementById('download').href")
    assert browser.driver.execute_script("return document.getElementById('result-audio').src") == href
    (tmp_path / "browser").mkdir()
    received = browser.download("download", tmp_path / "browser")
    audio, rate = soundfile.read(io.BytesIO(received), dtype="float32")
    assert rate == RATE and len(audio) == 8 * RATE
    assert soundfile.info(io.BytesIO(received)).subtype == "ULAW"
    assert browser.pixels_of("result-waveform", BOUNDARY_RGB) > 20

    command = browser.text("curl")
    assert "random_seed=11" in command and "format=mulaw" in command
    shutil.copy(SEED, tmp_path / SEED.name)
    subprocess.run(command, shell=True, cwd=tmp_path, check=True, timeout=60)
    assert (tmp_path / "wavenet-11.wav").read_bytes() == received


@pytest.mark.slow
def test_the_stream_decoder_reads_every_format_however_it_is_chunked(browser, server):
    browser.open(server.url)
    for fmt in ("pcm16", "mulaw", "float32"):
        # 801 samples: an odd-sized mu-law data chunk, followed by a pad byte.
        wav = httpx.post(server.url + "/generate", data={"duration": "0.100125", "random_seed": "3", "format": fmt},
                         timeout=60).content
        cuts = [1, 7, 40, 45, 46, 47, 101, 333, 1001, len(wav)]
        decoded = browser.driver.execute_async_script("""
            const [encoded, cuts, done] = arguments;
            import("/ui/wav.js").then(({ WavStreamDecoder }) => {
              const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
              const decoder = new WavStreamDecoder();
              const out = [];
              let from = 0;
              for (const to of cuts) { out.push(...decoder.push(bytes.slice(from, to))); from = to; }
              done([decoder.sampleRate, decoder.totalSamples, out]);
            });""", base64.b64encode(wav).decode(), cuts)
        expected, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
        assert decoded[:2] == [rate, 801]
        assert np.array_equal(np.array(decoded[2], dtype=np.float32), expected), fmt


@pytest.mark.slow
def test_stop_cancels_the_request_and_the_server_frees_the_stream(browser, server):
    browser.open(server.url)
    browser.fill("duration", "30")
    browser.click("generate")
    browser.wait("return document.getElementById('progress').value > 0")
    assert metric(server, "wavenet_active_streams") == 1
    browser.click("stop")
    stopped = time.monotonic()
    while metric(server, "wavenet_active_streams") != 0:
        assert time.monotonic() - stopped < 2, "the server still generates for a stopped page"
        time.sleep(0.05)
    generated = metric(server, "wavenet_generated_samples_total")
    time.sleep(0.5)
    assert metric(server, "wavenet_generated_samples_total") == generated
    assert browser.text("generate-status").startswith("Stopped after")
    assert browser.driver.execute_script("return document.getElementById('generate').disabled") is False


@pytest.mark.slow
def test_an_out_of_range_value_is_explained_before_anything_is_sent(browser, server):
    browser.open(server.url)
    browser.fill("duration", "1000")
    browser.click("generate")
    assert browser.text("duration-error") == "At most 30: the server's limit."
    assert browser.driver.execute_script("return document.activeElement.id") == "duration"
    browser.fill("random-seed", "9223372036854775808")
    browser.click("generate")
    assert browser.text("random-seed-error") == "At most 9223372036854775807."
    assert browser.requests_to(server.url + "/generate") == 0


@pytest.mark.slow
def test_the_servers_refusal_is_shown_in_words(browser, server):
    """The page's limit removed, as on a page loaded before the server was restarted with a lower limit."""
    browser.expected_errors.append("/generate - Failed to load resource: the server responded with a status of 422")
    browser.open(server.url)
    browser.driver.execute_script("document.getElementById('duration').removeAttribute('max')")
    browser.fill("duration", "1000")
    browser.click("generate")
    shown = browser.wait("const e = document.getElementById('generate-error'); return !e.hidden && e.textContent")
    detail = httpx.post(server.url + "/generate", data={"duration": "1000"}).json()["detail"]
    assert shown == f"The server refused a value. {detail}"
    assert browser.text("generate-status") == "Not generated."


@pytest.mark.slow
def test_a_scored_recording_is_plotted_beside_the_models_held_out_figure(browser, server):
    browser.open(server.url)
    browser.set_file("score-file", SEED)
    browser.wait("return !document.getElementById('score-output').hidden")
    scored = httpx.post(server.url + "/likelihood", files={"audio": SEED.read_bytes()}, timeout=60).json()
    heldout = httpx.get(server.url + "/info").json()["checkpoint"]["metadata"]["heldout_nll_bits"]
    assert browser.text("score-bits") == f"{scored['bits_per_sample']:.3f} bits per sample"
    assert browser.text("heldout-bits") == f"{heldout:.3f} bits per sample"
    assert browser.pixels_of("score-plot", CURVE_RGB) > 300


@pytest.mark.slow
def test_a_microphone_recording_becomes_the_seed(browser, server):
    browser.open(server.url)
    browser.click("record")
    browser.wait("return document.getElementById('seed-status').textContent.startsWith('Recording')")
    time.sleep(1)
    browser.click("record")
    status = browser.wait("const s = document.getElementById('seed-status').textContent;"
                          "return s.includes('your recording') && s")
    assert float(re.search(r"([\d.]+) s", status).group(1)) >= 0.9
    assert browser.driver.execute_script("return document.getElementById('seed-download').download") == \
        "recording.wav"
    assert browser.pixels_of("seed-waveform", (0x3C, 0x40, 0x43), tolerance=8) > 100


@pytest.mark.slow
def test_a_server_with_keys_asks_for_one_and_the_page_keeps_it_in_memory_only(browser, keyed_server):
    browser.expected_errors.append("/info - Failed to load resource: the server responded with a status of 401")
    browser.driver.get(keyed_server.url + "/")
    browser.wait("return document.activeElement.id === 'api-key'")
    browser.fill("api-key", "wrong\n")
    browser.wait("return document.getElementById('api-key-hint').textContent.startsWith('The server refused')")
    browser.fill("api-key", KEY + "\n")
    browser.wait("return document.getElementById('model-summary').textContent.startsWith('Model:')")
    browser.fill("duration", "0.25")
    assert browser.generate_until_done().startswith("Done")
    assert "$WAVENET_API_KEY" in browser.text("curl") and KEY not in browser.text("curl")
    kept = browser.driver.execute_script(
        "return [localStorage.length, sessionStorage.length, document.cookie, location.href,"
        " document.documentElement.outerHTML]")
    assert kept[:3] == [0, 0, ""] and KEY not in kept[3] and KEY not in kept[4]


@pytest.mark.slow
def test_screenshots_at_desktop_and_phone_widths(browser, server):
    browser.open(server.url)
    browser.set_file("seed-file", SEED)
    browser.wait("return document.getElementById('seed-status').textContent.includes('1.50 s')")
    browser.fill("duration", "3")
    browser.fill("random-seed", "7")
    assert browser.generate_until_done().startswith("Done")
    browser.click("stop")
    browser.click("score-seed")
    browser.wait("return !document.getElementById('score-output').hidden")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for name, width, height, mobile in (("desktop", 1280, 900, False), ("phone", 390, 844, True)):
            browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
            browser.driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
            assert browser.driver.execute_script("return document.documentElement.scrollWidth") <= width
            time.sleep(0.3)  # the plots redraw at the new width
            shot = {"format": "png"}
            if mobile:  # the whole page: at phone width it is one long column
                full = browser.driver.execute_script("return document.documentElement.scrollHeight")
                shot.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width, "height": full,
                                                              "scale": 1})
            png = base64.b64decode(browser.driver.execute_cdp_cmd("Page.captureScreenshot", shot)["data"])
            (SCREENSHOTS / f"{name}.png").write_bytes(png)
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
