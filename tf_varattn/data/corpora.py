"""Reading the paper's (source, target) splits from the authors' CSV files.

Question generation (``qgen``): ``varattn/df_qgen_{split}.csv``, source = column
``answer`` (it holds the sentence), target = ``question``.
Dialogue: ``varattn/df_dialogue_{split}.csv``, source = ``line``, target = ``reply``.

Every problem in a file (missing file, missing column, malformed row, empty cell,
bytes that are not UTF-8) raises :class:`DataError` naming the file, the line and
the fix. Nothing is skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path
from typing import Optional, Sequence

DATA_DIR_ENV = "VARATTN_DATA_DIR"
SPLITS = ("train", "val", "test")
DOWNLOAD_HINT = (
    "Fetch the data with `python -m tf_varattn.data.download --dest DIR` "
    "(or copy a local mirror with `--from MIRROR`), then pass `--data_dir DIR` "
    f"or set {DATA_DIR_ENV}=DIR."
)

# Characters the reference's Keras-style tokenizer replaces by spaces.
_BASE_FILTERS = '!"#$%&()*+/:;<=>@[\\]^`{|}~\t\n'


class DataError(ValueError):
    """A data file is missing or malformed; the message says where and how to fix it."""


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What differs between the two tasks of the paper (Sections 4.1 and 4.2)."""

    name: str
    file_prefix: str
    source_column: str
    target_column: str
    filters: str
    max_source_length: int
    max_target_length: int
    vocab_size: int
    append_question_mark: bool


TASKS = {
    "qgen": TaskSpec(
        name="qgen",
        file_prefix="df_qgen",
        source_column="answer",
        target_column="question",
        # `,` `.` and `?` are filtered too; `-`, `_` and `'` survive.
        filters=_BASE_FILTERS + ",.?",
        max_source_length=30,
        max_target_length=20,
        vocab_size=40_000,
        append_question_mark=True,
    ),
    "dialogue": TaskSpec(
        name="dialogue",
        file_prefix="df_dialogue",
        source_column="line",
        target_column="reply",
        # `,` `.` `-` `?` `'` survive.
        filters=_BASE_FILTERS,
        max_source_length=20,
        max_target_length=20,
        vocab_size=30_000,
        append_question_mark=False,
    ),
}


def get_task(task: str) -> TaskSpec:
    """Returns the :class:`TaskSpec` of ``task``; unknown names list the valid ones."""
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(sorted(TASKS))}.") from None


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
    """Path of one split's CSV inside the data directory."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(SPLITS)}.")
    return Path(data_dir) / "varattn" / f"{get_task(task).file_prefix}_{split}.csv"


def _decode_utf8(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark at the start (Excel, Notepad) is dropped
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path}, line {line}: byte {raw[error.start:error.start + 1]!r} is not UTF-8. "
            "Re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None


def read_pairs(path: os.PathLike, source_column: str, target_column: str) -> tuple[list[str], list[str]]:
    """Reads (source, target) columns of a CSV with a header row, validating every row."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Missing data file {path}. {DOWNLOAD_HINT}")
    text = _decode_utf8(path, path.read_bytes())
    # Strict quoting, and one record per line: a quote left open would otherwise swallow the
    # following lines into one cell without any error.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path} is empty; expected a header row with columns {source_column!r}, {target_column!r}.")
    missing = [c for c in (source_column, target_column) if c not in header]
    if missing:
        raise DataError(
            f"{path}, line 1: missing column(s) {missing}; the header has {header}. "
            f"The file needs columns {source_column!r} and {target_column!r}: is this the right file for the task?"
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
                raise DataError(
                    f"{path}, line {reader.line_num}: malformed row with {len(row)} field(s), "
                    f"expected {len(header)} ({', '.join(header)}). Fix or quote that row."
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
    """Loads one split of a task; ``max_examples`` keeps the first rows (for quick runs)."""
    spec = get_task(task)
    sources, targets = read_pairs(split_path(data_dir, task, split), spec.source_column, spec.target_column)
    if max_examples is not None:
        sources, targets = sources[:max_examples], targets[:max_examples]
    return Split(task=task, name=split, sources=sources, targets=targets)


def load_splits(
    data_dir: os.PathLike, task: str, splits: Sequence[str] = SPLITS, max_examples: Optional[int] = None
) -> dict[str, Split]:
    """Loads several splits of a task, keyed by split name."""
    return {split: load_split(data_dir, task, split, max_examples) for split in splits}
