"""Shared by every stage: TensorFlow imported without its start-up noise, JSON written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

VERBOSE_VARIABLE = "VARATTN_TF_LOGS"


def write_json(path: os.PathLike, payload) -> None:
    """Writes JSON atomically (a crash never leaves half a file)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow (and Keras) with the C++ start-up messages (oneDNN notices, CUDA driver
    probes on CPU machines) discarded. ``VARATTN_TF_LOGS=1`` shows them. Later messages,
    warnings and errors are untouched."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0"):
        import tensorflow  # noqa: F401
        return
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


HELP_FLAGS = ("--help", "-h", "-?", "--helpshort", "--helpfull")


def run_script(main) -> None:
    """``absl.app.run(main)``, except that asking for help exits with status 0 (absl uses 1)."""
    import sys

    from absl import app

    try:
        app.run(main)
    except SystemExit as exit:
        if exit.code == 1 and any(arg in HELP_FLAGS for arg in sys.argv[1:]):
            raise SystemExit(0) from None
        raise
