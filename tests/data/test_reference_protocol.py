"""The released code's protocol, one switch at a time, on tiny hand-made data: exact tokens, ids,
lengths, batches, loss terms and word2vec sentences (docs/reference-code.md, last section)."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.config import REFERENCE_PROTOCOL, Config, get_config
from tf_varattn.data.corpora import TASKS, Split
from tf_varattn.data.pipeline import encode_split, make_dataset
from tf_varattn.data.prepare import prepare_task_data, reference_word2vec_corpus
from tf_varattn.data.vocab import EOS_ID, EncodingRules, TaskVocabulary, Vocabulary, tokenize_split
from tf_varattn.layers import BidirectionalEncoder, LayerNormLSTMCell
from tf_varattn.models import build_model, objective
from tf_varattn.models.seq2seq import make_optimizer


def test_the_umbrella_turns_every_switch_on_and_a_single_override_still_wins():
    ours, reference = get_config("ded_dattn", "dialogue"), get_config("ded_dattn", "dialogue", protocol="reference")
    assert reference.protocol == "reference" and ours.protocol == "ours"
    for field, value in REFERENCE_PROTOCOL.items():
        assert getattr(reference, field) == value and getattr(ours, field) == getattr(Config(), field) != value
    one_off = get_config("ded_dattn", "dialogue", protocol="reference", shuffle=True)
    assert one_off.shuffle and one_off.drop_remainder
    assert get_config("ded_dattn", "dialogue", source_eos=True).protocol == "ours"  # one switch alone
    with pytest.raises(ValueError, match="protocol='paper' is not valid; choose one of: ours, reference"):
        get_config("ded_dattn", protocol="paper")


# 20 words with a comma after each: 40 Treebank tokens. qgen filters the commas, dialogue keeps them.
COMMAS = " , ".join(f"w{i}" for i in range(20)) + " ,"


def test_truncate_before_filter_keeps_the_first_n_treebank_tokens_and_the_vocabulary_counts_only_those():
    spec = TASKS["qgen"]  # 30 source tokens, 20 target tokens, "," filtered
    split = Split("qgen", "train", [COMMAS], [COMMAS])
    ours = tokenize_split(split, spec)
    cut = tokenize_split(split, spec, truncate_before_filter=True)
    assert ours == ([[f"w{i}" for i in range(20)]], [[f"w{i}" for i in range(20)]])
    assert cut == ([[f"w{i}" for i in range(15)]], [[f"w{i}" for i in range(10)]])  # 30 / 20 tokens, half commas
    vocab = TaskVocabulary.fit("qgen", [cut])
    assert "w14" in vocab.source.token_to_id and "w15" not in vocab.source.token_to_id
    assert "w9" in vocab.target.token_to_id and "w10" not in vocab.target.token_to_id
    # A user's sentence is cut the same way.
    rules = vocab.with_rules(EncodingRules(truncate_before_filter=True))
    assert rules.tokenize(COMMAS) == [f"w{i}" for i in range(15)]


LONG_SOURCE = list(range(4, 24)) + list(range(4, 14))  # 30 tokens: qgen's source limit


@pytest.mark.parametrize("rules, source_ids, target_ids", [
    # ours: no source EOS; a target of exactly N = 20 tokens keeps its EOS.
    (EncodingRules(), [[4, 5, 6], LONG_SOURCE], [[4, 5, EOS_ID], list(range(4, 24)) + [EOS_ID]]),
    # source EOS alone: appended when nothing was cut (30 tokens are not cut).
    (EncodingRules(source_eos=True), [[4, 5, 6, EOS_ID], LONG_SOURCE + [EOS_ID]],
     [[4, 5, EOS_ID], list(range(4, 24)) + [EOS_ID]]),
    # EOS appended, then cut to N: N tokens have none (targets too).
    (EncodingRules(source_eos=True, eos_then_truncate=True), [[4, 5, 6, EOS_ID], LONG_SOURCE],
     [[4, 5, EOS_ID], list(range(4, 24))]),
    (EncodingRules(eos_then_truncate=True), [[4, 5, 6], LONG_SOURCE], [[4, 5, EOS_ID], list(range(4, 24))]),
])
def test_eos_rules_give_the_exact_ids(rules, source_ids, target_ids):
    words = [f"w{i}" for i in range(20)]
    vocab = TaskVocabulary(TASKS["qgen"], Vocabulary(words), Vocabulary(words), rules)
    sources = [["w0", "w1", "w2"], words + words[:10]]  # 3 and 30 tokens
    targets = [["w0", "w1"], words]  # 2 and 20 tokens (the target limit)
    encoded = encode_split((sources, targets), vocab)
    assert encoded.source_ids == source_ids and encoded.target_ids == target_ids


def test_reference_batches_keep_file_order_and_drop_the_last_partial_batch():
    encoded = encode_split(([["w0"]] * 5, [["w0"]] * 5), TaskVocabulary.fit("qgen", [([["w0"]], [["w0"]])]))
    encoded.source_ids = [[4] * (i + 1) for i in range(5)]  # lengths 1..5 name the rows
    config = get_config("ded_dattn", protocol="reference", batch_size=2)
    batches = list(make_dataset(encoded, config.batch_size, shuffle=config.shuffle, seed=0, epoch=3,
                                drop_remainder=config.drop_remainder))
    assert [b["source_length"].numpy().tolist() for b in batches] == [[1, 2], [3, 4]]
    ours = get_config("ded_dattn", batch_size=2)
    batches = list(make_dataset(encoded, ours.batch_size, shuffle=ours.shuffle, seed=0, epoch=3,
                                drop_remainder=ours.drop_remainder))
    assert sorted(length for b in batches for length in b["source_length"].numpy()) == [1, 2, 3, 4, 5]
    assert len(batches) == 3


def test_l2_on_layer_norm_shifts_adds_exactly_their_squares():
    cell = LayerNormLSTMCell(3, 2)
    for variable in cell.trainable_variables:
        variable.assign(tf.fill(variable.shape, 0.5))
    betas = sum(int(np.prod(v.shape)) for v in cell.trainable_variables if "beta" in v.path)
    assert betas == 4 * 3 + 3
    ours = objective.l2_penalty(cell.trainable_variables, 0.001)
    reference = objective.l2_penalty(cell.trainable_variables, 0.001, layer_norm_shifts=True)
    assert float(reference - ours) == pytest.approx(0.001 * betas * 0.25 / 2, rel=1e-6)


def test_adam_epsilon_is_the_configs():
    assert make_optimizer(get_config("ded_dattn", protocol="reference")).epsilon == pytest.approx(1e-8)
    assert make_optimizer(get_config("ded_dattn")).epsilon == pytest.approx(1e-7)


def test_independent_encoder_dropout_draws_a_second_mask_for_the_backward_direction():
    shared = BidirectionalEncoder(4, 6, dropout=0.5, seed=1)
    independent = BidirectionalEncoder(4, 6, dropout=0.5, seed=1, independent_dropout=True)
    assert shared.backward_dropout is None
    ones = tf.ones([8, 5, 6])
    forward_mask = independent.input_dropout(ones, training=True).numpy() > 0
    backward_mask = independent.backward_dropout(ones, training=True).numpy() > 0
    assert 0.3 < forward_mask.mean() < 0.7 and 0.3 < backward_mask.mean() < 0.7
    assert (forward_mask != backward_mask).mean() > 0.3  # independent masks disagree about half the time
    # Without training there is no dropout: both encoders compute the same function of their weights.
    embedded, mask = tf.random.normal([2, 5, 6], seed=3), tf.sequence_mask([5, 3], 5)
    shared(embedded, mask), independent(embedded, mask)
    for a, b in zip(shared.trainable_variables, independent.trainable_variables):
        b.assign(a)
    for a, b in zip(shared(embedded, mask, training=False), independent(embedded, mask, training=False)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert keras.layers.deserialize(keras.layers.serialize(independent)).independent_dropout


def _write(folder, task, columns, rows):
    prefix = TASKS[task].file_prefix
    for split in ("train", "val", "test"):
        with open(folder / f"{prefix}_{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows([(f"{a} {split}", b) for a, b in rows])


def test_reference_word2vec_corpus_joins_columns_without_a_space_keeps_case_and_reads_all_six_csvs(tmp_path):
    folder = tmp_path / "varattn"
    folder.mkdir()
    _write(folder, "qgen", ["answer", "question"], [("The Cat", "Who is it?")])
    _write(folder, "dialogue", ["line", "reply"], [("I have NUM", "dogs.")])
    config = get_config("ded_dattn", "dialogue", protocol="reference")
    corpus = reference_word2vec_corpus(tmp_path, config)
    expected = [["The", "Cat", f"{split}Who", "is", "it", "?"] for split in ("train", "val", "test")]
    expected += [["I", "have", "NUM", f"{split}dogs", "."] for split in ("train", "val", "test")]
    assert sorted(corpus) == sorted(expected)
    assert reference_word2vec_corpus(tmp_path, config) == corpus  # the run's seed fixes the order
    # Only the task's own CSVs when the other task's are absent.
    for path in folder.glob("df_qgen_*.csv"):
        path.unlink()
    assert sorted(reference_word2vec_corpus(tmp_path, config)) == sorted(expected[3:])


def test_prepared_data_under_the_reference_protocol_scores_against_whole_references(tmp_path):
    folder = tmp_path / "varattn"
    folder.mkdir()
    _write(folder, "qgen", ["answer", "question"], [(COMMAS, COMMAS), ("a b", "c d")])
    config = get_config("ded_dattn", "qgen", protocol="reference", pretrained_embeddings=False)
    data = prepare_task_data(config, tmp_path / "run", data_dir=str(tmp_path))
    assert data.vocab.rules == EncodingRules(True, True, True)
    assert data.encoded["train"].target_ids[0] == [data.vocab.target.token_to_id[f"w{i}"] for i in range(10)] + [EOS_ID]
    assert data.encoded["train"].source_ids[1][-1] == EOS_ID
    assert data.references("train")[0] == [f"w{i}" for i in range(20)] + ["?"]  # whole, though trained on 10
    model = build_model(data.sized(config))
    assert model.settings.source_eos
