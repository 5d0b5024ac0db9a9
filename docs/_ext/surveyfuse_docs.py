"""Pages generated at every build, so the site cannot fall behind the code.

* ``api/``: one page per public name of ``surveyfuse`` (its
  ``__all__``), grouped by the module the name comes from, and one page per
  registered imputation method with its parameters and their defaults. A new
  public name appears by itself; one whose module no group claims lands in
  "Other" (and the docstring test asks it for an example).
* ``r/``: the R package's Rd pages rendered by ``tools::Rd2HTML``
  and its vignette knitted by knitr (the code runs), through ``render_r.R``.
* ``benchmarks/``: every ``python/benchmarks/results/*.md``, each
  with the commands that produced it (in its headings); a new results file
  becomes a page with no edit here.
"""

from __future__ import annotations

import html
import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent

#: (title, what it is for, modules whose public names it holds)
API_GROUPS = (
    ("Imputing", "Fit on a donor, draw the block for a recipient.", ("surveyfuse.api", "surveyfuse.imputer",
                                                                          "surveyfuse.evaluate.auto")),
    ("Methods", "The imputation methods and how to list them.", ("surveyfuse.methods", "surveyfuse.backends")),
    ("Task specs and runs", "One JSON file describes a fusion; run it end to end.", ("surveyfuse.pipeline",)),
    ("Constraints", "Identities every imputed record must satisfy.", ("surveyfuse.constraints",)),
    ("Across surveys", "Harmonise predictors, check common support, rake weights, calibrate to known totals.",
     ("surveyfuse.surveys",)),
    ("Evaluation and inference", "Which method to trust, and Rubin's rules on the fused file.", ("surveyfuse.evaluate",)),
    ("Notebook", "Interactive diagnostics in Jupyter.", ("surveyfuse.notebook",)),
    ("Errors", "Every failure has a stable code.", ("surveyfuse.errors",)),
)
#: public subpackages documented as a whole (their own names listed on the page)
API_MODULES = ("surveyfuse.datasets",)


def _write(path: Path, text: str) -> None:
    """Write only when changed, so Sphinx does not re-read unchanged pages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _group_of(module: str) -> str:
    for title, _, modules in API_GROUPS:
        if any(module == m or module.startswith(m + ".") for m in modules):
            return title
    return "Other"


def public_names() -> dict[str, Any]:
    import surveyfuse

    return {name: getattr(surveyfuse, name) for name in surveyfuse.__all__ if name != "__version__"}


def generate_api() -> None:
    out = DOCS / "api"
    shutil.rmtree(out, ignore_errors=True)
    groups: dict[str, list[str]] = {}
    for name, obj in public_names().items():
        module = getattr(obj, "__module__", None) or "surveyfuse.errors"  # ERROR_CODES, a dict
        groups.setdefault(_group_of(module), []).append(name)
        if inspect.isclass(obj):
            body = f"```{{eval-rst}}\n.. autoclass:: surveyfuse.{name}\n   :members:\n```\n"
        elif callable(obj):
            body = f"```{{eval-rst}}\n.. autofunction:: surveyfuse.{name}\n```\n"
        else:  # data (ERROR_CODES): its own docstring would be the type's, so say what it holds
            body = _data_table(name, obj)
        _write(out / f"surveyfuse.{name}.md", f"# surveyfuse.{name}\n\n{body}")
    for module in API_MODULES:
        _write(out / f"{module}.md", f"# {module}\n\n```{{eval-rst}}\n.. automodule:: {module}\n   :members:\n```\n")
    lines = ["# API reference\n",
             "Every public name of the `surveyfuse` package, generated from its docstrings at each build. "
             "Each page has an example that runs (the test suite runs them as doctests).\n"]
    toc = []
    for title, what, _ in (*API_GROUPS, ("Other", "Other public names.", ())):
        names = groups.get(title)
        if not names:
            continue
        lines.append(f"\n## {title}\n\n{what}\n")
        lines += [f"- [`surveyfuse.{n}`](surveyfuse.{n}.md)" for n in names]
        toc += [f"surveyfuse.{n}" for n in names]
        if title == "Methods":
            lines.append("- [Every method's parameters](methods.md)")
            toc.append("methods")
    lines.append("\n## Example data\n")
    lines += [f"- [`{m}`]({m}.md)" for m in API_MODULES]
    toc += [f"{m}" for m in API_MODULES]
    lines.append("\n```{toctree}\n:hidden:\n\n" + "\n".join(toc) + "\n```\n")
    _write(out / "index.md", "\n".join(lines))
    _write(out / "methods.md", _methods_page())


def _data_table(name: str, obj: Any) -> str:
    if isinstance(obj, dict):
        rows = "\n".join(f"| `{k}` | {str(v).replace('|', '/')} |" for k, v in obj.items())
        lead = ("Every error code and what it means: a `dict`. A `SurveyfuseError` carries one of these codes "
                "in `.code`; the command line prints it as `error[code]` and R as the condition class "
                "`surveyfuse_error_<code>` (see [](../errors.md)).\n\n" if name == "ERROR_CODES" else "")
        return f"{lead}| key | meaning |\n|---|---|\n{rows}\n"
    return f"`{obj!r}`\n"


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a bar would end the cell)."""
    return str(text).replace("|", "\\|")


