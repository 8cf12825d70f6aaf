"""Everything a run needs from the data, built once per run directory: vocabulary, encoded
splits, references for the metrics and (optionally) word2vec embedding matrices."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from tf_varattn.config import Config
from tf_varattn.data.corpora import (SPLITS, TASKS, DataError, Split, data_files, describe_files, load_data_files,
                                     load_split, resolve_data_dir, split_path, task_spec)
from tf_varattn.data.embeddings import Word2VecConfig, embedding_matrix, load_or_train_word2vec
from tf_varattn.data.pipeline import EncodedSplit, encode_split
from tf_varattn.data.vocab import EncodingRules, TaskVocabulary, TokenizedSplit, tokenize_split, word_tokenize
from tf_varattn.runtime import write_json

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TaskData:
    """Encoded splits plus what evaluation needs (raw sources, tokenized references)."""

    vocab: TaskVocabulary
    raw: dict[str, Split]
    tokenized: dict[str, TokenizedSplit]
    encoded: dict[str, EncodedSplit]
    embeddings: Optional[tuple[np.ndarray, np.ndarray]]

    # Targets tokenized whole, when ``tokenized`` keeps only their first tokens (truncate_before_filter).
    whole_targets: Optional[dict[str, list[list[str]]]] = None

    def references(self, split: str) -> list[list[str]]:
        """Tokenized references as the metrics compare them (qgen: with the ``?`` put back); whole
        sentences, also when training sees only their first tokens."""
        suffix = ["?"] if self.vocab.spec.append_question_mark else []
        targets = (self.whole_targets or {}).get(split, self.tokenized[split][1])
        return [tokens + suffix for tokens in targets]

    def require_split(self, split: str) -> None:
        """Raises :class:`DataError` (with the fix) unless the run's data has ``split``."""
        if split not in self.encoded:
            raise DataError(f"This run's data has no {split} split (it was trained without --{split}_file); "
                            f"use one of its splits: --split={'/'.join(s for s in self.encoded if s != 'train')}.")

    def sized(self, config: Config) -> Config:
        """``config`` with the vocabulary sizes of this data."""
        return config.replace(source_vocab_size=len(self.vocab.source), target_vocab_size=len(self.vocab.target))


def empty_source_lines(sources: list[list[str]], header: bool = True) -> list[int]:
    """Line numbers (in a table the header is line 1) of the sources with no word after tokenization."""
    return [index + 1 + header for index, tokens in enumerate(sources) if not tokens]


def report_empty_sources(task: str, split: str, sources: list[list[str]], header: bool = True) -> None:
    """Says how many sources of a split have no word after tokenization. They are kept (the
    reference kept them, and the test sets stay whole): the encoder then sees an empty source."""
    lines = empty_source_lines(sources, header)
    if lines:
        shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
        logger.warning("%s %s: %d of %d sources have no word after tokenization (lines %s); kept, "
                       "as the reference kept them: the model sees an empty source.",
                       task, split, len(lines), len(sources), shown)


DATA_SOURCES_FILE = "data_sources.json"


def check_data_sources(run_dir: Path, files: dict[str, tuple[Path, ...]]) -> dict:
    """Records where a run's data came from (``data_sources.json``: every file's path, size and
    SHA-256) the first time, and refuses other data afterwards: a file whose content changed, a
    split added or gone. A file moved with the same content is accepted (and logged)."""
    current = describe_files(files)
    path = run_dir / DATA_SOURCES_FILE
    if not path.is_file():
        return current
    recorded = json.loads(path.read_text(encoding="utf-8"))
    if set(recorded) != set(current):
        raise DataError(f"{run_dir} was trained with the splits {sorted(recorded)}, but now has {sorted(current)} "
                        f"({path}). Give the same files as before, or train into a new --output_dir.")
    for split, entries in recorded.items():
        for before, now in zip(entries, current[split]):
            if before["sha256"] != now["sha256"]:
                raise DataError(
                    f"{now['path']} ({split}) is not the file this run was trained on: {before['path']} had "
                    f"SHA-256 {before['sha256'][:16]}... ({before['bytes']} bytes), this one has "
                    f"{now['sha256'][:16]}... ({now['bytes']} bytes). Restore that file, or train into a new "
                    "--output_dir.")
            if before["path"] != now["path"]:
                logger.info("%s: %s now read from %s (same content)", split, before["path"], now["path"])
    return recorded


