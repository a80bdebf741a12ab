"""Run the course's notebooks headlessly, export them to HTML, and write the course index.

Used by `make report` (profile `lecture` by default) and by the tests (profile `smoke`). Each
notebook's `.py` (jupytext percent format) is the source: it is read with jupytext, executed with
papermill (parameters `profile`, `device`, `seed`), saved as an executed `.ipynb` and exported to
HTML with its figures embedded. A failing notebook (or a failed HTML export) does not stop the
others; its index entry shows the error and the failing cell. Every file is written atomically.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import html
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from tqdm.auto import tqdm

from course_lib.io import CHECKOUT, directory_lock, write_json_atomic, write_text_atomic
from course_lib.profiles import get_profile
from course_lib.seeding import check_seed

NOTEBOOKS_DIR = CHECKOUT / "notebooks"
NOT_A_NOTEBOOK = (ValueError, KeyError, AttributeError, TypeError, nbformat.ValidationError)  # nbformat.read* raise
KERNEL_NAME = "python3"  # ipykernel's own spec: the interpreter that runs the runner
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclasses.dataclass
class NotebookResult:
    name: str
    title: str
    parameters: dict
    status: str  # "ok" or "failed"
    duration_s: float
    html: str | None = None  # file name of the HTML export, relative to the output folder
    error: str | None = None
    failing_cell: int | None = None  # execution count of the cell that raised
    failing_source: str | None = None


def course_order(path: Path) -> tuple:
    """Numbered notebooks (NN_topic) by number, then the rest (e.g. the report) by name."""
    match = re.match(r"(\d+)_", path.name)
    return (0, int(match.group(1)), path.name) if match else (1, 0, path.name)


def discover_notebooks(notebooks_dir=NOTEBOOKS_DIR) -> list[Path]:
    """The `.py` notebook sources of a folder, in course order (files starting with '_' skipped)."""
    if not Path(notebooks_dir).is_dir():
        raise ValueError(f"notebooks_dir='{notebooks_dir}' is not a folder; give the folder of the .py notebooks")
    sources = [p for p in Path(notebooks_dir).glob("*.py") if not p.name.startswith("_")]
    return sorted(sources, key=course_order)


def notebook_title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading of the notebook."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def ipynb_text(source_py: Path) -> str:
    """The paired `.ipynb` as `make sync` writes it: the `.py` converted by jupytext, no outputs.

    Cell ids are numbered by position (jupytext draws random ones), so the text is reproducible.
    """
    notebook = jupytext.read(source_py)
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:03d}"
    return jupytext.writes(notebook, fmt="ipynb")


def cell_contents(notebook_text: str) -> list[tuple] | None:
    """What a notebook says, cell by cell (type, source, tags): not its outputs, ids or other metadata; None when
    the text is not a notebook."""
    try:
        cells = nbformat.reads(notebook_text, as_version=4).cells
    except NOT_A_NOTEBOOK:
        return None
    return [(cell.cell_type, cell.source, tuple(cell.get("metadata", {}).get("tags", []))) for cell in cells]


def edited_as_a_notebook(source_py: Path, text: str) -> bool:
    """Whether the paired `.ipynb` of `source_py` was saved after it with cells that differ from `text` (the `.py`
    converted): edits made in the notebook by an editor that does not update the `.py`."""
    target = source_py.with_suffix(".ipynb")
    return (target.is_file() and target.stat().st_mtime > source_py.stat().st_mtime
            and cell_contents(target.read_text(encoding="utf-8", errors="replace")) != cell_contents(text))


def sync_notebooks(notebooks_dir=NOTEBOOKS_DIR) -> list[Path]:
    """Regenerate every `.ipynb` from its `.py`; return the ones that changed.

    Refused before anything is written (ValueError naming them) when an `.ipynb` holds edits its `.py` lacks
    (`edited_as_a_notebook`): regenerating would lose them. Outputs alone are not edits."""
    texts = {source: ipynb_text(source) for source in discover_notebooks(notebooks_dir)}
    edited = [str(source.with_suffix(".ipynb")) for source, text in texts.items() if edited_as_a_notebook(source, text)]
    if edited:
        raise ValueError(f"{', '.join(edited)} hold cells their .py lacks and were saved after it: regenerating them "
                         "would lose those edits. Bring the edits into the .py (`jupytext --sync NOTEBOOK.ipynb`: the "
                         "pair is in its metadata), or delete the .ipynb to regenerate it from the .py")
    changed = []
    for source, text in texts.items():
        target = source.with_suffix(".ipynb")
        if not target.is_file() or target.read_text() != text:
            write_text_atomic(target, text)
            changed.append(target)
    return changed


def export_html(notebook: nbformat.NotebookNode, html_path: Path) -> None:
    """Write the notebook as standalone HTML, images embedded as data URIs."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_notebook_node(notebook)
    write_text_atomic(html_path, body)


