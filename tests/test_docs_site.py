"""The docs site: `_quarto.yml` stays valid for `nbdev_docs`, and every page of the offline preview
(tools/preview: nbdev's processing + nbconvert, no Quarto, no CDN) opened in headless Chromium shows no error
output, loads all its images, typesets its math, makes no network request and raises no JS error.

The browser tests skip only when Chromium (apt-get install chromium) or the playwright package is missing.
(The symlink nbs/_quarto.yml -> ../_quarto.yml and the top-level notebooks' presence in the sidebar are
checked in test_packaging.py.)"""
import importlib.machinery, importlib.util, json, os, re, shutil, subprocess, sys, time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import pytest, yaml

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _load_preview():
    loader = importlib.machinery.SourceFileLoader("tools_preview", str(ROOT / "tools" / "preview"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


preview = _load_preview()


def _quarto():
    return yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))


try: PAGES = [p["href"] for p in preview.sidebar_pages(_quarto())]
except Exception: PAGES = []        # test_quarto_yml_* below say why


# ---------------------------------------------------------------- _quarto.yml, as nbdev_docs needs it
def test_quarto_yml_is_valid_for_nbdev_docs():
    cfg = _quarto()
    assert isinstance(cfg, dict)
    assert cfg["project"]["type"] == "website"
    meta = cfg.get("metadata-files")
    assert "nbdev.yml" in (meta if isinstance(meta, list) else [meta]), "metadata-files must list nbdev.yml"
    assert preview.sidebar_pages(cfg), "the sidebar lists no pages"


def test_sidebar_hrefs_exist_under_nbs():
    hrefs = [p["href"] for p in preview.sidebar_pages(_quarto())]
    assert len(hrefs) == len(set(hrefs)), f"listed twice: {sorted({h for h in hrefs if hrefs.count(h) > 1})}"
    missing = [h for h in hrefs if not (NBS / h).is_file()]
    assert not missing, f"sidebar pages missing under nbs/: {missing}"


def _all_notebooks():
    "Every notebook under nbs/, recursively, skipping folders nbdev skips (`_proc`, `.ipynb_checkpoints`, ...)."
    out = []
    for dirpath, dirnames, filenames in os.walk(NBS):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        out += [Path(dirpath, f).relative_to(NBS).as_posix() for f in filenames if f.endswith(".ipynb")]
    return sorted(out)


def test_every_notebook_is_in_the_sidebar():
    listed = {p["href"] for p in preview.sidebar_pages(_quarto())}
    unlisted = [nb for nb in _all_notebooks() if nb not in listed]
    assert not unlisted, f"notebooks under nbs/ missing from the sidebar of _quarto.yml: {unlisted}"


def test_sidebar_parser_handles_sections():
    cfg = {"website": {"sidebar": {"contents": [
        "index.ipynb", {"text": "A", "href": "a.ipynb"},
        {"section": "Exercises", "contents": [{"href": "exercises/e1.ipynb"}, "exercises/e2.ipynb",
                                              {"section": "More", "contents": ["exercises/more/e3.ipynb"]}]},
        {"href": "z.ipynb"}]}}}
    pages = preview.sidebar_pages(cfg)
    assert [p["href"] for p in pages] == ["index.ipynb", "a.ipynb", "exercises/e1.ipynb", "exercises/e2.ipynb",
                                          "exercises/more/e3.ipynb", "z.ipynb"]
    assert [p["section"] for p in pages] == [None, None, "Exercises", "Exercises", "More", None]
    assert preview.rel_url("index.html", "exercises/e1.html") == "../index.html"
    assert preview.rel_url("mathjax/MathJax.js", "a.html") == "mathjax/MathJax.js"


# ---------------------------------------------------------------- the preview, built once
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("docs_preview")
    out, proc = base / "site", base / "_proc"
    t = time.time()
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "preview"), "--out", str(out), "--proc-dir", str(proc), "-j", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    log = r.stdout + r.stderr
    manifest = json.loads((out / "pages.json").read_text()) if (out / "pages.json").exists() else {"pages": []}
    return SimpleNamespace(out=out, rc=r.returncode, log=log, seconds=time.time() - t,
                           pages={p["href"]: p for p in manifest["pages"]})


