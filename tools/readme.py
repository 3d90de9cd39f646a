"""Write README.md from nbs/index.ipynb (the README's only source), or check that it is up to date.

nbdev_readme needs Quarto, which is not available everywhere; this does the same job for our index notebook:
markdown cells as they are, code cells as ```python blocks with their text output (markdown output as markdown; a
`#| echo: false` cell shows its output only), `#| hide` cells dropped.

    python tools/readme.py            # write README.md
    python tools/readme.py --check    # exit 1 if README.md differs from what index.ipynb gives
    python tools/readme.py --test-command   # print the README's test command (used by .ci/run)
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def render(nb_path=ROOT / "nbs" / "index.ipynb") -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(src.strip())
            continue
        if cell["cell_type"] != "code" or re.search(r"^#\|\s*hide\b", src, re.M): continue
        code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
        if code and not re.search(r"^#\|\s*echo:\s*false\b", src, re.M): parts.append(f"```python\n{code}\n```")
        out = []
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream" and o.get("name") == "stdout": out.append("".join(o["text"]))   # not progress bars
            elif "data" in o and "text/markdown" in o["data"]: parts.append("".join(o["data"]["text/markdown"]).strip())
            elif "data" in o and "text/plain" in o["data"] and "image/png" not in o["data"]: out.append("".join(o["data"]["text/plain"]) + "\n")
        if out: parts.append("```\n" + "".join(out).rstrip("\n") + "\n```")
    text = "\n\n".join(parts) + "\n"
    # links to chapters point at the notebooks in the repository
    return re.sub(r"\]\(((?:exercises/)?(?:\d\d[a-z]?_[a-z0-9_]+|index|cli|folders|checks))\.ipynb(#[^)\s]*)?\)", r"](nbs/\1.ipynb\2)", text)

def test_command(readme: str) -> str:
    "The single line of the ```sh block that follows the sentence introducing the tests."
    m = re.search(r"Run the tests[^\n]*\n(?:[^\n]*\n)*?```sh\n([^\n]+)\n```", readme)
    if not m: raise SystemExit("README.md: no ```sh block after 'Run the tests'")
    return m.group(1)

if __name__ == "__main__":
    readme = ROOT / "README.md"
    if "--test-command" in sys.argv: print(test_command(readme.read_text(encoding="utf-8")))
    elif "--check" in sys.argv:
        if readme.read_text(encoding="utf-8") != render():
            raise SystemExit("README.md is out of date with nbs/index.ipynb: run `python tools/readme.py`")
    else: readme.write_text(render(), encoding="utf-8")
