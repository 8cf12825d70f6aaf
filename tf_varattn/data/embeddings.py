"""Pre-trained word embeddings: word2vec on the task's own sentences (gensim), cached.

The reference trains one 300-d CBOW word2vec (window 5, min_count 1, 50 epochs) on
the task's sentences of all splits and initialises the (frozen) encoder and decoder
embeddings from it; words without a vector get U(-0.05, 0.05). The vectors are cached per user
(:func:`default_cache_dir`), named by a fingerprint of their sentences and settings, so every run on
the machine that needs the same vectors trains them once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from tf_varattn.data.corpora import DataError
from tf_varattn.data.vocab import Vocabulary

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "VARATTN_CACHE_DIR"


def default_cache_dir() -> Path:
    """The word2vec cache when none is given: ``$VARATTN_CACHE_DIR/word2vec``, else
    ``$XDG_CACHE_HOME/tf_varattn/word2vec`` (by default ``~/.cache/tf_varattn/word2vec``)."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser() / "word2vec"
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return Path(user_cache) / "tf_varattn" / "word2vec"


@dataclasses.dataclass(frozen=True)
class Word2VecConfig:
    """gensim ``Word2Vec`` settings of the reference (CBOW)."""

    dim: int = 300
    window: int = 5
    min_count: int = 1
    epochs: int = 50
    seed: int = 0


def train_word2vec(sentences: Sequence[Sequence[str]], config: Word2VecConfig = Word2VecConfig()):
    """Trains CBOW word2vec; one worker thread, so a fixed seed gives identical vectors."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    from tf_varattn.progress import Progress

    class EpochProgress(CallbackAny2Vec):
        def __init__(self):
            self.bar = Progress(config.epochs, "word2vec", unit="epoch")

        def on_epoch_end(self, model):
            self.bar.add(1)

    logging.getLogger("gensim").setLevel(logging.WARNING)  # its INFO lines would drown the progress bar
    model = Word2Vec(
        callbacks=[EpochProgress()],
        sentences=[list(s) for s in sentences],
        vector_size=config.dim,
        window=config.window,
        min_count=config.min_count,
        sg=0,
        epochs=config.epochs,
        seed=config.seed,
        workers=1,
    )
    return model.wv


def _fingerprint(sentences: Sequence[Sequence[str]], config: Word2VecConfig) -> str:
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    for sentence in sentences:
        digest.update(" ".join(sentence).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def load_or_train_word2vec(
    sentences: Sequence[Sequence[str]],
    cache_dir: Optional[os.PathLike] = None,
    config: Word2VecConfig = Word2VecConfig(),
    earlier_caches: Sequence[os.PathLike] = (),
):
    """Returns cached vectors for exactly these sentences and settings, training them if absent.

    ``cache_dir`` defaults to :func:`default_cache_dir`. Vectors found in one of ``earlier_caches``
    instead (where a run cached them before the cache was shared) are copied into ``cache_dir``.
    """
    from gensim.models import KeyedVectors

    logging.getLogger("gensim").setLevel(logging.WARNING)
    # A link to a folder not made yet is followed (and the folder made), not refused by mkdir.
    cache_dir = Path(os.path.realpath(default_cache_dir() if cache_dir is None else cache_dir))
    name = f"word2vec-{_fingerprint(sentences, config)}.kv"
    path = cache_dir / name
    if path.is_file():
        logger.info("Loading cached word2vec from %s", path)
        return KeyedVectors.load(str(path))
    earlier = next((Path(folder) / name for folder in earlier_caches if (Path(folder) / name).is_file()), None)
    try:  # before the training (minutes on the full data), so that a bad cache folder fails at once
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if earlier is not None:  # nothing to train: the earlier copy serves
            logger.warning("Cannot use %s as the word2vec cache folder (%s); loading %s", cache_dir, error, earlier)
            return KeyedVectors.load(str(earlier))
        raise DataError(f"cannot use {cache_dir} as the word2vec cache folder ({error}); pass another folder "
                        f"with --embedding_cache_dir (or set {CACHE_DIR_ENV}).") from error
    if earlier is not None:
        logger.info("Copying cached word2vec from %s to %s", earlier, path)
        _write_atomically(path, lambda temporary: shutil.copyfile(earlier, temporary))
        return KeyedVectors.load(str(path))
    logger.info("Training word2vec on %d sentences (%d epochs) -> %s", len(sentences), config.epochs, path)
    vectors = train_word2vec(sentences, config)
    # One file (no .npy side files), so one atomic rename.
    _write_atomically(path, lambda temporary: vectors.save(str(temporary), separately=[]))
    return vectors


def _write_atomically(path: Path, write) -> None:
    """``write(temporary)``, then renamed to ``path``; a failed write (a full disk) leaves no file.
    The temporary name is this process's own: two runs sharing the cache (started side by side) never
    write into the same file; the last rename wins with identical vectors."""
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def embedding_matrix(vocab: Vocabulary, vectors=None, dim: int = 300, seed: int = 0) -> np.ndarray:
    """``[len(vocab), dim]`` float32: word2vec rows where the word has a vector, else U(-0.05, 0.05)."""
    if vectors is not None and vectors.vector_size != dim:
        raise ValueError(f"word2vec vectors have {vectors.vector_size} dimensions, expected {dim}.")
    matrix = np.random.default_rng(seed).uniform(-0.05, 0.05, size=(len(vocab), dim)).astype(np.float32)
    if vectors is not None:
        for index, token in enumerate(vocab.id_to_token):
            if token in vectors.key_to_index:
                matrix[index] = vectors[token]
    return matrix
