"""Your own sentence pairs: CSV, TSV or aligned text files, the task's settings or yours, strict
reading, and the run's record of its data (task ``custom``; tiny corpora made here)."""

import csv
import dataclasses
import json

import pytest

from tf_varattn.config import PRESETS, get_config
from tf_varattn.data.corpora import DataError, data_files, load_data_files
from tf_varattn.data.prepare import prepare_task_data
from tf_varattn.tasks import TASKS, task_spec
from tf_varattn.data.vocab import UNK_ID, TaskVocabulary

PAIRS = [("How are you today ?", "Fine, THANKS."), ('She said "no" ; then left', "Why did she leave ?"),
         ("Tabs\tare not quotes", "ok")]


def write_csv(path, pairs, columns=("source", "target")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(pairs)
    return path


def write_aligned(folder, name, pairs):
    source, target = folder / f"{name}.src", folder / f"{name}.tgt"
    source.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    target.write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return f"{source},{target}"


def custom(tmp_path, **overrides):
    """A custom-task config; its train and validation files written unless ``overrides`` name others."""
    if "train_file" not in overrides:
        overrides["train_file"] = str(write_csv(tmp_path / "train.csv", PAIRS[:2]))
    if "val_file" not in overrides:
        overrides["val_file"] = str(write_csv(tmp_path / "val.csv", PAIRS[:1]))
    return get_config("ved_vattn_mean", "custom", pretrained_embeddings=False, **overrides)


def test_csv_tsv_and_aligned_text_give_the_same_pairs(tmp_path):
    pairs = PAIRS[:2]  # a TSV cell cannot hold a tab
    csv_file = write_csv(tmp_path / "pairs.csv", pairs)
    tsv_file = tmp_path / "pairs.tsv"
    tsv_file.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    aligned = write_aligned(tmp_path, "pairs", pairs)
    expected = ([s for s, _ in pairs], [t for _, t in pairs])
    for train in (str(csv_file), str(tsv_file), aligned):
        config = get_config("ded", "custom", train_file=train, val_file=str(csv_file), pretrained_embeddings=False)
        split = load_data_files(config, data_files(config))["train"]
        assert (split.sources, split.targets) == expected, train  # TSV: quotes are plain characters


def test_test_split_is_optional_and_its_absence_is_named(tmp_path):
    config = custom(tmp_path)
    data = prepare_task_data(config, tmp_path / "run")
    assert set(data.encoded) == {"train", "val"}
    with pytest.raises(DataError, match=r"no test split .*--test_file.*--split=val"):
        data.require_split("test")


def test_custom_task_without_files_and_bad_file_names_are_one_line_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="needs --train_file and --val_file"):
        get_config("ded", "custom")
    with pytest.raises(ValueError, match="word2vec_corpus='tokenized'"):
        custom(tmp_path, word2vec_corpus="reference")
    (tmp_path / "train.txt").write_text("a\n")
    for value, message in ((str(tmp_path / "train.txt"), "cannot tell the format.*SOURCE,TARGET"),
                           (f"{tmp_path}/a,{tmp_path}/b,{tmp_path}/c", "two aligned text files as SOURCE,TARGET"),
                           (str(tmp_path / "missing.csv"), r"Missing data file .*missing.csv\. Check the path given "
                                                           "with --train_file")):
        config = custom(tmp_path, train_file=value)
        with pytest.raises(DataError, match=message):
            load_data_files(config, data_files(config))


@pytest.mark.parametrize("case", ["ragged", "empty_line", "encoding", "column", "crlf"])
def test_bad_files_stop_with_the_file_the_line_and_the_fix(tmp_path, case):
    source, target = tmp_path / "train.src", tmp_path / "train.tgt"
    source.write_text("a b\nc d\ne f\n")
    target.write_text("x\ny\nz\n")
    train = f"{source},{target}"
    if case == "ragged":
        target.write_text("x\ny\n")
        message = r"train.src has 3 lines but .*train.tgt has 2: aligned files need exactly one target line"
    elif case == "empty_line":
        target.write_text("x\n \nz\n")
        message = r"train.tgt, line 2: empty line\. .*remove line 2 from both train.tgt and train.src"
    elif case == "encoding":
        source.write_bytes(b"a b\nc \xe9\ne f\n")
        message = r"train.src, line 2: byte b'\\xe9' is not UTF-8\. Re-encode"
    elif case == "column":
        train = str(write_csv(tmp_path / "train.csv", PAIRS, columns=("src", "tgt")))
        message = r"train.csv, line 1: missing column\(s\) \['source', 'target'\].*--source_column and --target_column"
    else:  # Windows line ends are read as lines, not as empty lines or \r in the text
        source.write_bytes(b"a b\r\nc d\r\ne f\r\n")
        split = load_data_files(*(lambda c: (c, data_files(c)))(custom(tmp_path, train_file=train)))["train"]
        assert split.sources == ["a b", "c d", "e f"]
        return
    config = custom(tmp_path, train_file=train)
    with pytest.raises(DataError, match=message):
        load_data_files(config, data_files(config))


