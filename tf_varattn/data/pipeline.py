"""Encoded splits and ``tf.data`` pipelines of padded id batches with lengths.

Shuffling is an explicit permutation drawn from ``(seed, epoch)``, so the order of
every epoch is reproducible and a resumed run sees the same batches as an
uninterrupted one. ``shuffle=False`` keeps file order, as the reference did.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from tf_varattn.data.vocab import PAD_ID, TaskVocabulary, TokenizedSplit


@dataclasses.dataclass
class EncodedSplit:
    """Id sequences of one split (sources without EOS; targets with EOS unless truncated)."""

    source_ids: list[list[int]]
    target_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.source_ids)


def encode_split(tokenized: TokenizedSplit, vocab: TaskVocabulary) -> EncodedSplit:
    """Encodes a tokenized split (:func:`~tf_varattn.data.vocab.tokenize_split`) with the task vocabulary."""
    sources, targets = tokenized
    return EncodedSplit([vocab.encode_source(t) for t in sources], [vocab.encode_target(t) for t in targets])


def pad_sequences(sequences: list[list[int]], width: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-pads with PAD to ``width`` (default: the longest); returns ``(ids [N, width], lengths [N])``."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int32)
    width = int(lengths.max(initial=1)) if width is None else width
    if lengths.size and lengths.max() > width:
        raise ValueError(f"A sequence of length {lengths.max()} does not fit width {width}.")
    ids = np.full((len(sequences), width), PAD_ID, dtype=np.int32)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
    return ids, lengths


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of one epoch: a permutation determined by ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def bucketed_order(
    order: np.ndarray, source_length: np.ndarray, target_length: np.ndarray, batch_size: int, pool_batches: int,
    rng: Optional[np.random.Generator] = None,
) -> np.ndarray:
    """Length bucketing: ``order`` regrouped so each batch holds sentences of similar length.

    Consecutive pools of ``pool_batches * batch_size`` examples (of ``order``) are sorted by
    target length, then source length; the sorted sequence is cut into batches, and the full
    batches are permuted with ``rng`` (the partial one, if any, stays last). Every example
    still appears exactly once per epoch; only the batch composition changes.
    """
    pool = batch_size * pool_batches
    pools = [order[start:start + pool] for start in range(0, len(order), pool)]
    ordered = np.concatenate([p[np.lexsort((source_length[p], target_length[p]))] for p in pools]) if pools else order
    full = len(ordered) // batch_size
    batches = ordered[: full * batch_size].reshape(full, batch_size)
    if rng is not None:
        batches = batches[rng.permutation(full)]
    return np.concatenate([batches.reshape(-1), ordered[full * batch_size:]])


def _trim_to_longest(batch: dict) -> dict:
    """Cuts the padding columns that no sequence of the batch uses."""
    source_width = tf.reduce_max(batch["source_length"])
    target_width = tf.reduce_max(batch["target_length"])
    return {
        "source_ids": batch["source_ids"][:, :source_width],
        "source_length": batch["source_length"],
        "target_ids": batch["target_ids"][:, :target_width],
        "target_length": batch["target_length"],
    }


def make_dataset(
    encoded: EncodedSplit,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    drop_remainder: bool = False,
    bucket_pool: int = 0,
) -> tf.data.Dataset:
    """Batches of ``source_ids [B, S]``, ``source_length [B]``, ``target_ids [B, T]``, ``target_length [B]``.

    Each batch is padded to its own longest sequence. ``bucket_pool > 0`` groups sentences
    of similar length into batches (:func:`bucketed_order`, pools of that many batches), so
    the recurrences run fewer padded steps.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    source_ids, source_length = pad_sequences(encoded.source_ids)
    target_ids, target_length = pad_sequences(encoded.target_ids)
    order = None
    if shuffle:
        order = epoch_order(len(encoded), seed, epoch)
    if bucket_pool > 0:
        rng = np.random.default_rng([seed, epoch, 1]) if shuffle else None
        order = bucketed_order(np.arange(len(encoded)) if order is None else order, source_length, target_length,
                               batch_size, bucket_pool, rng)
    if order is not None:
        source_ids, source_length = source_ids[order], source_length[order]
        target_ids, target_length = target_ids[order], target_length[order]
    dataset = tf.data.Dataset.from_tensor_slices(
        {
            "source_ids": source_ids,
            "source_length": source_length,
            "target_ids": target_ids,
            "target_length": target_length,
        }
    )
    # No tf.data autotuning: its optimizer wakes once a minute, and the end of a long pass waited
    # for that wake-up (results/benchmarks.md, session 11). Two batches ahead are plenty: a batch
    # takes far less time to build than a training step.
    options = tf.data.Options()
    options.autotune.enabled = False
    batches = dataset.batch(batch_size, drop_remainder=drop_remainder).map(_trim_to_longest)
    return batches.prefetch(2).with_options(options)