def _methods_page() -> str:
    """Each registered method: what it is (its class docstring) and its parameters with defaults."""
    from surveyfuse.backends import DEFAULT_METHOD, REGISTRY
    from surveyfuse.errors import SurveyfuseError
    from surveyfuse.methods import parameter_table

    parts = ["# Methods and their parameters\n",
             "Pass a method by name (`method=\"hotdeck\"`) and its parameters as `params={...}` "
             "(or `{\"name\": ..., \"params\": {...}}` in a spec, `name:param=value` on the command line). "
             f"The default is `{DEFAULT_METHOD}`; `auto` picks one by donor-only validation "
             "([](surveyfuse.evaluate_methods.md)). Unknown parameters are refused with the `bad_param` error code.\n"]
    for name, target in REGISTRY.items():
        module, cls = target.split(":")
        parts.append(f"\n## `{name}`\n")
        parts.append(f"```{{eval-rst}}\n.. autoclass:: {module}.{cls}\n   :no-members:\n   :no-index:\n```\n")
        try:
            rows = parameter_table(name)
        except SurveyfuseError:  # an optional dependency is missing: still list the method
            parts.append("(its optional dependency is not installed where these pages were built)\n")
            continue
        if rows:
            parts.append("| parameter | default | allowed | meaning |\n|---|---|---|---|\n"
                         + "\n".join(f"| `{r['name']}` | `{json.dumps(r['default'])}` | {_cell(r['expected'])} | "
                                      f"{_cell(r['description'])} |" for r in rows) + "\n")
        else:
            parts.append("This method has no parameters.\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------- R
def generate_r() -> None:
    out = DOCS / "r"
    work = DOCS / "_build" / "r-render"
    shutil.rmtree(work, ignore_errors=True)
    env = {**os.environ}
    py = REPO / ".venv" / "bin" / "python"
    if py.exists():
        env.setdefault("SURVEYFUSE_PYTHON", str(py))
    proc = subprocess.run(["Rscript", str(DOCS / "_ext" / "render_r.R"), str(REPO / "r-package"), str(work)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"rendering the R documentation failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    topics = sorted(p.stem for p in work.glob("*.html"))
    index = ["# R reference\n",
             "The R package `surveyfuse` (in `r-package/`) is a thin, tidyverse-friendly layer over the Python "
             "core; see also [the vignette](vignette.md). These pages are its Rd help files, rendered "
             "at each build.\n"]
    for topic in topics:
        fragment = _fix_r_links(_r_body((work / f"{topic}.html").read_text(encoding="utf-8")), set(topics))
        title = re.search(r"<h2[^>]*>(.*?)</h2>", fragment, re.S)
        heading = html.unescape(re.sub("<[^>]+>", "", title.group(1))).strip() if title else topic
        fragment = re.sub(r"<h2[^>]*>.*?</h2>", "", fragment, count=1, flags=re.S)
        _write(out / f"{topic}.md", f"# `{topic}`: {heading}\n\n```{{raw}} html\n<div class=\"r-doc\">\n{fragment}\n</div>\n```\n")
        index.append(f"- [`{topic}`]({topic}.md): {heading}")
    vignette = work / "vignette.md"
    if vignette.exists():
        _write(out / "vignette.md", _myst_vignette(vignette.read_text(encoding="utf-8")))
        for fig in work.glob("vignette-*"):
            shutil.copy(fig, out / fig.name)
    index.append("\n```{toctree}\n:hidden:\n\nvignette\n" + "\n".join(f"{t}" for t in topics) + "\n```\n")
    _write(out / "index.md", "\n".join(index))


def _r_body(page: str) -> str:
    """The help text of a page Rd2HTML wrote: no head (it loads KaTeX from a CDN), no header table."""
    body = page.split('<div class="container">', 1)[-1]
    body = re.sub(r"</div>\s*</body>\s*</html>\s*$", "", body)
    return re.sub(r"^\s*<table[^>]*>.*?</table>", "", body, count=1, flags=re.S)


def _fix_r_links(fragment: str, topics: set[str]) -> str:
    """Rd2HTML links to R's help server: point ours at their pages, drop links into other packages."""
    def repl(m: re.Match) -> str:
        href, text = m.group(1), m.group(2)
        target = re.sub(r"\.html$", "", href.rsplit("/", 1)[-1])
        if target in topics and "surveyfuse" in href or target in topics and "/" not in href:
            return f'<a href="{target}.html">{text}</a>'
        return f"<code class='r-ref'>{text}</code>" if "<code" not in text else text
    fragment = re.sub(r'<a href="([^"#]*)">(.*?)</a>', repl, fragment, flags=re.S)
    return fragment


def _myst_vignette(md: str) -> str:
    """knitr's Markdown -> MyST: drop the YAML header, keep the title as the page heading."""
    title = "The R vignette"
    m = re.match(r"---\n(.*?)\n---\n", md, re.S)
    if m:
        t = re.search(r'^title:\s*"?(.*?)"?\s*$', m.group(1), re.M)
        title = t.group(1) if t else title
        md = md[m.end():]
    note = ("*The package's vignette (`r-package/vignettes/surveyfuse.Rmd`), knitted at each build of this site: "
            "the output below is what the code printed.*\n")
    return f"# {title}\n\n{note}\n{md}"


# ---------------------------------------------------------------------------- benchmarks
def generate_benchmarks() -> None:
    out = DOCS / "benchmarks"
    shutil.rmtree(out, ignore_errors=True)
    results = sorted((REPO / "python" / "benchmarks" / "results").glob("*.md"))
    lines = ["# Benchmarks\n",
             "Tables written by the benchmark scripts in `python/benchmarks/` (`make bench` runs them all, "
             "`make bench-quick` on small tasks). Each section heading names the command that produced its table; "
             "timings are ratios measured in the same run. The pages are the results files themselves, so they "
             "show what was last measured and committed.\n"]
    for path in results:
        first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# ")), path.stem)
        rel = os.path.relpath(path, out)
        _write(out / f"{path.stem}.md", f"```{{include}} {rel}\n```\n")
        lines.append(f"- [{first.lstrip('# ').strip()}]({path.stem}.md) (`python/benchmarks/results/{path.name}`)")
    lines.append("\n```{toctree}\n:hidden:\n\n" + "\n".join(f"{p.stem}" for p in results) + "\n```\n")
    _write(out / "index.md", "\n".join(lines))


def _generate(app: Any) -> None:
    generate_api()
    generate_benchmarks()
    generate_r()


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
