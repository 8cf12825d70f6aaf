"""Reading a finished (or partly finished) run directory back: config, vocabulary, model."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Optional

from tf_varattn.config import Config
from tf_varattn.data.vocab import TaskVocabulary
from tf_varattn.models import build_model
from tf_varattn.training import checkpoints


class RunError(ValueError):
    """A run directory lacks what is asked of it; the message says what to run first."""


def load_run(run_dir: os.PathLike, epoch: Optional[int] = None):
    """Returns ``(config, vocab, model, epoch)`` with the model restored from ``epoch``
    (default: the config's ``eval_epoch`` if kept, else the newest checkpoint)."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no config.json). Train one with experiments/train.py.")
    config = Config.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    vocab = TaskVocabulary.load(run_dir / "vocab.json")
    model = build_model(config)
    saved = checkpoints.RunCheckpoints(run_dir, model)
    available = saved.finished_epochs()
    if not available:
        raise RunError(f"{run_dir} has no finished epoch yet; train (or resume) it with experiments/train.py.")
    if epoch is None:
        epoch = config.eval_epoch if config.eval_epoch in available else available[-1]
    elif epoch not in available:
        raise RunError(f"{run_dir} has no checkpoint of epoch {epoch}; available: {available}.")
    try:
        saved.restore_epoch(epoch)
    except checkpoints.CheckpointError as error:
        others = [e for e in available if e != epoch]
        raise RunError(f"{error} Other checkpoints: {others or 'none'} (--checkpoint N picks one).") from None
    model.set_epoch(epoch - 1)
    return config, vocab, model, epoch


class RunLock:
    """An exclusive lock on a run directory (``<run_dir>/.lock``, holding the owner's PID), so that
    two processes never train into one directory. The operating system releases it when the
    process ends, however it ends."""

    def __init__(self, run_dir: os.PathLike):
        self.path = Path(run_dir) / ".lock"
        self._file = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunError(f"{self.path.parent} is in use by another process (PID {holder}); wait for it to "
                           "finish or stop it, or train into another --output_dir.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