@contextlib.contextmanager
def inline_figures():
    """Kernels started inside draw their figures into the notebook, whatever `MPLBACKEND` says.

    A kernel inherits the environment: with `MPLBACKEND=Agg` (common on headless servers) its
    figures would be drawn nowhere. The caller's value is restored afterwards."""
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MPLBACKEND"]
        else:
            os.environ["MPLBACKEND"] = saved


def private_connection(folder) -> dict:
    """papermill's arguments that connect to the kernel through Unix sockets in `folder` (a private temporary
    folder) on POSIX systems: localhost TCP, Jupyter's default, can be read by every user of the machine, as
    ipykernel warns at each start. Elsewhere (Windows): none, and TCP."""
    if os.name != "posix":
        return {}
    from traitlets.config import Config

    return {"config": Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})}


def execute_notebook(source_py: Path, out_dir: Path, parameters: dict, timeout_s: int) -> NotebookResult:
    """Execute one notebook into `out_dir` (executed `.ipynb` + `.html`); never raises on cell or export errors."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = jupytext.read(source_py)
    result = NotebookResult(source_py.stem, notebook_title(notebook, source_py.stem), dict(parameters), "ok", 0.0)
    start = time.perf_counter()
    with (tempfile.TemporaryDirectory(dir=out_dir, prefix=".run-") as scratch,
          tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets):  # mode 0700; a short path, as sockets need
        executed_path = Path(scratch) / f"{source_py.stem}.ipynb"
        try:
            with inline_figures():
                papermill.execute_notebook(
                    notebook, str(executed_path), parameters=parameters, kernel_name=KERNEL_NAME,
                    cwd=str(source_py.parent), execution_timeout=timeout_s, progress_bar=False,
                    **private_connection(sockets),
                )
        except PapermillExecutionError as error:
            result.status, result.error = "failed", f"{error.ename}: {error.evalue}"
            result.failing_cell, result.failing_source = error.exec_count, error.source
        except Exception as error:  # kernel death, timeout, unreadable notebook: report, go on
            result.status, result.error = "failed", f"{type(error).__name__}: {error}"
        result.duration_s = round(time.perf_counter() - start, 2)
        if executed_path.is_file():
            executed = nbformat.read(executed_path, as_version=4)
            nbformat.validate(executed)
            write_text_atomic(out_dir / executed_path.name, nbformat.writes(executed))
            try:
                export_html(executed, out_dir / f"{source_py.stem}.html")
                result.html = f"{source_py.stem}.html"
            except Exception as error:  # e.g. nbconvert's template missing: report, go on
                export_error = f"HTML export failed: {type(error).__name__}: {error}"
                result.status, result.error = "failed", "; ".join(filter(None, [result.error, export_error]))
    return result


def executed_here(path: Path) -> bool:
    """Whether the notebook file `path` is one that papermill executed (as this runner writes them): the paired
    notebooks of a course and a student's notebooks are not, and a run must not write over them."""
    try:
        return "papermill" in nbformat.read(path, as_version=4).metadata
    except (OSError, *NOT_A_NOTEBOOK):
        return False


def check_out_dir(out_dir: Path, names: list[str]) -> None:
    """Refuse (ValueError) an `out_dir` holding a `<name>.ipynb` of `names` that no run executed (`executed_here`):
    the course's own notebooks folder, a student build, someone's work."""
    theirs = [path.name for path in (Path(out_dir) / f"{name}.ipynb" for name in names)
              if path.exists() and not executed_here(path)]
    if theirs:
        raise ValueError(f"out_dir='{out_dir}' holds {theirs}, which are not notebooks a run executed: running "
                         "into it would write over them; choose another folder (the default is reports)")


