"""Run directories, for training, evaluation and generation alike: JSON written atomically, the
history, the config check on resume, the "finished" check, the lock, and loading a run back."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Optional

from tf_varattn.config import Config, config_differences
from tf_varattn.data.vocab import EncodingRules, TaskVocabulary
from tf_varattn.models import build_model
from tf_varattn.runtime import write_json  # noqa: F401  (the scripts import it from here)
from tf_varattn.training import checkpoints


class RunError(ValueError):
    """A run directory lacks what is asked of it; the message says what to run first."""


# Fields that may differ when a run directory is resumed (they do not change the training so far).
# The data files may be given another way (a relative path, now recorded absolute): data_sources.json
# refuses other content.
RESUMABLE_CHANGES = {"epochs", "eval_subset", "num_samples", "eval_epoch", "z_temperature", "attention_temperature",
                     "train_file", "val_file", "test_file"}


# The fields every config.json holds (a file without them is damaged, not an old version).
CORE_FIELDS = ("preset", "task", "variational", "attention")
_RESTORE = "restore it from a copy (the run's published files under results/runs/ hold one)"


def read_run_json(path: Path, kind: type, fix: str):
    """The JSON ``kind`` (dict or list) in the run file ``path``; a damaged one (not JSON, or JSON of
    another shape) is a :class:`RunError` naming the file and ``fix``."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path} is damaged, not JSON ({error}); {fix}.") from None
    if not isinstance(value, kind):
        raise RunError(f"{path} is damaged: it holds a JSON {type(value).__name__}, not a JSON "
                       f"{'object' if kind is dict else 'list'}; {fix}.")
    return value


def read_config(path: Path) -> dict:
    """A run's ``config.json`` as a dict; damaged (not JSON, not an object, without its core fields):
    a :class:`RunError` naming it and the fix."""
    fix = f"{_RESTORE}, or write it again by training into a new --output_dir with the run's flags"
    stored = read_run_json(path, dict, fix)
    missing = [field for field in CORE_FIELDS if field not in stored]
    if missing:
        raise RunError(f"{path} is damaged: it lacks {', '.join(missing)} (every config.json holds them); {fix}.")
    return stored


def read_history(run_dir: os.PathLike, name: str = "history.json") -> list[dict]:
    """The run's per-epoch history (empty before the first epoch ends); ``name``: another history
    file of the run (the pending one, written before its epoch's checkpoint)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return []
    history = read_run_json(path, list, f"{_RESTORE}, or train the run again from the start "
                                        "(experiments/train.py ... --restart_from_epoch=0)")
    if not all(isinstance(entry, dict) and "epoch" in entry for entry in history):
        raise RunError(f"{path} is damaged: every entry of a history is an object with its epoch; {_RESTORE}.")
    return history


def check_config(run_dir: Path, config: Config, write: bool = True, ignore: tuple[str, ...] = ()) -> None:
    """Writes ``config.json``, or checks that a resumed run directory holds the same config
    (fields in ``ignore`` are not compared; with ``write=False`` nothing is written)."""
    path = run_dir / "config.json"
    if path.is_file():
        stored = read_config(path)
        current = config.to_dict()
        changed = config_differences(stored, current, ignore=tuple(RESUMABLE_CHANGES) + tuple(ignore))
        if changed:
            details = ", ".join(f"{k}: {stored.get(k)!r} -> {current[k]!r}" for k in changed)
            raise RunError(
                f"{run_dir} holds a run with a different config ({details}). "
                "Use another --output_dir, or the same flags to resume it."
            )
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, config.to_dict())


def check_finished(run_dir: os.PathLike, config: Config) -> bool:
    """Whether ``run_dir`` holds exactly ``config`` (every field but the data-sized ones) trained
    for all its epochs. Another config there is a :class:`RunError` naming the differing fields;
    a run with fewer epochs than asked is unfinished (resuming extends it)."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        return False
    stored, current = read_config(path), config.to_dict()
    extending = ("epochs",) if stored.get("epochs", 0) < current["epochs"] else ()
    changed = config_differences(stored, current, ignore=extending)
    if changed:
        details = ", ".join(f"{k}: {stored.get(k)!r} (asked {current[k]!r})" for k in changed)
        raise RunError(f"{run_dir} holds a run with another config ({details}). Move it away, or use another "
                       "run root (VARATTN_RUNS) for runs with other settings.")
    return len(read_history(run_dir)) >= config.epochs


def evaluation_epoch(config: Config) -> int:
    """The epoch whose checkpoint is the run's evaluation: ``eval_epoch``, or the last epoch of a run
    trained for fewer epochs."""
    return min(config.eval_epoch, config.epochs)


def load_run(run_dir: os.PathLike, epoch: Optional[int] = None, newest_if_missing: bool = True):
    """Returns ``(config, vocab, model, epoch)`` with the model restored from ``epoch`` (default: the
    run's :func:`evaluation_epoch` if kept, else the newest checkpoint; with ``newest_if_missing=False``
    a missing evaluation epoch is an error: the run's evaluation is never made from another epoch)."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no config.json). Train one with experiments/train.py.")
    try:
        config = Config.from_dict(read_config(config_path))
    except (TypeError, ValueError) as error:
        if isinstance(error, RunError):
            raise
        raise RunError(f"{config_path} is damaged: {error}; {_RESTORE}.") from None
    vocab_path = run_dir / "vocab.json"
    if not vocab_path.is_file():
        raise RunError(f"{run_dir} has no vocab.json (training writes it first, with the run's vocabulary); "
                       "restore it, or train the run again into a new directory with experiments/train.py.")
    try:
        vocab = TaskVocabulary.load(vocab_path).with_rules(EncodingRules.of(config))
    except ValueError as error:  # a damaged file (DataError)
        raise RunError(str(error)) from None
    model = build_model(config)
    saved = checkpoints.RunCheckpoints(run_dir, model)
    available = saved.finished_epochs()
    if not available:
        raise RunError(f"{run_dir} has no finished epoch yet; train (or resume) it with experiments/train.py.")
    if epoch is None:
        epoch = evaluation_epoch(config)
        if epoch not in available and not newest_if_missing:
            state = (f"it has finished epochs {available} of {config.epochs} (still training? wait for epoch {epoch})"
                     if available[-1] < epoch else f"its checkpoint is gone (kept: {available})")
            raise RunError(f"{run_dir}: epoch {epoch}, the run's evaluation epoch (eval_epoch={config.eval_epoch}), has "
                           f"no checkpoint: {state}. To evaluate another epoch, name it: --checkpoint N (its files "
                           "are named -epochN and never count as the run's evaluation).")
        if epoch not in available:
            epoch = available[-1]
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
