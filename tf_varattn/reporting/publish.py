"""Writing a rendered report without losing one: which runs stand behind each report, and a write
that never replaces a report that has runs with one that has none, and says what it changed."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

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


def publish(path: os.PathLike, text: str, runs: list[Path], shown: int = 12) -> str:
    """Writes ``text`` to ``path`` and returns one line saying what happened (the changed lines
    follow it). A report with no run behind it (``runs`` empty) is written only where no report
    is yet: it never replaces one."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old == text:
        return f"Unchanged {path}"
    if not runs and old is not None:
        return (f"Kept {path}: no run behind it under this runs root, so it is not replaced by an empty report "
                "(remove the file first to write one)")
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
