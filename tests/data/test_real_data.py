"""The paper's splits as shipped in the data directory (skipped when the data is absent)."""

import pytest

from tf_varattn.data.corpora import TASKS, load_splits
from tf_varattn.data.vocab import TaskVocabulary, tokenize_split

# Rows from the data README; vocabulary sizes measured with this preprocessing (fit on train+val+test).
EXPECTED = {
    "qgen": {"rows": {"train": 75_722, "val": 10_570, "test": 11_877}, "source": 40_000, "target": 39_462},
    "dialogue": {"rows": {"train": 185_234, "val": 17_878, "test": 18_170}, "source": 30_000, "target": 30_000},
}


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_every_split_loads_with_expected_rows_and_vocabulary(task, data_dir):
    splits = load_splits(data_dir, task)
    assert {name: len(split) for name, split in splits.items()} == EXPECTED[task]["rows"]
    vocab = TaskVocabulary.fit(task, [tokenize_split(split, TASKS[task]) for split in splits.values()])
    assert (len(vocab.source), len(vocab.target)) == (EXPECTED[task]["source"], EXPECTED[task]["target"])
