"""A damaged run file stops every script in one line naming the file and the fix (no traceback)."""

import json

import pytest

from tf_varattn.data.corpora import DataError
from tf_varattn.data.vocab import TaskVocabulary
from tf_varattn.training.runs import RunError, load_run, read_config, read_history


@pytest.mark.parametrize("text, says", [("", "is damaged, not JSON"), ("{}", "is damaged: it lacks preset, task, variational, attention"),
                                        ("[]", "is damaged: it holds a JSON list, not a JSON object"),
                                        ('{"preset": "ved_dattn", "task": "qgen", "variational": true, "attenti',
                                         "is damaged, not JSON")])
def test_a_damaged_config_is_named_with_its_fix(tmp_path, text, says):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(RunError, match=f"{tmp_path / 'config.json'} {says}".replace("(", r"\(").replace(")", r"\)")):
        read_config(tmp_path / "config.json")
    with pytest.raises(RunError, match="restore it from a copy"):
        load_run(tmp_path)


@pytest.mark.parametrize("text, says", [('[{"epoch": 1, "train_lo', "is damaged, not JSON"),
                                        ("{}", "holds a JSON dict, not a JSON list"),
                                        ("[1, 2]", "every entry of a history is an object with its epoch")])
def test_a_damaged_history_is_named_with_its_fix(tmp_path, text, says):
    (tmp_path / "history.json").write_text(text)
    with pytest.raises(RunError, match=says):
        read_history(tmp_path)
    assert read_history(tmp_path / "absent") == []


@pytest.mark.parametrize("text", ["[]", "{}", '{"task": "qgen", "source": "abc", "target": []}', "not json"])
def test_a_damaged_vocabulary_is_named(tmp_path, text):
    (tmp_path / "vocab.json").write_text(text)
    with pytest.raises(DataError, match=f"{tmp_path / 'vocab.json'} is damaged .*restore it from a copy"):
        TaskVocabulary.load(tmp_path / "vocab.json")
    config = {"preset": "ved_dattn", "task": "qgen", "variational": True, "attention": "deterministic"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match="vocab.json is damaged"):
        load_run(tmp_path)
