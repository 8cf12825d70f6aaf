"""A trained run as a SavedModel for serving (``experiments/export.py``).

The export holds the model's weights, its two vocabularies as assets and two signatures, the
search fixed at export time:

- ``generate_tokens``: ``tokens`` (string ``[B, S]``, the source's Treebank tokens, padded with
  ``""``), ``num_samples`` (int32), ``z_temperature`` and ``attention_temperature`` (float32; 0 and
  0 give MAP) and ``seed`` (int64) -> ``outputs`` (string ``[B, N, T]``, padded with ``""``) and
  ``lengths`` (int32 ``[B, N]``, tokens per output);
- ``generate_ids``: ``source_ids`` (int32 ``[B, S]``, padded with 0) and ``source_length`` (int32
  ``[B]``) with the same four -> ``ids`` (int32 ``[B, N, max_length]``, PAD after EOS) and ``lengths``
  (tokens before EOS).

In the graph, as :meth:`TaskVocabulary.tokenize` and ``encode_source`` do in Python: lower-casing,
the task's character filter, the splitting on spaces, truncation and the lookup (unknown words to
UNK); for the outputs, the words up to EOS (and qgen's ``?`` put back). The client does the one
step that cannot run in a graph: NLTK's Treebank word tokenization (``docs/serving.md``).

Every draw (z, the attention vectors, a sampling search's tokens) comes from the ``seed`` input
through stateless random ops, never from a shared stream: one request's outputs are a function of
its inputs, and concurrent requests cannot race.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from tf_varattn.data.vocab import EOS_ID, GO_ID, PAD_ID, UNK_ID
from tf_varattn.decoding import Decoder, Search

SIGNATURES = ("generate_tokens", "generate_ids")
_CONTROLS = [tf.TensorSpec([], tf.int32, name="num_samples"), tf.TensorSpec([], tf.float32, name="z_temperature"),
             tf.TensorSpec([], tf.float32, name="attention_temperature"), tf.TensorSpec([], tf.int64, name="seed")]


class ExportError(ValueError):
    """An export that cannot be written as asked (the message names the fix)."""


def _character_class(characters: str) -> str:
    """An RE2 character class matching each of ``characters`` (every one escaped by its code point)."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in characters) + "]"


class GraphVocabulary:
    """A run's vocabularies as lookup tables over asset files, and its text handling as graph ops:
    :meth:`encode` is ``TaskVocabulary.tokenize`` + ``encode_source`` after the Treebank tokenization,
    :meth:`words` is ``decode_target``."""

    def __init__(self, vocab, asset_dir: Path, max_length: int):
        self.spec, self.rules, self.max_length = vocab.spec, vocab.rules, max_length
        source_file, target_file = Path(asset_dir) / "source_vocab.txt", Path(asset_dir) / "target_vocab.txt"
        source_file.write_text("\n".join(vocab.source.id_to_token) + "\n", encoding="utf-8")
        target_file.write_text("\n".join(vocab.target.id_to_token) + "\n", encoding="utf-8")
        line = tf.lookup.TextFileIndex
        self.source_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(str(source_file), tf.string, line.WHOLE_LINE, tf.int64, line.LINE_NUMBER),
            default_value=UNK_ID)
        self.target_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(str(target_file), tf.int64, line.LINE_NUMBER, tf.string, line.WHOLE_LINE),
            default_value="")

    def encode(self, tokens):
        """``tokens [B, S]`` (Treebank tokens, "" padding) -> ``(source_ids [B, S'], source_length [B])``."""
        limit = self.spec.max_source_length
        words = tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))
        if self.rules.truncate_before_filter:  # the released code: the first N Treebank tokens, then filter
            words = words[:, :limit]
        joined = tf.strings.reduce_join(words, axis=-1, separator=" ")
        if self.spec.lowercase:
            joined = tf.strings.lower(joined, encoding="utf-8")
        if self.spec.filters:
            joined = tf.strings.regex_replace(joined, _character_class(self.spec.filters), " ")
        words = tf.strings.split(joined)  # on runs of whitespace, as str.split()
        ids = tf.ragged.map_flat_values(lambda w: tf.cast(self.source_table.lookup(w), tf.int32), words[:, :limit])
        if self.rules.source_eos:  # EOS appended: always, then cut (eos_then_truncate), or only when nothing was cut
            with_eos = tf.ones_like(words.row_lengths()) if self.rules.eos_then_truncate else \
                tf.cast(words.row_lengths() <= limit, tf.int64)
            eos = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(with_eos)], EOS_ID), with_eos)
            ids = tf.concat([ids, eos], axis=1)
            ids = ids[:, :limit] if self.rules.eos_then_truncate else ids
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        dense = ids.to_tensor(PAD_ID)
        return tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]]), lengths  # at least one column

    def words(self, ids):
        """Output ids ``[B, N, max_length]`` -> ``outputs [B, N, T]`` (strings up to EOS, "" padding) and
        their ``lengths [B, N]``."""
        batch, samples = tf.shape(ids)[0], tf.shape(ids)[1]
        flat = tf.reshape(ids, [-1, self.max_length])
        ended = tf.cumsum(tf.cast(tf.logical_or(tf.equal(flat, EOS_ID), tf.equal(flat, PAD_ID)), tf.int32), axis=1) > 0
        kept = tf.ragged.boolean_mask(flat, tf.logical_not(ended) & tf.not_equal(flat, GO_ID))  # decode() skips GO
        words = tf.ragged.map_flat_values(lambda i: self.target_table.lookup(tf.cast(i, tf.int64)), kept)
        width = self.max_length
        if self.spec.append_question_mark:  # qgen's targets were stored without their "?"
            words = tf.concat([words, tf.RaggedTensor.from_tensor(tf.fill([tf.shape(flat)[0], 1], "?"))], axis=1)
            width += 1
        counts = tf.cast(tf.reshape(words.row_lengths(), [batch, samples]), tf.int32)
        return tf.reshape(words.to_tensor("", shape=[None, width]), [batch, samples, width]), counts


