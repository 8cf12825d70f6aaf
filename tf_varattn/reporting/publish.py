"""Writing a rendered report or figure without losing one: which runs stand behind each, and a
write that never replaces a report or figure with one built on fewer runs (a partial runs root),
and says what it changed. Each output records its runs (a last comment line of a Markdown report,
a text chunk of a PNG figure); one whose recorded runs are not all under the runs root is kept."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Optional

from tf_varattn.reporting.tables import TABLES, table_runs


class PublishError(Exception):
    """A report that must not be written (its message names what was found and the fix)."""


def runs_behind(report: str, runs_root: os.PathLike) -> list[Path]:
    """The run directories under ``runs_root`` whose files ``report`` reads: the table's evaluated
    runs (``test_metrics.json``), every evaluated run for the case study (qgen) and the claims, and
    every run with ``test_diagnostics.json`` for the bypass report."""
    root = Path(runs_root)
    if report in TABLES:
        return [run for run in table_runs(report, root) if (run / "test_metrics.json").is_file()]
    if report == "bypass":
        return sorted(path.parent for path in root.rglob("test_diagnostics.json"))
    if report == "latents":
        return sorted(path.parent for path in root.rglob("test_likelihood.json"))
    if report == "seeds":
        return sorted(path.parent for path in root.glob("*/seeds/*/test_metrics.json"))
    tasks = ["qgen"] if report == "case_study" else [""]
    return sorted(path.parent for task in tasks for path in (root / task).rglob("test_metrics.json"))


def check_runs_root(runs_root: os.PathLike) -> None:
    """Refuses a runs root that does not exist or holds no evaluated run, naming what it holds."""
    root = Path(runs_root)
    if not root.is_dir():
        raise PublishError(f"--runs_root={root} is not a directory; point it at the folder holding <task>/<model>/ "
                           "runs (runs/, or results/runs for the committed ones).")
    if not any(root.rglob("test_metrics.json")) and not any(root.rglob("test_diagnostics.json")):
        found = sorted(p.relative_to(root).as_posix() for p in root.iterdir())[:10]
        raise PublishError(f"--runs_root={root} holds no evaluated run (no test_metrics.json or test_diagnostics.json "
                           f"below it; it holds {found or 'nothing'}); point it at the folder holding <task>/<model>/ "
                           "runs, or evaluate them first (experiments/evaluate.py --run_dir ...).")


RUNS_MARKER = "<!-- runs behind this report: "
FIGURE_RUNS_KEY = "runs behind this figure"


def run_names(runs, runs_root: Optional[os.PathLike]) -> list[str]:
    """The runs as paths relative to ``runs_root`` (``<task>/<model>``), sorted; a run outside it by its path."""
    root = None if runs_root is None else Path(runs_root).resolve()
    names = set()
    for run in runs:
        run = Path(run).resolve()
        names.add(run.relative_to(root).as_posix() if root is not None and run.is_relative_to(root) else run.as_posix())
    return sorted(names)


def _kept_because(path: Path, recorded: list[str], names: list[str]) -> Optional[str]:
    """Why the output at ``path`` (standing on ``recorded`` runs) must not be replaced by one standing
    on ``names``, or None: no run behind the new one, or recorded runs missing from it."""
    if not names:
        return (f"Kept {path}: no run behind it under this runs root, so it is not replaced by an empty one "
                "(remove the file first to write one)")
    lost = sorted(set(recorded) - set(names))
    if lost:
        listed = ", ".join(lost[:4]) + (f" and {len(lost) - 4} more" if len(lost) > 4 else "")
        return (f"Kept {path}: {len(lost)} run(s) behind it are not under this runs root ({listed}), so it is not "
                "replaced by one built on fewer runs (point --runs_root at the root holding them all, or remove the "
                "file first to write one)")
    return None


def publish(path: os.PathLike, text: str, runs: list[Path], shown: int = 12,
            runs_root: Optional[os.PathLike] = None) -> str:
    """Writes ``text`` to ``path`` and returns one line saying what happened (the changed lines
    follow it). The report records its runs (named relative to ``runs_root``); it never replaces a
    report whose recorded runs are not all behind it, nor one with runs by one with none."""
    path = Path(path)
    names = run_names(runs, runs_root)
    if names:
        text = text.rstrip("\n") + f"\n\n{RUNS_MARKER}{' '.join(names)} -->\n"
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old == text:
        return f"Unchanged {path}"
    if old is not None:
        last = old.rstrip("\n").rsplit("\n", 1)[-1]
        recorded = last[len(RUNS_MARKER):-len(" -->")].split() if last.startswith(RUNS_MARKER) else []
        kept = _kept_because(path, recorded, names)
        if kept:
            return kept
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    if old is None:
        return f"Wrote {path} ({len(runs)} run(s) behind it)"
    changed = [line for line in difflib.unified_diff(old.splitlines(), text.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    more = f"\n  ... {len(changed) - shown} more" if len(changed) > shown else ""
    return (f"Updated {path}: {sum(line[0] == '-' for line in changed)} line(s) replaced by "
            f"{sum(line[0] == '+' for line in changed)}:\n" + "\n".join(f"  {line}" for line in changed[:shown]) + more)


def publish_figure(figure, path: os.PathLike, runs, runs_root: Optional[os.PathLike], dpi: int = 110) -> str:
    """Saves the matplotlib ``figure`` to the PNG ``path`` with its runs recorded in it, unless the
    figure there stands on runs not all among ``runs`` (then it is kept); returns what happened."""
    from PIL import Image

    path = Path(path)
    names = run_names(runs, runs_root)
    if path.is_file():
        try:
            with Image.open(path) as old:
                recorded = old.text.get(FIGURE_RUNS_KEY, "").split()
        except (OSError, ValueError):
            recorded = []
        kept = _kept_because(path, recorded, names)
        if kept:
            return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=dpi, metadata={FIGURE_RUNS_KEY: " ".join(names)})
    os.replace(temporary, path)
    return f"Wrote {path} ({len(names)} run(s) behind it)"
