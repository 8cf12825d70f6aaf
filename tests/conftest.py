"""Shared test set-up: quiet TensorFlow, and the shared data directory when present."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pytest-xdist: the cores are shared out between the workers (TensorFlow would give each all of them).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, _threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tf_varattn.data.corpora import DataError, resolve_data_dir  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _no_user_cache(tmp_path_factory):
    """Nothing a test runs writes into the user's word2vec cache (``~/.cache/tf_varattn``)."""
    os.environ["VARATTN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def word2vec_cache(tmp_path, monkeypatch) -> Path:
    """Each test its own word2vec cache (a test never finds vectors another test trained)."""
    monkeypatch.setenv("VARATTN_CACHE_DIR", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "word2vec"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data directory (flag-free resolution); skips the test when no data is present."""
    try:
        path = resolve_data_dir()
    except DataError as error:
        pytest.skip(f"paper data not found ({error}); run `python -m tf_varattn.data.download --dest data`")
    if not (path / "varattn").is_dir():
        pytest.skip(f"{path} has no varattn/ folder with the paper's CSV splits")
    return path


def write_synthetic_qgen(root: Path, sizes=(120, 30, 30), seed: int = 0) -> Path:
    """A tiny qgen data directory: questions are a learnable function of the sentences."""
    import csv
    import random

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    folder = root / "varattn"
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in zip(("train", "val", "test"), sizes):
        with open(folder / f"df_qgen_{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["answer", "question"])
            for _ in range(size):
                sentence = rng.sample(words, rng.randint(3, 8))
                writer.writerow([" ".join(sentence) + " .", "what " + " ".join(sentence[:3]) + " ?"])
    return root


@pytest.fixture
def synthetic_data_dir(tmp_path) -> Path:
    return write_synthetic_qgen(tmp_path / "data")


@pytest.fixture(scope="session")
def script_server(tmp_path_factory):
    """Runs scripts as their own processes forked from a server with the scripts' libraries
    imported (tests/script_server.py); one per test worker."""
    from script_server import ScriptServer

    server = ScriptServer(tmp_path_factory.mktemp("script-server"))
    yield server
    server.close()


@pytest.fixture
def sigint_as_in_a_plain_process():
    """SIGINT raises KeyboardInterrupt in this process, as in a plain Python process (pytest-xdist's
    workers ignore it); yields a function that sends this process a Ctrl-C."""
    import os
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield lambda: os.kill(os.getpid(), signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def registries_restored():
    """The search and attention registries as they were before the test (for tests that register
    a search or an attention of their own)."""
    from tf_varattn.attention_registry import ATTENTION_POSTERIORS
    from tf_varattn.decoding.registry import SEARCHES

    saved = [(registry, dict(registry)) for registry in (SEARCHES, ATTENTION_POSTERIORS)]
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)
