"""A live explorer in a real browser: Voila serves tests/widgets_voila.ipynb on localhost, Playwright drives Debian's
Chromium, moves the step slider with the keyboard, and checks that the Python callback redraws the image."""
import os, shutil, signal, socket, subprocess, sys, json, time
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow   # a browser and a Voila server

CHROMIUM = os.environ.get("DDIM_NB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
NOTEBOOK = Path(__file__).parent / "widgets_voila.ipynb"
REPO = Path(__file__).resolve().parents[1]

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set DDIM_NB_CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
pytest.importorskip("voila", reason="voila is not installed")
pytest.importorskip("ipykernel", reason="ipykernel is not installed")


def free_port()->int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port:int, proc, timeout:float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None: raise RuntimeError(f"voila exited with code {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0: return
        time.sleep(0.2)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout} s")


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    "Start Voila on a free port with a private kernelspec for this interpreter (no `ipykernel install` needed); stop it after."
    tmp = tmp_path_factory.mktemp("voila")
    spec = tmp / "jupyter" / "kernels" / "python3"                # JUPYTER_PATH comes first: this python3 wins
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ddim-nb tests)", "language": "python"}))
    env = {**os.environ, "JUPYTER_PATH": str(tmp / "jupyter"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    port = free_port()
    log = open(tmp / "voila.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
                             "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc, timeout=30)
        yield f"http://127.0.0.1:{port}/", tmp / "voila.log"
    finally:
        try: os.killpg(proc.pid, signal.SIGTERM)                 # voila and the kernel it started
        except ProcessLookupError: pass
        try: proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


IMAGE_READY = """old => { const i = document.querySelector('img.widget-image');
                          return i && i.src && i.src !== old && i.complete && i.naturalWidth > 0; }"""


def test_slider_redraws_in_browser(voila_url, tmp_path):
    url, log = voila_url
    try: drive(url, tmp_path)
    except Exception as e: raise AssertionError(f"{e}\n--- voila log (end) ---\n{log.read_text()[-3000:]}") from e


def drive(url, tmp_path):
    "Open the page, wait for the explorer, screenshot, move the step slider with the keyboard, screenshot again."
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.set_default_timeout(30_000)
            page.goto(url, wait_until="domcontentloaded", timeout=30_000)
            page.wait_for_selector(".widget-slider", timeout=60_000)          # kernel started, cell run, widget shown
            page.wait_for_function(IMAGE_READY, arg="", timeout=30_000)
            image = page.locator("img.widget-image").first
            src, shot1 = image.get_attribute("src"), image.screenshot(path=str(tmp_path / "before.png"))
            handle = page.locator(".widget-slider .noUi-handle").first         # the step slider comes first
            handle.focus()
            for _ in range(4): page.keyboard.press("ArrowRight")
            page.wait_for_function(IMAGE_READY, arg=src, timeout=30_000)    # Python redrew, the page updated
            page.wait_for_timeout(300)                                       # later key presses may still arrive
            page.wait_for_function(IMAGE_READY, arg="", timeout=10_000)
            shot2 = image.screenshot(path=str(tmp_path / "after.png"))
            assert shot1 != shot2
            assert page.locator(".widget-readout").first.inner_text().strip() != "0"
        finally:
            browser.close()
