"""The exported model's text handling against the Python it replaces (tf_varattn.serving), and
stateless seeds in decoding. The export itself, loaded in a fresh process: tests/experiments/test_scripts.py."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.data.vocab import EOS_ID, GO_ID, PAD_ID, EncodingRules, TaskVocabulary, Vocabulary, word_tokenize
from tf_varattn.serving import GraphVocabulary
from tf_varattn.tasks import get_task

SENTENCES = [
    "The War ended in 1783.",
    'What\'s "this" (thing), a/b test?',
    "?!",  # no word left after qgen's filter
    "Ünïcode Straße café ΑΒΓ naïve",
    " ".join(f"Word{i}" for i in range(45)) + " .",  # longer than any source limit
    "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10",
]
WORDS = ["the", "war", "ended", "in", "1783", "what", "'s", "this", "thing", "a", "b", "test", "straße", "café",
         "word1", "word7", "w1", "w3", "w10", "αβγ"]


def vocabulary(task, rules=EncodingRules(), max_source_length=None):
    spec = get_task(task)
    if max_source_length:
        spec = dataclasses.replace(spec, max_source_length=max_source_length)
    return TaskVocabulary(spec, Vocabulary(WORDS), Vocabulary(WORDS), rules)


def padded_tokens(sentences):
    tokens = [word_tokenize(sentence) for sentence in sentences]  # what a client does (docs/serving.md)
    width = max(len(t) for t in tokens)
    return tf.constant([t + [""] * (width - len(t)) for t in tokens])


@pytest.mark.parametrize("task", ["qgen", "dialogue"])
@pytest.mark.parametrize("rules", [EncodingRules(), EncodingRules(True, False, False), EncodingRules(False, True, False),
                                   EncodingRules(False, True, True), EncodingRules(True, True, True)])
@pytest.mark.parametrize("max_source_length", [None, 10])
def test_graph_encoding_equals_the_python_encoding(tmp_path, task, rules, max_source_length):
    vocab = vocabulary(task, rules, max_source_length)
    graph = GraphVocabulary(vocab, tmp_path, max_length=8)
    ids, lengths = graph.encode(padded_tokens(SENTENCES))
    expected = [vocab.encode_source(vocab.tokenize(sentence)) for sentence in SENTENCES]
    assert lengths.numpy().tolist() == [len(e) for e in expected]
    assert [row[:n] for row, n in zip(ids.numpy().tolist(), lengths.numpy())] == expected
    assert all(v == PAD_ID for row, n in zip(ids.numpy().tolist(), lengths.numpy()) for v in row[n:])


def test_graph_encoding_of_only_empty_sources_has_one_padding_column(tmp_path):
    graph = GraphVocabulary(vocabulary("qgen"), tmp_path, max_length=8)
    ids, lengths = graph.encode(tf.constant([["?", "!"], ["", ""]]))
    assert ids.shape == (2, 1) and lengths.numpy().tolist() == [0, 0]


@pytest.mark.parametrize("task", ["qgen", "dialogue"])
def test_graph_words_equal_decode_target(tmp_path, task):
    vocab = vocabulary(task)
    graph = GraphVocabulary(vocab, tmp_path, max_length=6)
    rows = [[4, 5, 6, EOS_ID, 7, 8], [9, 10, 11, 12, 13, 14], [EOS_ID, 4, 4, 4, 4, 4], [4, GO_ID, 5, PAD_ID, 6, 7],
            [1, 23, 4, EOS_ID, PAD_ID, PAD_ID], [PAD_ID] * 6]
    outputs, lengths = graph.words(tf.reshape(tf.constant(rows), [3, 2, 6]))
    expected = [vocab.decode_target(row) for row in rows]
    got = [[w.decode() for w in row if w] for row in outputs.numpy().reshape(6, -1)]
    assert got == expected
    assert lengths.numpy().reshape(-1).tolist() == [len(e) for e in expected]
