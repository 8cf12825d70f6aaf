"""Shared by every stage: TensorFlow imported without its start-up noise, JSON written atomically."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Optional

VERBOSE_VARIABLE = "VARATTN_TF_LOGS"


def write_json(path: os.PathLike, payload) -> None:
    """Writes JSON atomically (a crash never leaves half a file)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow (and Keras) quietly: its C++ log lines (start-up notices, CUDA driver probes
    on CPU machines, oneDNN's notes) and its Python INFO lines (a checkpoint's "sharding callback
    duration") are not shown; warnings and errors of Python code are. ``VARATTN_TF_LOGS=1`` shows
    them all, as does a ``TF_CPP_MIN_LOG_LEVEL`` set by the caller."""
    import logging

    verbose = os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")
    if verbose:
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401  (imported here so its own start-up messages are discarded too)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probe prints at first use
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)


HELP_FLAGS = ("--help", "-h", "-?", "--helpshort", "--helpfull")


# What stops a write, and what to do about it (errno -> fix).
_WRITE_FIXES = {
    errno.ENOSPC: "the disk is full: free space (or move the run to another disk) and rerun the same command; "
                  "it resumes from what was finished",
    errno.EDQUOT: "the disk quota is used up: free space and rerun the same command",
    errno.EROFS: "the file system is read-only: copy the run to a writable folder and point the command there",
    errno.EACCES: "no permission to write there: make the folder writable, or copy the run to a writable folder",
    errno.EPERM: "no permission to write there: make the folder writable, or copy the run to a writable folder",
}
_TF_WRITE_FAILURES = {"No space left on device": errno.ENOSPC, "Read-only file system": errno.EROFS,
                      "Permission denied": errno.EACCES}


def write_failure(error: BaseException) -> Optional[str]:
    """One line for an error that stopped a write (a full disk, a read-only folder), or None for any
    other error: an ``OSError`` with one of those errnos, or TensorFlow's error for the same."""
    if isinstance(error, OSError) and error.errno in _WRITE_FIXES:
        place = error.filename or "a file"
        return f"error: could not write {place} ({error.strerror}); {_WRITE_FIXES[error.errno]}."
    message = str(getattr(error, "message", "") or "")
    for text, number in _TF_WRITE_FAILURES.items():
        if type(error).__module__.startswith("tensorflow") and text in message:
            return f"error: could not write ({message.strip().splitlines()[0][:300]}); {_WRITE_FIXES[number]}."
    return None


def _quiet_library_logs() -> None:
    """TensorFlow's absl INFO lines (a checkpoint's "sharding callback duration") hidden, unless
    ``VARATTN_TF_LOGS=1`` or ``--verbosity`` asks for them; the project logs under its own names."""
    import logging

    from absl import flags
    from absl import logging as absl_logging

    asked = "verbosity" in flags.FLAGS and flags.FLAGS["verbosity"].present
    if os.environ.get(VERBOSE_VARIABLE, "") in ("", "0") and not asked:
        # Through absl's verbosity, not only the logger's level: TensorFlow's SavedModel writer sets
        # the verbosity it read back when it is done (a logger level alone came back as INFO).
        absl_logging.set_verbosity(absl_logging.WARNING)
        logging.getLogger("absl").setLevel(logging.WARNING)
    own = logging.getLogger("tf_varattn")  # the project's own lines, plain (no absl prefix)
    if not own.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        own.addHandler(handler)
        own.propagate = False
        own.setLevel(logging.INFO)


def _stopping_in_one_line_on_write_failures(main):
    def guarded(argv):
        import sys

        _quiet_library_logs()  # after absl has applied its --verbosity
        try:
            return main(argv)
        except Exception as error:  # noqa: BLE001 (only write failures are turned into one line)
            line = write_failure(error)
            if line is None:
                raise
            print(line, file=sys.stderr)
            return 1
    return guarded


def run_script(main) -> None:
    """``absl.app.run(main)``, except that asking for help exits with status 0 (absl uses 1), and a
    write stopped by a full disk or a read-only folder ends in one line naming it and the fix."""
    import sys

    from absl import app

    try:
        app.run(_stopping_in_one_line_on_write_failures(main))
    except SystemExit as exit:
        if exit.code == 1 and any(arg in HELP_FLAGS for arg in sys.argv[1:]):
            raise SystemExit(0) from None
        raise
