"""Everything a run needs from the data, built once per run directory: vocabulary, encoded
splits, references for the metrics and (optionally) word2vec embedding matrices."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np

from tf_varattn.config import Config
from tf_varattn.data.corpora import SPLITS, TASKS, Split, get_task, load_split, load_splits, resolve_data_dir, split_path
from tf_varattn.data.embeddings import Word2VecConfig, embedding_matrix, load_or_train_word2vec
from tf_varattn.data.pipeline import EncodedSplit, encode_split
from tf_varattn.data.vocab import EncodingRules, TaskVocabulary, TokenizedSplit, tokenize_split, word_tokenize

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

    def sized(self, config: Config) -> Config:
        """``config`` with the vocabulary sizes of this data."""
        return config.replace(source_vocab_size=len(self.vocab.source), target_vocab_size=len(self.vocab.target))


def empty_source_lines(sources: list[list[str]]) -> list[int]:
    """CSV line numbers (header = line 1) of the sources with no word after tokenization."""
    return [index + 2 for index, tokens in enumerate(sources) if not tokens]


def report_empty_sources(task: str, split: str, sources: list[list[str]]) -> None:
    """Says how many sources of a split have no word after tokenization. They are kept (the
    reference kept them, and the test sets stay whole): the encoder then sees an empty source."""
    lines = empty_source_lines(sources)
    if lines:
        shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
        logger.warning("%s %s: %d of %d sources have no word after tokenization (CSV lines %s); kept, "
                       "as the reference kept them: the model sees an empty source.",
                       task, split, len(lines), len(sources), shown)


def prepare_task_data(
    config: Config,
    run_dir: os.PathLike,
    data_dir: Optional[str] = None,
    embedding_cache_dir: Optional[os.PathLike] = None,
) -> TaskData:
    """Loads the task's splits, fits (or reloads ``run_dir/vocab.json``) the vocabulary and encodes.

    For the VAE pilot (``config.autoencoder``) the target of every pair is its source.
    Word2vec vectors are cached in ``embedding_cache_dir`` (default ``run_dir``).
    """
    run_dir = Path(run_dir)
    raw = load_splits(resolve_data_dir(data_dir), config.task, SPLITS, config.max_examples)
    if config.autoencoder:
        raw = {name: dataclasses.replace(split, targets=list(split.sources)) for name, split in raw.items()}
    spec = get_task(config.task)
    tokenized = {name: tokenize_split(split, spec, config.truncate_before_filter) for name, split in raw.items()}
    whole_targets = ({name: tokenize_split(split, spec)[1] for name, split in raw.items()}
                     if config.truncate_before_filter else None)
    for name, (sources, _) in tokenized.items():
        report_empty_sources(config.task, name, sources)
    vocab_path = run_dir / "vocab.json"
    if vocab_path.is_file():
        vocab = TaskVocabulary.load(vocab_path)
    else:
        vocab = TaskVocabulary.fit(config.task, tokenized.values())
        run_dir.mkdir(parents=True, exist_ok=True)
        vocab.save(vocab_path)
    vocab = vocab.with_rules(EncodingRules.of(config))
    encoded = {name: encode_split(pairs, vocab) for name, pairs in tokenized.items()}
    embeddings = None
    if config.pretrained_embeddings:
        if config.word2vec_corpus == "reference":
            sentences = reference_word2vec_corpus(resolve_data_dir(data_dir), config)
        else:
            sentences = [tokens for sources, targets in tokenized.values() for tokens in (*sources, *targets)]
        w2v = Word2VecConfig(dim=config.embedding_dim, epochs=config.word2vec_epochs, seed=config.seed)
        vectors = load_or_train_word2vec(sentences, embedding_cache_dir or run_dir, w2v)
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
    for task in TASKS:
        for split in SPLITS:
            if task == config.task or split_path(data_dir, task, split).is_file():
                loaded = load_split(data_dir, task, split, config.max_examples)
                rows += [source + target for source, target in zip(loaded.sources, loaded.targets)]
    order = np.random.default_rng(config.seed).permutation(len(rows))
    return [word_tokenize(rows[index]) for index in order]
