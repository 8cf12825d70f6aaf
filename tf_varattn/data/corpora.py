"""Reading a task's (source, target) splits, strictly.

The paper's tasks are CSV files in the data directory (``varattn/df_qgen_{split}.csv``: source =
column ``answer``, which holds the sentence, target = ``question``; ``df_dialogue_*``: ``line`` and
``reply``). Your own pairs (task ``custom``, or a paper task's settings on other files) come per
split as one table, a CSV (``.csv``) or TSV (``.tsv``, ``.tab``) with a header row naming the
source and target columns, or as two aligned text files, ``SOURCE,TARGET``, one sentence per line
(Du et al.'s and OpenNMT's format). Train and validation are required, test optional.

Every problem in a file (missing file, missing column, malformed row, empty cell or line,
aligned files of different lengths, bytes that are not UTF-8) raises :class:`DataError` naming
the file, the line and the fix, before any training. Nothing is skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
from pathlib import Path
from typing import Optional, Sequence

from tf_varattn.tasks import SPLITS, TASKS, TaskSpec, get_task, task_spec

DATA_DIR_ENV = "VARATTN_DATA_DIR"
DOWNLOAD_HINT = (
    "Fetch the data with `python -m tf_varattn.data.download --dest DIR` "
    "(or copy a local mirror with `--from MIRROR`), then pass `--data_dir DIR` "
    f"or set {DATA_DIR_ENV}=DIR."
)
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
__all__ = ["SPLITS", "TASKS", "TaskSpec", "get_task", "task_spec"]  # the task table, re-exported


class DataError(ValueError):
    """A data file is missing or malformed; the message says where and how to fix it."""


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_data_dir_candidates() -> list[Path]:
    """``./data`` then ``../shared/data``, relative to the working directory and to the project root."""
    candidates = []
    for base in (Path.cwd(), _project_root()):
        for relative in ("data", "../shared/data"):
            path = (base / relative).resolve()
            if path not in candidates:
                candidates.append(path)
    return candidates


def resolve_data_dir(data_dir: Optional[str] = None) -> Path:
    """The data directory: the ``data_dir`` argument (flag), else ``$VARATTN_DATA_DIR``, else the
    first existing of ``./data`` and ``../shared/data``."""
    for source, value in (("--data_dir", data_dir), (DATA_DIR_ENV, os.environ.get(DATA_DIR_ENV))):
        if value:
            path = Path(value).expanduser().resolve()
            if not path.is_dir():
                raise DataError(f"Data directory {path} (from {source}) does not exist. {DOWNLOAD_HINT}")
            return path
    for path in default_data_dir_candidates():
        if path.is_dir():
            return path
    tried = ", ".join(str(p) for p in default_data_dir_candidates())
    raise DataError(f"No data directory found (tried {tried}). {DOWNLOAD_HINT}")


def split_path(data_dir: os.PathLike, task: str, split: str) -> Path:
    """Path of one split's file of a paper task inside the data directory."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(SPLITS)}.")
    spec = get_task(task)
    if spec.files is None:
        raise ValueError(f"Task {task!r} has no files of its own; give them with --train_file, --val_file, --test_file.")
    return Path(data_dir) / spec.files.format(split=split)


def given_files(value: str) -> tuple[Path, ...]:
    """The paths of a ``--<split>_file`` value: ``TABLE`` or ``SOURCE,TARGET``."""
    paths = tuple(Path(part.strip()).expanduser() for part in value.split(","))
    if not 1 <= len(paths) <= 2 or any(str(path) in ("", ".") for path in paths):
        raise DataError(f"{value!r}: expected one table file (.csv, .tsv) or two aligned text files as SOURCE,TARGET.")
    return paths


def absolute_files(value: str) -> str:
    """A ``--<split>_file`` value with its paths made absolute (from the working directory), so that
    the run records where its data is and can be evaluated from anywhere."""
    return ",".join(str(path.resolve()) for path in given_files(value))