@pytest.mark.slow
def test_preview_builds_every_page(site):
    assert site.rc == 0, f"tools/preview exited {site.rc}:\n{site.log[-6000:]}"
    assert set(site.pages) == set(PAGES)
    for h, p in site.pages.items():
        assert p["status"] == "ok" and (site.out / p["html"]).is_file(), (h, p["status"], p["error"])
    assert (site.out / "index.html").is_file() and (site.out / "mathjax" / "MathJax.js").is_file()


@pytest.mark.slow
def test_preview_html_has_no_remote_resources(site):
    "No script, stylesheet, image or frame on any page comes from the network (links <a href> are fine)."
    remote = re.compile(r"<(script|link|img|iframe|video|audio|source|embed)\b[^>]*\b(src|href|srcset)\s*=\s*[\"']\s*(https?:)?//", re.I)
    for p in site.pages.values():
        if p["status"] != "ok": continue
        text = (site.out / p["html"]).read_text(encoding="utf-8")
        bad = [m.group(0)[:200] for m in remote.finditer(text)
               if not (m.group(1).lower() == "link" and "stylesheet" not in m.group(0).lower())]
        assert not bad, f"{p['html']}: {bad}"
        assert not re.search(r"@import\s+(url\()?[\"']?(https?:)?//", text), p["html"]


# ---------------------------------------------------------------- the browser
def _chromium():
    if os.path.exists("/usr/bin/chromium"): return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if not exe: pytest.skip("Chromium not found (/usr/bin/chromium or `chromium` on PATH): apt-get install -y chromium")
    try: from playwright.sync_api import sync_playwright
    except ImportError: pytest.skip("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)   # never a downloaded browser
        yield b
        b.close()


@pytest.fixture
def tab(browser):
    "A fresh page that blocks and records every request that is not local, and records JS errors."
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    page = ctx.new_page()
    rec = SimpleNamespace(remote=[], errors=[])
    page.route(re.compile(r"^(?!(file|data|blob|about):)", re.I), lambda route: route.abort())
    page.on("request", lambda r: rec.remote.append(r.url) if not r.url.startswith(("file:", "data:", "blob:", "about:")) else None)
    page.on("pageerror", lambda e: rec.errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: rec.errors.append(f"console.error: {m.text} {m.location}") if m.type == "error" else None)
    yield page, rec
    ctx.close()


INSPECT = r"""() => {
  const outputs = [...document.querySelectorAll('.jp-OutputArea-output')].map(e => ({
      stderr: e.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr',
      error: !!e.closest('.preview-error-output'), text: (e.innerText || '').slice(0, 3000)}));
  const images = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, src: (i.getAttribute('src') || '').slice(0, 120)}));
  const math = document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_SVG, .MathJax_CHTML, mjx-container').length;
  const mathErrors = [...document.querySelectorAll('.MathJax_Error, .merror, mjx-merror, .noError')].map(e => e.textContent.slice(0, 200));
  // the text a reader sees, outside code and MathJax's own elements
  const skip = n => { for (let e = n.parentElement; e; e = e.parentElement) {
      if (['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'NAV'].includes(e.tagName)) return true;
      if ([...e.classList].some(c => c.startsWith('MathJax'))) return true; } return false; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = []; let n;
  while ((n = walker.nextNode())) if (!skip(n)) texts.push(n.nodeValue);
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith('file:'));
  return {outputs, images, math, mathErrors, text: texts.join(''), links};
}"""
EXC_AT_START = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception)(?::|\s*$)")
RAW_TEX = re.compile(r"\$\$|\\begin\{|\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$")


