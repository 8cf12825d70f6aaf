import numpy as np
import pytest

from tf_varattn.data.pipeline import EncodedSplit, epoch_order, make_dataset, pad_sequences


def test_pad_sequences_pads_with_zero_and_reports_lengths():
    ids, lengths = pad_sequences([[5, 6, 7], [8], [9, 10]])
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [9, 10, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    with pytest.raises(ValueError, match="does not fit"):
        pad_sequences([[1, 2, 3]], width=2)


def encoded(n):
    return EncodedSplit([[i + 4] * (1 + i % 3) for i in range(n)], [[i + 4] * (1 + i % 2) + [3] for i in range(n)])


def batches(dataset):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset]


def test_unshuffled_batches_keep_file_order_and_trim_to_batch_longest():
    result = batches(make_dataset(encoded(5), batch_size=2, shuffle=False))
    assert [b["source_ids"][:, 0].tolist() for b in result] == [[4, 5], [6, 7], [8]]
    np.testing.assert_array_equal(result[0]["source_ids"], [[4, 0], [5, 5]])
    np.testing.assert_array_equal(result[0]["source_length"], [1, 2])
    np.testing.assert_array_equal(result[0]["target_ids"], [[4, 3, 0], [5, 5, 3]])
    np.testing.assert_array_equal(result[0]["target_length"], [2, 3])
    assert result[2]["source_ids"].shape == (1, 2)  # example 4 has 2 source tokens


def test_pipeline_is_not_autotuned():
    # tf.data's autotuner wakes once a minute, and a pass that ended between two wake-ups waited
    # for the next one (results/benchmarks.md, session 11: up to 60 s, 27 s on average, per epoch).
    assert make_dataset(encoded(5), batch_size=2).options().autotune.enabled is False


def test_drop_remainder_drops_last_partial_batch():
    assert [len(b["source_ids"]) for b in batches(make_dataset(encoded(5), 2, shuffle=False, drop_remainder=True))] == [2, 2]


def test_shuffling_is_seeded_per_epoch_and_loses_nothing():
    order = lambda seed, epoch: np.concatenate(
        [b["source_ids"][:, 0] for b in batches(make_dataset(encoded(50), 8, seed=seed, epoch=epoch))]
    )
    first = order(1, 0)
    np.testing.assert_array_equal(first, order(1, 0))
    assert not np.array_equal(first, order(1, 1))
    assert not np.array_equal(first, order(2, 0))
    assert sorted(first.tolist()) == list(range(4, 54))
    np.testing.assert_array_equal(first, np.arange(4, 54)[epoch_order(50, 1, 0)])


def test_source_and_target_stay_paired_after_shuffling():
    for batch in batches(make_dataset(encoded(30), 7, seed=3)):
        np.testing.assert_array_equal(batch["source_ids"][:, 0], batch["target_ids"][:, 0])


def test_length_bucketing_groups_similar_lengths_and_loses_nothing():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 21, size=403)
    data = EncodedSplit([[i + 4] * (1 + i % 5) for i in range(403)], [[i + 4] * n + [3] for i, n in enumerate(lengths)])

    def run(bucket_pool, epoch=0):
        return batches(make_dataset(data, 10, seed=1, epoch=epoch, bucket_pool=bucket_pool))

    def mean_spread(result):  # longest minus shortest target in a batch, averaged over batches
        return np.mean([b["target_length"].max() - b["target_length"].min() for b in result])

    bucketed, plain = run(8), run(0)
    ids = np.concatenate([b["source_ids"][:, 0] for b in bucketed])
    assert sorted(ids.tolist()) == list(range(4, 407))  # every example exactly once
    assert [len(b["source_ids"]) for b in bucketed] == [10] * 40 + [3]  # the partial batch stays last
    for batch in bucketed:  # still paired
        np.testing.assert_array_equal(batch["source_ids"][:, 0], batch["target_ids"][:, 0])
    assert mean_spread(bucketed) < 0.25 * mean_spread(plain)
    again = np.concatenate([b["source_ids"][:, 0] for b in run(8)])
    np.testing.assert_array_equal(ids, again)  # seeded
    assert not np.array_equal(ids, np.concatenate([b["source_ids"][:, 0] for b in run(8, epoch=1)]))


def test_sources_without_words_are_kept_and_reported_with_their_lines(caplog):
    import logging

    from tf_varattn.data.prepare import empty_source_lines, report_empty_sources

    sources = [["a"], [], ["b"], []]
    assert empty_source_lines(sources) == [3, 5]  # a table: its header is line 1
    assert empty_source_lines(sources, header=False) == [2, 4]  # aligned text files
    with caplog.at_level(logging.WARNING):
        report_empty_sources("qgen", "test", sources)
    assert "qgen test: 2 of 4 sources have no word after tokenization (lines 3, 5); kept" in caplog.text
