"""Tasks as specifications: the paper's two (Sections 4.1 and 4.2) and ``custom``, a user's own
sentence pairs. Everything that differs between tasks is a field here; no code branches on a
task's name. A new task is one more entry in :data:`TASKS`.

A run may override the text-handling fields of its task (:data:`OVERRIDABLE`: config field ->
spec field); :func:`task_spec` applies them.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

SPLITS = ("train", "val", "test")

# Characters the reference's Keras-style tokenizer replaces by spaces.
BASE_FILTERS = '!"#$%&()*+/:;<=>@[\\]^`{|}~\t\n'


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """How one task's sentence pairs are read, tokenized, encoded and batched."""

    name: str
    # Where its files are, relative to the data directory, with ``{split}`` (None: given per run,
    # config fields train_file / val_file / test_file).
    files: Optional[str]
    source_column: str
    target_column: str
    filters: str
    lowercase: bool
    max_source_length: int
    max_target_length: int
    vocab_size: int  # ids in all, the four special tokens included
    append_question_mark: bool  # targets are stored without their "?"; outputs get it back
    vocabulary_splits: tuple[str, ...]  # the splits the vocabularies (and word2vec) are fit on
    batch_size: int
    description: str = ""

    @property
    def file_prefix(self) -> Optional[str]:
        """``df_qgen`` for ``varattn/df_qgen_{split}.csv`` (the paper's files), else None."""
        return self.files.rsplit("/", 1)[-1].split("_{split}")[0] if self.files else None


_PAPER = dict(lowercase=True, vocabulary_splits=SPLITS)  # the reference fit its vocabularies on all three splits

TASKS: dict[str, TaskSpec] = {
    "qgen": TaskSpec(
        name="qgen", files="varattn/df_qgen_{split}.csv", source_column="answer", target_column="question",
        # `,` `.` and `?` are filtered too; `-`, `_` and `'` survive.
        filters=BASE_FILTERS + ",.?", max_source_length=30, max_target_length=20, vocab_size=40_000,
        append_question_mark=True, batch_size=100, **_PAPER,
        description="SQuAD question generation (Table 2)"),
    "dialogue": TaskSpec(
        name="dialogue", files="varattn/df_dialogue_{split}.csv", source_column="line", target_column="reply",
        # `,` `.` `-` `?` `'` survive.
        filters=BASE_FILTERS, max_source_length=20, max_target_length=20, vocab_size=30_000,
        append_question_mark=False, batch_size=128, **_PAPER,
        description="Cornell movie dialogue (Table 4)"),
    "custom": TaskSpec(
        name="custom", files=None, source_column="source", target_column="target",
        filters=BASE_FILTERS, lowercase=True, max_source_length=30, max_target_length=20, vocab_size=30_000,
        append_question_mark=False, vocabulary_splits=("train",), batch_size=100,
        description="your own pairs: --train_file, --val_file [, --test_file]"),
}

# Config fields that override a task's text handling (None: the task's value) -> TaskSpec fields.
OVERRIDABLE = {
    "source_column": "source_column",
    "target_column": "target_column",
    "max_source_length": "max_source_length",
    "max_target_length": "max_target_length",
    "max_vocab_size": "vocab_size",
    "filter_characters": "filters",
    "lowercase": "lowercase",
}


def get_task(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task``; unknown names list the valid ones."""
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)}.") from None


def task_spec(config) -> TaskSpec:
    """The task of ``config`` with the config's overrides (fields of :data:`OVERRIDABLE` not None)."""
    overrides = {spec_field: getattr(config, field) for field, spec_field in OVERRIDABLE.items()
                 if getattr(config, field, None) is not None}
    return dataclasses.replace(get_task(config.task), **overrides)


def spec_to_dict(spec: TaskSpec) -> dict:
    return {**dataclasses.asdict(spec), "vocabulary_splits": list(spec.vocabulary_splits)}


def spec_from_dict(values: dict) -> TaskSpec:
    """The inverse of :func:`spec_to_dict`; fields added later take the named task's value."""
    known = {field.name for field in dataclasses.fields(TaskSpec)}
    base = dataclasses.asdict(TASKS.get(values.get("name"), TASKS["custom"]))
    merged = {**base, **{k: v for k, v in values.items() if k in known}}
    merged["vocabulary_splits"] = tuple(merged["vocabulary_splits"])
    return TaskSpec(**merged)