def test_text_handling_is_the_tasks_unless_the_run_sets_it(tmp_path):
    assert task_spec(custom(tmp_path)) == TASKS["custom"]
    config = custom(tmp_path, lowercase=False, filter_characters=",.?", max_source_length=3, max_target_length=4,
                    max_vocab_size=6, source_column="source", target_column="target")
    spec = task_spec(config)
    assert (spec.lowercase, spec.filters, spec.max_source_length, spec.max_target_length, spec.vocab_size) == \
        (False, ",.?", 3, 4, 6)
    assert config.max_decode_length == 4  # follows the target length unless set
    data = prepare_task_data(config, tmp_path / "run")
    # Case kept, "," "." "?" filtered, ";" kept (not in this run's filters), 2 words + 4 specials.
    assert data.tokenized["train"][1][0] == ["Fine", "THANKS"]
    assert data.tokenized["train"][0][1][:6] == ["She", "said", "``", "no", "''", ";"]
    assert len(data.vocab.source) == len(data.vocab.target) == 6
    assert all(len(ids) <= 3 for ids in data.encoded["train"].source_ids)
    # The spec is saved with the vocabulary, so evaluation and generation tokenize as training did.
    reloaded = TaskVocabulary.load(tmp_path / "run" / "vocab.json")
    assert reloaded.spec == spec and reloaded.tokenize("Fine, THANKS.") == ["Fine", "THANKS"]


def test_own_vocabulary_is_fit_on_train_only_and_the_papers_on_all_splits(tmp_path):
    config = custom(tmp_path, val_file=str(write_csv(tmp_path / "val.csv", [("unseenword here", "x")])))
    data = prepare_task_data(config, tmp_path / "run")
    assert data.encoded["val"].source_ids[0][0] == UNK_ID
    assert TASKS["qgen"].vocabulary_splits == TASKS["dialogue"].vocabulary_splits == ("train", "val", "test")


def test_the_run_records_its_data_and_refuses_other_files(tmp_path, caplog):
    config = custom(tmp_path)
    run = tmp_path / "run"
    prepare_task_data(config, run)
    record = json.loads((run / "data_sources.json").read_text())
    assert set(record) == {"train", "val"} and record["train"][0]["path"] == str((tmp_path / "train.csv").resolve())
    assert len(record["train"][0]["sha256"]) == 64 and record["train"][0]["bytes"] > 0
    prepare_task_data(config, run)  # the same files: resumes
    # The same content elsewhere is the same data.
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "train.csv").write_bytes((tmp_path / "train.csv").read_bytes())
    import logging
    with caplog.at_level(logging.INFO):
        prepare_task_data(dataclasses.replace(config, train_file=str(moved / "train.csv")), run)
    assert "same content" in caplog.text
    # One changed row is refused, naming the file and both digests.
    write_csv(tmp_path / "train.csv", [PAIRS[0], ("another", "pair")])
    with pytest.raises(DataError, match=r"train.csv \(train\) is not the file this run was trained on: .*SHA-256 "
                                        r"[0-9a-f]{16}.* Restore that file, or train into a new --output_dir"):
        prepare_task_data(config, run)
    # A test split that was not there before is other data too.
    with pytest.raises(DataError, match=r"splits \['train', 'val'\], but now has \['test', 'train', 'val'\]"):
        prepare_task_data(dataclasses.replace(config, test_file=str(tmp_path / "val.csv")), run)


def test_paper_task_settings_on_other_files(tmp_path):
    """A paper task reads other files with its own settings (qgen: its filters, "?" appended back)."""
    files = write_csv(tmp_path / "q.csv", [("the war ended in 1783 .", "when did the war end ?")],
                      columns=("answer", "question"))
    config = get_config("ded", "qgen", train_file=str(files), val_file=str(files), pretrained_embeddings=False)
    data = prepare_task_data(config, tmp_path / "run")
    assert data.tokenized["train"][1][0] == ["when", "did", "the", "war", "end"]
    assert data.references("val") == [["when", "did", "the", "war", "end", "?"]]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trains_on_own_pairs_and_its_loss_falls(tmp_path, preset):
    """Every preset learns from pairs read as your own data (its KL terms weighted from the start)."""
    import keras
    import numpy as np

    from tf_varattn.data.pipeline import make_dataset
    from tf_varattn.models import build_model
    from tf_varattn.training.step import make_train_step

    words = [f"w{i}" for i in range(12)]
    pairs = [(" ".join(words[i % 12:i % 12 + 4]), " ".join(words[i % 12:i % 12 + 2])) for i in range(24)]
    train = write_aligned(tmp_path, "train", pairs)
    config = get_config(preset, "custom", train_file=train, val_file=train, pretrained_embeddings=False,
                        embedding_dim=8, encoder_units=4, decoder_units=8, latent_dim=2, attentional_dim=4,
                        batch_size=8, attention_start_epoch=0, kl_schedule="constant", kl_constant=0.1,
                        learning_rate=0.02)
    data = prepare_task_data(config, tmp_path / "run")
    keras.utils.set_random_seed(0)
    model = build_model(data.sized(config))
    step = make_train_step(model)
    batches = list(make_dataset(data.encoded["train"], config.batch_size))
    assert len(batches) == 3
    losses = [float(step(batch)["loss"]) for _ in range(14) for batch in batches]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-6:]) < 0.9 * np.mean(losses[:6])  # two passes over the 3 batches each