def data_files(config, data_dir: Optional[str] = None) -> dict[str, tuple[Path, ...]]:
    """The files of every split a run reads, by split: the config's ``<split>_file`` values if it
    gives any (test optional; :meth:`Config.validate` requires train and validation), else the
    task's own files in the data directory."""
    spec = get_task(config.task)
    given = {split: getattr(config, f"{split}_file", None) for split in SPLITS}
    if spec.files is not None and not any(given.values()):
        resolved = resolve_data_dir(data_dir)
        return {split: (resolved / spec.files.format(split=split),) for split in SPLITS}
    return {split: given_files(value) for split, value in given.items() if value}


def _decode_utf8(path: Path, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or raw[:200].count(b"\x00") > len(raw[:200]) // 4:
        raise DataError(f"{path} is UTF-16 (a UTF-16 byte-order mark, or NUL bytes between the characters), not "
                        "UTF-8. Re-encode it: `iconv -f utf-16 -t utf-8 FILE > FILE.utf8`.")
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise DataError(f"{path}, line {line}: a NUL byte (\\x00), which no text holds. Remove it (e.g. "
                        "`tr -d '\\000' < FILE > FILE.clean`).")
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark at the start (Excel, Notepad) is dropped
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path}, line {line}: byte {raw[error.start:error.start + 1]!r} is not UTF-8. "
            "Re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None


def _read_text(path: Path, hint: str) -> str:
    if not path.is_file():
        raise DataError(f"Missing data file {path}. {hint}")
    return _decode_utf8(path, path.read_bytes())


def read_pairs(path: os.PathLike, source_column: str, target_column: str, delimiter: str = ",",
               hint: str = DOWNLOAD_HINT) -> tuple[list[str], list[str]]:
    """Reads (source, target) columns of a CSV (or, with ``delimiter="\t"``, a TSV, where quotes
    are plain characters) with a header row, validating every row."""
    path = Path(path)
    text = _read_text(path, hint)
    # Strict quoting, and one record per line: a quote left open would otherwise swallow the
    # following lines into one cell without any error.
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter, quoting=quoting)
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path} is empty; expected a header row with columns {source_column!r}, {target_column!r}.")
    missing = [c for c in (source_column, target_column) if c not in header]
    if missing:
        kind = "tab" if delimiter == "\t" else "comma"
        raise DataError(
            f"{path}, line 1: missing column(s) {missing}; the header ({kind}-separated) has {header}. "
            f"The file needs columns {source_column!r} and {target_column!r}: is this the right file for the task? "
            "Name yours with --source_column and --target_column."
        )
    source_index, target_index = header.index(source_column), header.index(target_column)
    sources, targets = [], []
    start = reader.line_num + 1
    try:
        for row in reader:
            if reader.line_num != start:
                raise DataError(
                    f"{path}, line {start}: this row runs on to line {reader.line_num} (a quoted field spans "
                    "lines): an opening quote is probably not closed. Close or remove that quote."
                )
            start = reader.line_num + 1
            if len(row) != len(header):
                fix = ("Remove the extra tab(s) or fill in the missing cell(s): in a TSV quotes are plain characters, so "
                       "a cell cannot hold a tab" if delimiter == "\t" else "Fix that row, or quote a cell that holds a comma")
                raise DataError(
                    f"{path}, line {reader.line_num}: malformed row with {len(row)} field(s), "
                    f"expected {len(header)} ({', '.join(header)}). {fix}."
                )
            for index, column in ((source_index, source_column), (target_index, target_column)):
                if not row[index].strip():
                    raise DataError(
                        f"{path}, line {reader.line_num}: empty {column!r} cell. "
                        "Fill it in or remove the row from the file; rows are never skipped silently."
                    )
            sources.append(row[source_index])
            targets.append(row[target_index])
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise DataError(f"{path}, line {start}: a quoted field opened on this line is never closed (the file "
                            "ends inside it). Close or remove that quote.") from None
        raise DataError(f"{path}, line {start}: malformed CSV ({error}). Fix the quoting of that row.") from None
    if not sources:
        raise DataError(f"{path} has a header but no rows.")
    return sources, targets