def run_notebooks(out_dir="reports", profile=None, device="auto", seed: int = 0,
                  notebooks_dir=NOTEBOOKS_DIR, names=None, progress: bool = True) -> list[NotebookResult]:
    """Execute the course's notebooks (all, or those whose stem is in `names`) and write the index."""
    from course_lib.device import get_device

    profile = get_profile(profile)  # validate everything before any work starts
    device_name = str(get_device(device))
    seed = check_seed(seed)
    sources = discover_notebooks(notebooks_dir)
    if not sources:
        raise ValueError(f"notebooks_dir='{notebooks_dir}' holds no notebooks; give a folder of .py notebooks "
                         "(jupytext percent format)")
    if names is not None:
        unknown = sorted(set(names) - {p.stem for p in sources})
        if unknown:
            raise ValueError(f"names={unknown} are not notebooks; allowed: {[p.stem for p in sources]}")
        sources = [p for p in sources if p.stem in set(names)]
    out_dir = Path(out_dir)
    check_out_dir(out_dir, [source.stem for source in sources])
    parameters = {"profile": profile.name, "device": device_name, "seed": seed}
    results = []
    with directory_lock(out_dir, "folder of executed notebooks"):  # a second `make report` into it is refused
        for source in tqdm(sources, desc=f"notebooks ({profile.name}, {device_name})", unit="nb",
                           disable=not progress):
            results.append(execute_notebook(source, out_dir, parameters, profile.notebook_timeout_s))
        write_index(results, out_dir, parameters)
    return results


def _run_info(parameters: dict) -> dict:
    import torch

    import course_lib

    return {**parameters, "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "torch": torch.__version__,
            "course_lib": course_lib.__version__, "machine": platform.platform()}


def write_index(results: list[NotebookResult], out_dir: Path, parameters: dict) -> None:
    """`index.json` (for tools) and `index.html` (for people): every notebook in course order."""
    info = _run_info(parameters)
    total_s = round(sum(r.duration_s for r in results), 2)
    write_json_atomic(out_dir / "index.json", {"run": {**info, "total_s": total_s},
                                               "notebooks": [dataclasses.asdict(r) for r in results]})
    write_text_atomic(out_dir / "index.html", render_index_html(results, info))


_INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #ddd; padding: .5rem; }
th { text-align: left; background: #f4f4f4; } .ok { color: #17692b; font-weight: bold; }
.run { font-size: 1.35rem; margin: .5rem 0; } .total td { font-weight: bold; border-top: 2px solid #999; }
.failed { color: #b00020; font-weight: bold; } pre { background: #fff3f3; padding: .5rem; overflow-x: auto; }
"""


def render_index_html(results: list[NotebookResult], info: dict) -> str:
    """The index page: one line "profile X on device Y" with the total time on top, then a row per notebook."""
    esc = html.escape

    def duration(seconds: float) -> str:
        minutes, rest = divmod(round(seconds), 60)
        return f"{seconds:.1f} s" if seconds < 60 else f"{minutes} min {rest:02d} s"

    rows = []
    for r in results:
        link = f'<a href="{esc(r.html)}">{esc(r.title)}</a>' if r.html else esc(r.title)
        params = ", ".join(f"{esc(k)}={esc(str(v))}" for k, v in r.parameters.items())
        detail = ""
        if r.status != "ok":
            cell = f" in cell [{r.failing_cell}]" if r.failing_cell is not None else ""
            detail = f"<div>{esc(r.error or '')}{cell}</div>"
            if r.failing_source:
                detail += f"<pre>{esc(r.failing_source)}</pre>"
        rows.append(
            f"<tr><td>{esc(r.name)}</td><td>{link}</td><td>{params}</td><td>{esc(r.parameters['device'])}</td>"
            f"<td>{duration(r.duration_s)}</td><td class=\"{esc(r.status)}\">{esc(r.status)}{detail}</td></tr>"
        )
    failed = sum(r.status != "ok" for r in results)
    total = duration(sum(r.duration_s for r in results))
    rows.append(f"<tr class=\"total\"><td colspan=\"4\">total, {len(results)} notebooks</td><td>{total}</td>"
                "<td></td></tr>")
    summary = f"{len(results)} notebooks, {failed} failed" if failed else f"{len(results)} notebooks, all ran"
    headline = (f"profile <strong>{esc(str(info.get('profile', '?')))}</strong> on device "
                f"<strong>{esc(str(info.get('device', '?')))}</strong> · total time <strong>{total}</strong>")
    run = ", ".join(f"{esc(k)}: {esc(str(v))}" for k, v in info.items())
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Disentanglement course kit</title><style>{_INDEX_STYLE}</style></head><body>"
        f"<h1>The disentanglement course kit</h1><p class=\"run\">{headline}</p>"
        f"<p><strong>{summary}</strong></p><p>{run}</p>"
        "<table><thead><tr><th>notebook</th><th>title</th><th>parameters</th><th>device</th><th>duration</th>"
        f"<th>status</th></tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>\n"
    )