class _Graph:
    """The signatures' bodies: the text handling, the model and the search."""

    def __init__(self, trained, search: Search, asset_dir: Path):
        self.decoder = Decoder(trained.model, search)
        self.max_length = self.decoder.max_length
        self.text = GraphVocabulary(trained.vocab, asset_dir, self.max_length)

    def decode_ids(self, source_ids, source_length, num_samples, z_temperature, attention_temperature, seed):
        """``[B, S]`` sources -> ``ids [B, N, max_length]`` (PAD after EOS) and ``lengths [B, N]`` (before EOS)."""
        source_ids = tf.repeat(source_ids, num_samples, axis=0)
        source_length = tf.repeat(source_length, num_samples, axis=0)
        ids = self.decoder.decode_graph(source_ids, source_length, z_temperature, attention_temperature,
                                         seed=tf.stack([seed, tf.constant(0, tf.int64)]))
        ended = tf.cumsum(tf.cast(tf.logical_or(tf.equal(ids, EOS_ID), tf.equal(ids, PAD_ID)), tf.int32), axis=1) > 0
        ids = tf.where(ended, tf.fill(tf.shape(ids), PAD_ID), ids)
        lengths = tf.reduce_sum(tf.cast(tf.logical_not(ended), tf.int32), axis=1)
        return tf.reshape(ids, [-1, num_samples, self.max_length]), tf.reshape(lengths, [-1, num_samples])

    def generate_ids(self, source_ids, source_length, num_samples, z_temperature, attention_temperature, seed):
        ids, lengths = self.decode_ids(source_ids, source_length, num_samples, z_temperature, attention_temperature,
                                       seed)
        return {"ids": ids, "lengths": lengths}

    def generate_tokens(self, tokens, num_samples, z_temperature, attention_temperature, seed):
        source_ids, source_length = self.text.encode(tokens)
        ids, _ = self.decode_ids(source_ids, source_length, num_samples, z_temperature, attention_temperature, seed)
        outputs, lengths = self.text.words(ids)
        return {"outputs": outputs, "lengths": lengths}


def export(trained, export_dir: os.PathLike, search: Search) -> Path:
    """Writes ``trained`` (a :class:`~tf_varattn.api.TrainedModel`) with ``search`` as a SavedModel in
    ``export_dir`` (which must not exist yet: nothing is overwritten), with ``assets.extra/export.json``
    saying what it holds. Written beside it first, then moved into place: never half-written."""
    export_dir = Path(export_dir)
    if export_dir.exists():
        raise ExportError(f"{export_dir} exists already; give a new --export_dir (an export is never overwritten).")
    if not export_dir.parent.is_dir():
        raise ExportError(f"{export_dir.parent} is not a folder; create it first or give another --export_dir.")
    staging = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.", dir=export_dir.parent))
    try:
        with tempfile.TemporaryDirectory() as vocab_dir:  # the tables' files, copied into assets/ on saving
            graph = _Graph(trained, search, Path(vocab_dir))
            archive = keras.export.ExportArchive()
            archive.track(trained.model)
            archive.track(graph.text.source_table)
            archive.track(graph.text.target_table)
            archive.add_endpoint("generate_tokens", graph.generate_tokens,
                                 input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens"), *_CONTROLS])
            archive.add_endpoint("generate_ids", graph.generate_ids,
                                 input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids"),
                                                  tf.TensorSpec([None], tf.int32, name="source_length"), *_CONTROLS])
            archive.write_out(str(staging), verbose=False)
        (staging / "assets.extra").mkdir(exist_ok=True)
        (staging / "assets.extra" / "export.json").write_text(json.dumps({
            "run_dir": os.path.abspath(trained.run_dir), "epoch": trained.epoch, "preset": trained.config.preset,
            "task": trained.config.task, "search": search.describe(), "search_tag": search.tag,
            "signatures": list(SIGNATURES), "max_length": graph.max_length,
            "text": {"lowercase": graph.text.spec.lowercase, "filters": graph.text.spec.filters,
                     "max_source_length": graph.text.spec.max_source_length,
                     "append_question_mark": graph.text.spec.append_question_mark},
            "client": "tokenize each sentence with nltk.tokenize.NLTKWordTokenizer (Treebank) and pad with \"\"",
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir
