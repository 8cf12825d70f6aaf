"""Fetch the data: ``python -m tf_varattn.data.download --dest DIR [--from MIRROR]``.

With internet, downloads the paper's six CSV splits from the authors' repository,
SQuAD v1.1 and the Cornell Movie-Dialogs files. Offline it fails within seconds and
says what to fetch by hand and where to put it. ``--from MIRROR`` copies the same
layout from a local directory (e.g. ``../shared/data``) and checks its SHA256SUMS.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from absl import app, flags

AUTHORS_DATA_URL = "https://raw.githubusercontent.com/HareeshBahuleyan/tf-var-attention/master/data/"
SQUAD_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"
CORNELL_ZIP_URL = "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
CSV_NAMES = [f"df_{task}_{split}.csv" for task in ("qgen", "dialogue") for split in ("train", "val", "test")]
# Relative destination path -> URL of the file.
FILE_URLS = {
    **{f"varattn/{name}": AUTHORS_DATA_URL + name for name in CSV_NAMES},
    "squad/train-v1.1.json": SQUAD_URL + "train-v1.1.json",
    "squad/dev-v1.1.json": SQUAD_URL + "dev-v1.1.json",
}
# Relative destination path -> member name inside the Cornell zip.
CORNELL_MEMBERS = {
    "cornell/movie_lines.txt": "movie_lines.txt",
    "cornell/movie_conversations.txt": "movie_conversations.txt",
}
REQUIRED = [f"varattn/{name}" for name in CSV_NAMES]
MIRROR_EXTRAS = ["README.md", "SHA256SUMS", "build_report.json"]


class DownloadError(RuntimeError):
    """The data could not be fetched; the message says how to get it by hand."""


def manual_instructions(dest: Path) -> str:
    lines = [f"Download these files by hand and place them under {dest}:"]
    lines += [f"  {url}\n      -> {dest / relative}" for relative, url in FILE_URLS.items()]
    lines.append(f"  {CORNELL_ZIP_URL}\n      -> unzip movie_lines.txt and movie_conversations.txt into {dest / 'cornell'}")
    lines.append("Or copy an existing mirror: python -m tf_varattn.data.download --dest DIR --from MIRROR")
    return "\n".join(lines)


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def download(dest: Path, timeout: float = 10.0, log=print) -> list[Path]:
    """Downloads every file that is not yet in ``dest``; returns the paths written."""
    written = []
    try:
        for relative, url in FILE_URLS.items():
            target = dest / relative
            if target.is_file():
                log(f"exists, kept: {target}")
                continue
            log(f"fetching {url}")
            _write(target, _fetch(url, timeout))
            written.append(target)
        missing = {r: m for r, m in CORNELL_MEMBERS.items() if not (dest / r).is_file()}
        if missing:
            log(f"fetching {CORNELL_ZIP_URL}")
            archive = zipfile.ZipFile(io.BytesIO(_fetch(CORNELL_ZIP_URL, timeout)))
            by_basename = {Path(name).name: name for name in archive.namelist()}
            for relative, member in missing.items():
                _write(dest / relative, archive.read(by_basename[member]))
                written.append(dest / relative)
    except (urllib.error.URLError, OSError, TimeoutError, zipfile.BadZipFile, KeyError) as error:
        raise DownloadError(f"Download failed ({error}).\n{manual_instructions(dest)}") from None
    return written


def _write(target: Path, payload: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    temporary.write_bytes(payload)
    temporary.replace(target)


def _read_checksums(mirror: Path) -> dict[str, str]:
    sums = mirror / "SHA256SUMS"
    if not sums.is_file():
        return {}
    entries = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.lstrip("*").removeprefix("./")] = digest
    return entries


def copy_from(mirror: Path, dest: Path, log=print) -> list[Path]:
    """Copies the data layout from a local mirror, verifying SHA256SUMS where the mirror has it."""
    if not mirror.is_dir():
        raise DownloadError(f"Mirror directory {mirror} does not exist.")
    absent = [relative for relative in REQUIRED if not (mirror / relative).is_file()]
    if absent:
        raise DownloadError(f"Mirror {mirror} lacks {', '.join(absent)}.\n{manual_instructions(dest)}")
    checksums = _read_checksums(mirror)
    relatives = sorted({*FILE_URLS, *CORNELL_MEMBERS, *checksums, *MIRROR_EXTRAS})
    written = []
    for relative in relatives:
        source = mirror / relative
        if not source.is_file():
            continue
        if relative in checksums:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            if digest != checksums[relative]:
                raise DownloadError(f"{source} does not match its SHA256SUMS entry; the mirror is damaged.")
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        log(f"copied {relative}")
        written.append(target)
    return written


FLAGS = flags.FLAGS
flags.DEFINE_string("dest", None, "Directory to put the data in (it gets varattn/, squad/, cornell/).")
flags.DEFINE_string("from", None, "Copy from this local mirror (same layout) instead of downloading.")
flags.DEFINE_float("timeout", 10.0, "Seconds to wait for each network operation.")


def main(argv: list[str]) -> Optional[int]:
    del argv
    if not FLAGS.dest:
        print("error: --dest DIR is required.", file=sys.stderr)
        return 2
    dest = Path(FLAGS.dest).expanduser().resolve()
    mirror = FLAGS["from"].value
    try:
        written = copy_from(Path(mirror).expanduser().resolve(), dest) if mirror else download(dest, FLAGS.timeout)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(written)} file(s) written to {dest}. Use it with --data_dir {dest} or VARATTN_DATA_DIR={dest}.")
    return 0


if __name__ == "__main__":
    app.run(main)
