import hashlib
import subprocess
import sys
import time

import pytest

from tf_varattn.data import download
from tf_varattn.data.download import DownloadError, copy_from


def make_mirror(root):
    for relative in download.REQUIRED:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {relative}\n")
    sums = [f"{hashlib.sha256((root / r).read_bytes()).hexdigest()}  {r}" for r in download.REQUIRED]
    (root / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return root


def test_copy_from_mirror_copies_required_files_and_checksums(tmp_path):
    mirror = make_mirror(tmp_path / "mirror")
    written = copy_from(mirror, tmp_path / "dest", log=lambda _: None)
    assert len(written) == len(download.REQUIRED) + 1
    for relative in download.REQUIRED:
        assert (tmp_path / "dest" / relative).read_bytes() == (mirror / relative).read_bytes()


def test_copy_from_damaged_mirror_fails(tmp_path):
    mirror = make_mirror(tmp_path / "mirror")
    (mirror / download.REQUIRED[0]).write_text("tampered\n")
    with pytest.raises(DownloadError, match="does not match its SHA256SUMS"):
        copy_from(mirror, tmp_path / "dest", log=lambda _: None)


def test_copy_from_incomplete_mirror_lists_missing_files(tmp_path):
    mirror = make_mirror(tmp_path / "mirror")
    (mirror / "varattn" / "df_qgen_val.csv").unlink()
    with pytest.raises(DownloadError, match="lacks varattn/df_qgen_val.csv"):
        copy_from(mirror, tmp_path / "dest", log=lambda _: None)


def test_offline_download_fails_fast_with_manual_instructions(tmp_path, monkeypatch):
    # An address nothing listens on stands in for a machine without internet.
    monkeypatch.setattr(download, "FILE_URLS", {"varattn/x.csv": "http://127.0.0.1:9/x.csv"})
    start = time.monotonic()
    with pytest.raises(DownloadError) as error:
        download.download(tmp_path, timeout=2.0, log=lambda _: None)
    assert time.monotonic() - start < 5
    assert "Download these files by hand" in str(error.value)
    assert str(tmp_path / "varattn" / "x.csv") in str(error.value)


def test_command_line_requires_dest_and_copies(tmp_path):
    run = lambda *args: subprocess.run([sys.executable, "-m", "tf_varattn.data.download", *args], capture_output=True, text=True)
    assert run().returncode == 2
    mirror = make_mirror(tmp_path / "mirror")
    result = run("--dest", str(tmp_path / "dest"), "--from", str(mirror))
    assert result.returncode == 0, result.stderr
    assert "7 file(s) written" in result.stdout