def recorded_where_missing(files: dict[str, tuple[Path, ...]], run_dir: Path) -> dict[str, tuple[Path, ...]]:
    """A split whose given files are relative paths missing from the working directory (a run
    trained elsewhere with relative ``--<split>_file`` values, before they were recorded absolute)
    is read from the absolute paths recorded in the run's ``data_sources.json`` (its content is
    checked against the record all the same)."""
    path = run_dir / DATA_SOURCES_FILE
    if not path.is_file():
        return files
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return files  # check_data_sources names the damaged file
    found = dict(files)
    for split, paths in files.items():
        entries = recorded.get(split) if isinstance(recorded, dict) else None
        if entries and all(not p.is_absolute() and not p.exists() for p in paths) and len(entries) == len(paths):
            found[split] = tuple(Path(entry["path"]) for entry in entries)
    return found


def prepare_task_data(
    config: Config,
    run_dir: os.PathLike,
    data_dir: Optional[str] = None,
    embedding_cache_dir: Optional[os.PathLike] = None,
    earlier_embedding_caches: Sequence[os.PathLike] = (),
) -> TaskData:
    """Loads the task's splits, fits (or reloads ``run_dir/vocab.json``) the vocabulary and encodes.

    For the VAE pilot (``config.autoencoder``) the target of every pair is its source.
    Word2vec vectors are cached in ``embedding_cache_dir`` (default: the user's cache,
    :func:`~tf_varattn.data.embeddings.default_cache_dir`); see
    :func:`~tf_varattn.data.embeddings.load_or_train_word2vec` for ``earlier_embedding_caches``.
    """
    run_dir = Path(run_dir)
    files = recorded_where_missing(data_files(config, data_dir), run_dir)
    raw = load_data_files(config, files)
    sources_record = check_data_sources(run_dir, files)
    if config.autoencoder:
        raw = {name: dataclasses.replace(split, targets=list(split.sources)) for name, split in raw.items()}
    spec = task_spec(config)
    tokenized = {name: tokenize_split(split, spec, config.truncate_before_filter) for name, split in raw.items()}
    whole_targets = ({name: tokenize_split(split, spec)[1] for name, split in raw.items()}
                     if config.truncate_before_filter else None)
    for name, (sources, _) in tokenized.items():
        report_empty_sources(config.task, name, sources, header=len(files[name]) == 1)
    vocab_path = run_dir / "vocab.json"
    if vocab_path.is_file():
        vocab = TaskVocabulary.load(vocab_path)
    else:
        vocab = TaskVocabulary.fit(spec, [tokenized[split] for split in spec.vocabulary_splits if split in tokenized])
        run_dir.mkdir(parents=True, exist_ok=True)
        vocab.save(vocab_path)
    if not (run_dir / DATA_SOURCES_FILE).is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / DATA_SOURCES_FILE, sources_record)
    vocab = vocab.with_rules(EncodingRules.of(config))
    encoded = {name: encode_split(pairs, vocab) for name, pairs in tokenized.items()}
    embeddings = None
    if config.pretrained_embeddings:
        if config.word2vec_corpus == "reference":
            sentences = reference_word2vec_corpus(resolve_data_dir(data_dir), config)
        else:
            sentences = [tokens for split in spec.vocabulary_splits if split in tokenized
                         for tokens in (*tokenized[split][0], *tokenized[split][1])]
        w2v = Word2VecConfig(dim=config.embedding_dim, epochs=config.word2vec_epochs, seed=config.seed)
        vectors = load_or_train_word2vec(sentences, embedding_cache_dir, w2v, earlier_embedding_caches)
        embeddings = (
            embedding_matrix(vocab.source, vectors, config.embedding_dim, config.seed),
            embedding_matrix(vocab.target, vectors, config.embedding_dim, config.seed + 1),
        )
    return TaskData(vocab, raw, tokenized, encoded, embeddings, whole_targets)


def reference_word2vec_corpus(data_dir: Path, config: Config) -> list[list[str]]:
    """The released code's word2vec corpus: each row of all six CSVs (both tasks' train, val and
    test; ``max_examples`` rows of each) as its two columns concatenated with no space between
    them, ``word_tokenize``d, case kept; rows shuffled (here with the run's seed, so that a run
    is reproducible: the released code used none)."""
    rows = []
    for task in (name for name, spec in TASKS.items() if spec.files):  # the paper's tasks
        for split in SPLITS:
            if task == config.task or split_path(data_dir, task, split).is_file():
                loaded = load_split(data_dir, task, split, config.max_examples)
                rows += [source + target for source, target in zip(loaded.sources, loaded.targets)]
    order = np.random.default_rng(config.seed).permutation(len(rows))
    return [word_tokenize(rows[index]) for index in order]
