import shutil
from pathlib import Path

import numpy as np
import pytest

from tf_varattn.data.corpora import DataError
from tf_varattn.data.embeddings import (Word2VecConfig, default_cache_dir, embedding_matrix, load_or_train_word2vec,
                                        train_word2vec)
from tf_varattn.data.vocab import Vocabulary

_COPYFILE = shutil.copyfile
SENTENCES = [["the", "cat", "sat"], ["the", "dog", "ran"], ["a", "cat", "ran"]] * 20
CONFIG = Word2VecConfig(dim=8, epochs=3, seed=7)


def test_word2vec_is_deterministic_for_a_seed():
    first, second = train_word2vec(SENTENCES, CONFIG), train_word2vec(SENTENCES, CONFIG)
    np.testing.assert_array_equal(first["cat"], second["cat"])
    other = train_word2vec(SENTENCES, Word2VecConfig(dim=8, epochs=3, seed=8))
    assert not np.array_equal(first["cat"], other["cat"])


def test_embedding_matrix_uses_vectors_and_uniform_fallback():
    vectors = train_word2vec(SENTENCES, CONFIG)
    vocab = Vocabulary(["cat", "unseen", "dog"])
    matrix = embedding_matrix(vocab, vectors, dim=8, seed=0)
    assert matrix.shape == (len(vocab), 8) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[vocab.token_to_id["cat"]], vectors["cat"])
    np.testing.assert_array_equal(matrix[vocab.token_to_id["dog"]], vectors["dog"])
    fallback = matrix[[0, 1, 2, 3, vocab.token_to_id["unseen"]]]
    assert np.all(np.abs(fallback) <= 0.05)
    np.testing.assert_array_equal(embedding_matrix(vocab, None, 8, seed=0)[:4], matrix[:4])


def test_cache_is_reused_and_keyed_by_corpus(tmp_path, monkeypatch):
    first = load_or_train_word2vec(SENTENCES, tmp_path, CONFIG)
    assert len(list(tmp_path.glob("word2vec-*.kv"))) == 1
    import tf_varattn.data.embeddings as embeddings

    monkeypatch.setattr(embeddings, "train_word2vec", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    cached = load_or_train_word2vec(SENTENCES, tmp_path, CONFIG)
    np.testing.assert_array_equal(first["dog"], cached["dog"])
    monkeypatch.undo()
    load_or_train_word2vec(SENTENCES[:-1], tmp_path, CONFIG)
    assert len(list(tmp_path.glob("word2vec-*.kv"))) == 2


def test_the_default_cache_is_the_users_and_shared_by_every_run(tmp_path, monkeypatch, word2vec_cache):
    assert default_cache_dir() == word2vec_cache  # $VARATTN_CACHE_DIR/word2vec (conftest: the test's own)
    monkeypatch.delenv("VARATTN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "tf_varattn" / "word2vec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tf_varattn" / "word2vec"
    monkeypatch.setenv("VARATTN_CACHE_DIR", str(tmp_path / "mine"))
    vectors = load_or_train_word2vec(SENTENCES, config=CONFIG)  # no folder given: the default
    assert len(list((tmp_path / "mine" / "word2vec").glob("word2vec-*.kv"))) == 1
    assert not (tmp_path / "home").exists()
    np.testing.assert_array_equal(load_or_train_word2vec(SENTENCES, tmp_path / "mine" / "word2vec", CONFIG)["cat"],
                                  vectors["cat"])


def test_vectors_cached_beside_an_earlier_run_are_copied_not_trained_again(tmp_path, monkeypatch):
    import tf_varattn.data.embeddings as embeddings

    earlier = tmp_path / "runs" / "qgen" / "word2vec"
    vectors = load_or_train_word2vec(SENTENCES, earlier, CONFIG)
    monkeypatch.setattr(embeddings, "train_word2vec", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    cache = tmp_path / "cache"
    copied = load_or_train_word2vec(SENTENCES, cache, CONFIG, earlier_caches=[tmp_path / "elsewhere", earlier])
    np.testing.assert_array_equal(copied["dog"], vectors["dog"])
    assert [p.name for p in cache.iterdir()] == [p.name for p in earlier.iterdir()]  # one .kv, no temporary left
    # A copy the disk cannot hold leaves nothing behind in the cache.

    def full_disk(source, target):
        Path(target).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full_disk)
    with pytest.raises(OSError, match="No space"):
        load_or_train_word2vec(SENTENCES, tmp_path / "full", CONFIG, earlier_caches=[earlier])
    assert list((tmp_path / "full").iterdir()) == []
    monkeypatch.setattr(shutil, "copyfile", _COPYFILE)
    # A cache folder that cannot be made: the earlier copy still serves, nothing trained.
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    np.testing.assert_array_equal(load_or_train_word2vec(SENTENCES, not_a_folder / "word2vec", CONFIG,
                                                         earlier_caches=[earlier])["dog"], vectors["dog"])
    # Other sentences are not the earlier run's vectors: trained (here refused, so it raises).
    with pytest.raises(AssertionError, match="trained"):
        load_or_train_word2vec(SENTENCES[:-1], cache, CONFIG, earlier_caches=[earlier])


def test_large_vectors_are_cached_in_one_loadable_file(tmp_path):
    # Above gensim's 10 MB limit arrays would go to side files that an atomic rename would orphan.
    words = [f"w{i}" for i in range(9000)]
    sentences = [words[i : i + 10] for i in range(0, len(words), 10)]
    config = Word2VecConfig(dim=300, epochs=1, seed=0)
    first = load_or_train_word2vec(sentences, tmp_path, config)
    assert [p.suffix for p in tmp_path.iterdir()] == [".kv"]
    np.testing.assert_array_equal(load_or_train_word2vec(sentences, tmp_path, config)["w5"], first["w5"])


def test_cache_folder_may_be_a_link_to_a_folder_not_made_yet(tmp_path):
    # Two run roots sharing one cache through a link made before either run trained word2vec.
    link = tmp_path / "retrain" / "word2vec"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "word2vec")
    vectors = load_or_train_word2vec(SENTENCES, link, CONFIG)
    [cached] = (tmp_path / "word2vec").glob("word2vec-*.kv")
    np.testing.assert_array_equal(load_or_train_word2vec(SENTENCES, cached.parent, CONFIG)["cat"], vectors["cat"])


def test_unusable_cache_folder_fails_before_training(tmp_path, monkeypatch):
    import tf_varattn.data.embeddings as embeddings

    monkeypatch.setattr(embeddings, "train_word2vec", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    with pytest.raises(DataError, match="word2vec cache folder.*--embedding_cache_dir"):
        load_or_train_word2vec(SENTENCES, not_a_folder, CONFIG)
