"""Your own attention or search from the command line (as fairseq's ``--user-dir``).

``--user_dir=PATH`` (a ``.py`` file, or a package folder with ``__init__.py``) is imported by
``train.py``, ``evaluate.py``, ``generate.py``, ``export.py`` and ``compare_searches.py`` before any flag is
defined, so the attention posteriors and searches it registers
(:func:`tf_varattn.attention_registry.register_attention_posterior`,
:func:`tf_varattn.decoding.register_search`) are among the ``--attention`` and ``--search``
choices. A run trained with it records it (``user_dir.json``: the absolute path and a SHA-256 of
its Python files), so that the scripts given ``--run_dir`` load it without the flag, and refuse,
naming both digests, when the code changed since.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

RECORD = "user_dir.json"


class PluginError(ValueError):
    """A user directory that cannot be loaded, or that changed since the run was trained."""


def code_digest(path: os.PathLike) -> str:
    """SHA-256 of the Python files of ``path`` (a file, or every ``*.py`` below a folder, by name)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path.parent if path.is_file() else path).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def import_user_dir(path: os.PathLike) -> dict:
    """Imports the user's code at ``path`` once per process; returns ``{"path", "sha256"}``."""
    path = Path(path).expanduser().resolve()
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise PluginError(f"--user_dir={path} is a folder without __init__.py; give a .py file, or make the folder a "
                          "package (an __init__.py that imports your modules).")
    if not path.is_file() and not path.is_dir():
        raise PluginError(f"--user_dir={path} does not exist; give a .py file or a package folder.")
    name = "tf_varattn_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if name not in sys.modules:
        location = path / "__init__.py" if path.is_dir() else path
        spec = importlib.util.spec_from_file_location(
            name, location, submodule_search_locations=[str(path)] if path.is_dir() else None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[name]
            raise PluginError(f"--user_dir={path} could not be imported ({type(error).__name__}: {error}).") from error
    return {"path": str(path), "sha256": code_digest(path)}


def _flag_value(argv: Sequence[str], name: str) -> Optional[str]:
    """The value of ``--name=V`` or ``--name V`` in ``argv`` (the last one given), read before absl parses."""
    value = None
    for index, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and index + 1 < len(argv):
            value = argv[index + 1]
    return value


def load_from_command_line(argv: Sequence[str] = None) -> Optional[dict]:
    """Before the flags are defined: imports ``--user_dir``, else the one recorded by the run of
    ``--run_dir`` (refusing it if its code changed). Returns what was loaded (None: nothing)."""
    argv = sys.argv[1:] if argv is None else argv
    given = _flag_value(argv, "user_dir")
    run_dir = _flag_value(argv, "run_dir") or _flag_value(argv, "output_dir")  # train.py resuming a run
    recorded = None
    if run_dir and (Path(run_dir) / RECORD).is_file():
        try:
            recorded = json.loads((Path(run_dir) / RECORD).read_text(encoding="utf-8"))
        except ValueError as error:
            raise PluginError(f"{Path(run_dir) / RECORD} is damaged ({error}); restore it from a copy.") from None
    loaded = import_user_dir(given or recorded["path"]) if (given or recorded) else None
    if recorded and loaded["sha256"] != recorded["sha256"]:
        raise PluginError(
            f"the user code {loaded['path']} changed since {run_dir} was trained with it (SHA-256 then "
            f"{recorded['sha256'][:16]}..., now {loaded['sha256'][:16]}...): restore the code the run was trained "
            f"with, or train a new run with this code.")
    return loaded


def record(run_dir: os.PathLike, loaded: Optional[dict]) -> None:
    """Writes ``user_dir.json`` into a run trained with user code (nothing without)."""
    if loaded:
        from tf_varattn.runtime import write_json

        Path(run_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(run_dir) / RECORD, loaded)


def define_user_dir_flag() -> None:
    from absl import flags

    flags.disclaim_key_flags()  # the flag belongs to the calling script: its --help lists it
    flags.DEFINE_string("user_dir", None, "A .py file or package folder of your own attention posteriors and searches "
                        "(imported first; a run records it, and the scripts given its --run_dir load it).")


def load_or_exit(argv: Sequence[str] = None) -> Optional[dict]:
    """:func:`load_from_command_line`, or one line on standard error and exit status 1."""
    try:
        return load_from_command_line(argv)
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