@pytest.mark.slow
@pytest.mark.parametrize("href", PAGES)
def test_page_in_browser(site, tab, href):
    p = site.pages.get(href)
    assert p is not None, f"{href} is not in the preview's pages.json:\n{site.log[-3000:]}"
    assert p["status"] == "ok", f"{href} was not built ({p['status']}):\n{p['error']}"
    assert p["error_outputs"] == 0, f"{href}: {p['error_outputs']} error output(s) committed in the notebook"
    page, rec = tab
    page.goto((site.out / p["html"]).as_uri(), wait_until="load")
    page.wait_for_function("document.documentElement.getAttribute('data-mathjax') === 'done'", timeout=60_000)
    r = page.evaluate(INSPECT)
    where = f"{href} ({p['html']})"

    errs = [o["text"][:800] for o in r["outputs"] if o["error"] or "Traceback (most recent call last)" in o["text"]
            or EXC_AT_START.match(o["text"]) or (o["stderr"] and re.search(r"^\s*\w*(Error|Exception)\b.*:", o["text"], re.M))]
    assert not errs, f"{where}: error output(s):\n" + "\n---\n".join(errs)
    broken = [i["src"] for i in r["images"] if not i["ok"]]
    assert not broken, f"{where}: images that did not load: {broken}"
    if p["has_tex"]: assert r["math"] > 0, f"{where}: the markdown holds TeX but MathJax typeset nothing"
    assert not r["mathErrors"], f"{where}: MathJax errors: {r['mathErrors'][:5]}"
    raw = [r["text"][max(0, m.start() - 60): m.end() + 60] for m in RAW_TEX.finditer(r["text"])]
    assert not raw, f"{where}: TeX left untypeset: {raw[:5]}"
    assert not rec.remote, f"{where}: requests to the network: {rec.remote[:10]}"
    assert not rec.errors, f"{where}: JS errors: {rec.errors[:10]}"
    # every link to a local file points at a file that exists, and its #anchor at an id in it
    dead = []
    for url in sorted(set(r["links"])):
        u = urlparse(url)
        target = Path(unquote(u.path))
        if not target.is_file(): dead.append(url); continue
        if u.fragment and target.suffix == ".html":
            text = target.read_text(encoding="utf-8")
            if f'id="{u.fragment}"' not in text and f"id='{u.fragment}'" not in text and f'name="{u.fragment}"' not in text:
                dead.append(url)
    status = {q["html"]: q["status"] for q in site.pages.values()}
    def why(url):
        u = urlparse(url)
        rel = unquote(u.path).removeprefix(str(site.out) + "/")
        return rel + (f"#{u.fragment}" if u.fragment else "") + (f" (that page was not built: {status[rel]})" if status.get(rel, "ok") != "ok" else
                      " (no such anchor in it)" if urlparse(url).fragment and Path(unquote(urlparse(url).path)).is_file() else "")
    assert not dead, f"{where}: dead local links: {[why(d) for d in dead]}"


@pytest.mark.slow
def test_sidebar_links_from_index(site, tab):
    "index.html's sidebar lists the pages in sidebar order, and clicking each one opens it (no 404)."
    page, rec = tab
    index = (site.out / "index.html").as_uri()
    page.goto(index, wait_until="domcontentloaded")
    sel = "nav.preview-sidebar li a" if page.query_selector("nav.preview-sidebar") else "ul a"
    hrefs = page.eval_on_selector_all(sel, "els => els.map(e => e.getAttribute('href'))")
    built = [p["html"] for p in sorted(site.pages.values(), key=lambda p: PAGES.index(p["href"])) if p["status"] == "ok"]
    assert hrefs == built, "the sidebar of index.html does not list the built pages in sidebar order"
    for h in hrefs:
        if page.url != index: page.goto(index, wait_until="domcontentloaded")
        page.click(f'{sel}[href="{h}"]')
        page.wait_for_load_state("domcontentloaded")
        expected = (site.out / h).as_uri()
        assert page.url == expected, f"clicking {h} on index.html opened {page.url}"
        assert page.query_selector("nav.preview-sidebar") or h == "index.html", f"{h}: not a preview page"
    assert not rec.remote, rec.remote[:10]
