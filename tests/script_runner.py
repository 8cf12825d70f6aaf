"""Runs an experiment script as its own process, with TensorFlow already imported.

Each script a test runs is a fresh process (its own ``sys.argv``, environment, working directory,
absl flags and TensorFlow runtime), forked from a server process that has imported TensorFlow
and Keras but never used them (``multiprocessing``'s forkserver with a preload). What this
leaves out is only the import itself, which would otherwise dominate a test that runs
twenty scripts. The import as a user meets it (start-up messages, ``--help`` without the
C++ noise) and signals sent to a running script are tested with plain subprocesses.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PRELOAD = ["tensorflow", "keras"]
_context = None


def _forkserver():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run_main(script: str, args: list[str], env: dict, cwd: str, stdout: str, stderr: str) -> None:
    """The child: what ``python SCRIPT ARGS`` does, from the interpreter's start to its exit."""
    import atexit
    import runpy
    import threading
    import traceback

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, stdout), (2, stderr)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(handle, fd)
        os.close(handle)
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(script)
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exit:  # sys.exit's rules: None is 0, a message is printed and is 1
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
        if not isinstance(exit.code, int) and exit.code is not None:
            print(exit.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001  (an uncaught exception: the traceback and status 1, as Python does)
        traceback.print_exc()
        code = 1
    threading._shutdown()  # the interpreter's own exit: wait for threads, then the atexit handlers
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_script(path: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([python, path, *args], capture_output=True, text=True)``, forked from the
    preloaded server; returns the same ``CompletedProcess`` (text ``stdout`` and ``stderr``)."""
    env = dict(os.environ if env is None else env)
    cwd = Path.cwd() if cwd is None else cwd
    with tempfile.TemporaryDirectory(prefix="script-") as folder:
        stdout, stderr = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        process = _forkserver().Process(target=_run_main, args=(str(path), list(args), env, str(cwd), stdout, stderr))
        process.start()
        process.join()
        read = lambda name: Path(name).read_text(encoding="utf-8", errors="replace") if os.path.exists(name) else ""
        return subprocess.CompletedProcess([sys.executable, str(path), *args], process.exitcode, read(stdout),
                                           read(stderr))
