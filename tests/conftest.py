"""Shared test set-up: quiet TensorFlow, and the shared data directory when present."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tf_varattn.data.corpora import DataError, resolve_data_dir  # noqa: E402


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