def read_lines(path: os.PathLike, other: os.PathLike, hint: str) -> list[str]:
    """The lines of one of two aligned text files (``other``: its partner, named in errors)."""
    path = Path(path)
    lines = _read_text(path, hint).split("\n")
    if lines[-1] == "":  # the newline ending the last line
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(f"{path}, line {number}: empty line. Aligned files hold one sentence per line: remove "
                            f"line {number} from both {path.name} and {Path(other).name}, or fill it in; lines are "
                            "never skipped silently.")
    if not lines:
        raise DataError(f"{path} is empty; expected one sentence per line.")
    return lines


def read_aligned(source_path: os.PathLike, target_path: os.PathLike,
                 hint: str = DOWNLOAD_HINT) -> tuple[list[str], list[str]]:
    """Reads two aligned text files, line i of one paired with line i of the other."""
    sources = read_lines(source_path, target_path, hint)
    targets = read_lines(target_path, source_path, hint)
    if len(sources) != len(targets):
        raise DataError(f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: aligned "
                        "files need exactly one target line per source line. Find where they drift apart (a "
                        "sentence split over two lines, a missing line) and fix it.")
    return sources, targets


def read_files(paths: Sequence[Path], spec: TaskSpec, hint: str = DOWNLOAD_HINT) -> tuple[list[str], list[str]]:
    """The (sources, targets) of one split from its files: one table, or two aligned text files."""
    if len(paths) == 2:
        return read_aligned(*paths, hint=hint)
    (path,) = paths
    delimiter = TABLE_DELIMITERS.get(Path(path).suffix.lower())
    if delimiter is None:
        raise DataError(f"{path}: cannot tell the format from its name; a table must end in "
                        f"{', '.join(TABLE_DELIMITERS)}, and aligned text files are given together as SOURCE,TARGET.")
    return read_pairs(path, spec.source_column, spec.target_column, delimiter, hint)


def file_sha256(path: os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(files: dict[str, Sequence[Path]]) -> dict[str, list[dict]]:
    """Where a run's data came from: every split's files, absolute path, size and SHA-256."""
    return {split: [{"path": str(Path(path).resolve()), "bytes": Path(path).stat().st_size,
                     "sha256": file_sha256(path)} for path in paths] for split, paths in files.items()}


@dataclasses.dataclass
class Split:
    """Raw (untokenized) sentences of one split."""

    task: str
    name: str
    sources: list[str]
    targets: list[str]

    def __len__(self) -> int:
        return len(self.sources)


def load_split(data_dir: os.PathLike, task: str, split: str, max_examples: Optional[int] = None) -> Split:
    """Loads one split of a paper task; ``max_examples`` keeps the first rows (for quick runs)."""
    sources, targets = read_files((split_path(data_dir, task, split),), get_task(task))
    return Split(task=task, name=split, sources=sources[:max_examples], targets=targets[:max_examples])


def load_splits(
    data_dir: os.PathLike, task: str, splits: Sequence[str] = SPLITS, max_examples: Optional[int] = None
) -> dict[str, Split]:
    """Loads several splits of a paper task, keyed by split name."""
    return {split: load_split(data_dir, task, split, max_examples) for split in splits}


def load_data_files(config, files: dict[str, Sequence[Path]]) -> dict[str, Split]:
    """The splits of a run (:func:`data_files`), read with its task's settings; ``max_examples``
    keeps the first rows of each."""
    spec, splits = task_spec(config), {}
    for split, paths in files.items():
        given = getattr(config, f"{split}_file", None)
        sources, targets = read_files(paths, spec, f"Check the path given with --{split}_file." if given else DOWNLOAD_HINT)
        splits[split] = Split(config.task, split, sources[:config.max_examples], targets[:config.max_examples])
    return splits
