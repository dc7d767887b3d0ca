"""The course's data sets: a registry, a verified download cache, and loaders.

A file is looked for in three places, in order:

1. the cache, ``COURSE_DATA_DIR`` (default: ``data/`` in the repository);
2. a mirror, ``COURSE_DATA_MIRROR``: a local folder or a base URL laid out like
   the cache (CI points this at ``../shared/data``);
3. the canonical URLs of the data set.

Whatever is copied or downloaded into the cache is checked against its sha256
(where the bytes are known to be stable) and written atomically, so the cache
never holds a partial or unverified file. A cached file is checked again when it
is used: a stamp beside it (``.<name>.verified``: sha256, size, mtime) makes that
a ``stat`` call, and a file whose size or mtime changed is hashed again. A damaged
file is fetched again, or, if that fails, named in the error with the fix.

First used in lecture 01 (sequential data); lectures 02, 05, 06 and 08 and the lab load their data through it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.runtime import REPO_ROOT

TIMEOUT_S = 30.0  # per connection attempt; a stalled server must not hang a notebook
RETRIES = 2  # extra attempts per URL for network hiccups (not for 404s or bad checksums)
RETRY_WAIT_S = 0.5  # pause before the n-th retry: n * RETRY_WAIT_S


@dataclass(frozen=True)
class DataFile:
    """One file of a data set: where it lives in a mirror and where it comes from.

    Used by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """

    path: str  # relative path inside the cache and inside a mirror
    urls: tuple[str, ...]  # canonical sources, tried in order
    sha256: str | None  # of the canonical bytes, where upstream keeps them stable
    mirror_sha256: str | None  # of the course mirror's copy (see ../shared/data/SHA256SUMS)


@dataclass(frozen=True)
class DataSet:
    """A data set of the course: its files, what it holds and under which licence.

    Used by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """

    name: str
    description: str
    files: dict[str, DataFile]
    licence: str


def _gutenberg(number: int) -> tuple[str, ...]:
    return (
        f"https://www.gutenberg.org/cache/epub/{number}/pg{number}.txt",
        f"https://www.gutenberg.org/ebooks/{number}.txt.utf-8",
    )


_HF_IMDB = "https://huggingface.co/datasets/stanfordnlp/imdb/resolve/main/plain_text"

REGISTRY: dict[str, DataSet] = {
    "sherlock": DataSet(
        "sherlock",
        "The Complete Sherlock Holmes: 4 novels and 56 stories (plain-text collection v3.1)",
        {"text": DataFile(
            "sherlock/cano.txt",
            ("https://sherlock-holm.es/stories/plain-text/cano.txt",),
            None,  # upstream adds leading newlines the mirror lacks; compare text, not bytes
            "a402700fbf9140578927b0453ec9dc4a1f04be9029f259e752eafd9f59cefae3",
        )},
        "Public domain",
    ),
    "sherlock_adventures": DataSet(
        "sherlock_adventures",
        "The Adventures of Sherlock Holmes (Project Gutenberg eBook #1661)",
        {"text": DataFile(
            "sherlock/pg1661_adventures_of_sherlock_holmes.txt",
            _gutenberg(1661),
            None,  # Gutenberg regenerates its header and footer
            "e21895308fe6da6919abc53e2cf77d81f914887897546153cc5d49b2eadefe50",
        )},
        "Public domain (Project Gutenberg licence for the wrapper)",
    ),
    "tinyshakespeare": DataSet(
        "tinyshakespeare",
        "Tiny Shakespeare, from Karpathy's char-rnn",
        {"text": DataFile(
            "shakespeare/tinyshakespeare.txt",
            ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        )},
        "Public domain text; char-rnn repository MIT",
    ),
    "hamlet": DataSet(
        "hamlet",
        "Hamlet (Project Gutenberg eBook #1524)",
        {"text": DataFile(
            "shakespeare/hamlet.txt",
            _gutenberg(1524),
            None,
            "74f16013e2b7ce83d5f5c8d4b3c42f279242f6ddfa7bab0f31320301e60c81d6",
        )},
        "Public domain",
    ),
    "imdb": DataSet(
        "imdb",
        "Large Movie Review Dataset (Maas et al., ACL 2011), Hugging Face parquet layout",
        {
            split: DataFile(
                f"imdb/plain_text/{split}-00000-of-00001.parquet",
                (f"{_HF_IMDB}/{split}-00000-of-00001.parquet",),
                None,  # Hugging Face's bytes differ from the mirror's; the rows are the same
                digest,
            )
            for split, digest in (
                ("train", "c9cbbfb221b0a8173f5c4908078cb22d863f33bd1468e9a177bd48e7c09c970f"),
                ("test", "73e497717d9603621e1a0c3c55c81994e75b7476f14d575f88c14b9d104e385e"),
            )
        },
        "For research and teaching; cite Maas et al. (2011)",
    ),
}


class DataUnavailableError(RuntimeError):
    """A data file could not be found in the cache, the mirror, or online.

    Raised by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """


def cache_dir() -> Path:
    """The download cache, ``COURSE_DATA_DIR`` or ``data/`` in the repository.

    Used by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """
    return Path(os.environ.get("COURSE_DATA_DIR") or REPO_ROOT / "data").expanduser()


def _dataset(name: str) -> DataSet:
    if name not in REGISTRY:
        raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def fetch(name: str, part: str | None = None) -> Path:
    """Make sure a data set is in the cache and return its path.

    For a single-file data set this is the file; ``imdb`` has two parts,
    ``train`` and ``test``: pass ``part`` for one file, or leave it out to get
    both and the folder that holds them.

    Used by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """
    dataset = _dataset(name)
    if part is not None:
        if part not in dataset.files:
            raise ValueError(f"Data set {name!r} has parts {sorted(dataset.files)}, not {part!r}.")
        return _fetch_file(dataset, dataset.files[part])
    paths = [_fetch_file(dataset, f) for f in dataset.files.values()]
    return paths[0] if len(paths) == 1 else paths[0].parent


def _fetch_file(dataset: DataSet, file: DataFile) -> Path:
    target = cache_dir() / file.path
    damage = _check_cached(target, file) if target.is_file() else "not there"
    if damage is None:
        return target
    if damage != "not there":
        print(f"The cached file {target} is damaged ({damage}); fetching it again.", file=sys.stderr)
        target.unlink()  # or pooch would keep it: it does not download over a file it has no checksum for
        damage += "; removed"
    tried: list[str] = [f"cache: {target} ({damage})"]
    mirror = os.environ.get("COURSE_DATA_MIRROR", "").strip()
    sources: list[tuple[str, str | None]] = []
    if mirror:
        if re.match(r"^https?://", mirror, re.I):
            sources.append((mirror.rstrip("/") + "/" + file.path, file.mirror_sha256))
        else:
            local = _mirror_folder(mirror) / file.path
            try:
                _copy_verified(local, target, file.mirror_sha256)
                return _stamp(target)
            except (OSError, ChecksumError) as err:
                tried.append(f"mirror folder: {local} ({err})")
    else:
        tried.append("mirror: COURSE_DATA_MIRROR is not set")
    sources += [(url, file.sha256) for url in file.urls]
    for url, digest in sources:
        try:
            _download(url, target, digest)
            return _stamp(target)
        except Exception as err:  # noqa: BLE001 - every failure becomes one line of the report
            tried.append(f"{url} ({_short(err)})")
    raise DataUnavailableError(_unavailable_message(dataset, target, tried)) from None


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _stamp(path: Path, digest: str | None = None) -> Path:
    """Record the sha256, size and mtime of a file just checked, so later uses need only a stat."""
    info = path.stat()
    record = {"sha256": digest or sha256_of(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    try:
        _stamp_path(path).write_text(json.dumps(record))
    except OSError:
        pass  # a read-only cache (the grading sandbox): the file is hashed again next time
    return path


def _check_cached(path: Path, file: DataFile) -> str | None:
    """None if a cached file is still the one that was fetched, else why not (one line)."""
    info = path.stat()
    try:
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        stamp = {}
    if stamp.get("size") == info.st_size and stamp.get("mtime_ns") == info.st_mtime_ns:
        return None  # unchanged since it was checked
    actual = sha256_of(path)
    known = {d for d in (file.sha256, file.mirror_sha256, stamp.get("sha256")) if d}
    if actual in known or not (file.sha256 or stamp):
        # Matches what was fetched (only touched or copied); or nothing says what it should hold:
        # upstream's bytes vary and no stamp was written (a file put there by hand). Trust it from now on.
        _stamp(path, actual)
        return None
    expected = stamp.get("sha256") or file.sha256
    return f"damaged: {info.st_size:,} bytes with sha256 {actual[:12]}..., expected {expected[:12]}..."


def _mirror_folder(mirror: str) -> Path:
    """A mirror folder given as a path or a file:// URL, made absolute so messages show where we looked."""
    if mirror.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse

        mirror = unquote(urlparse(mirror).path)
    return Path(mirror).expanduser().absolute()


class ChecksumError(ValueError):
    """The bytes that arrived are not the ones the registry expects.

    Raised by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, as hex, read in blocks of 1 MiB.

    Used by ``load_text`` and ``load_imdb`` (lectures 01, 02, 05, 06 and 08, and the lab).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_verified(source: Path, target: Path, digest: str | None) -> None:
    """Copy a mirror file into the cache through a temporary file, checking its hash first."""
    if not source.is_file():
        raise FileNotFoundError("no such file")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        if digest and (actual := sha256_of(Path(tmp))) != digest:
            raise ChecksumError(f"sha256 {actual[:12]}... does not match the expected {digest[:12]}...")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download(url: str, target: Path, digest: str | None) -> None:
    """Download with a progress bar, a timeout and retries; pooch writes atomically and checks the hash."""
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT_S)
    logger = pooch.get_logger()
    for attempt in range(RETRIES + 1):
        if attempt == 0:
            print(f"Downloading {url}\n         to {target}", file=sys.stderr)
        level = logger.level
        logger.setLevel("WARNING")  # pooch's INFO lines advise its own API, which would only confuse here
        try:
            pooch.retrieve(
                url,
                known_hash=f"sha256:{digest}" if digest else None,
                fname=target.name,
                path=target.parent,
                downloader=downloader,
            )
            return
        except requests.HTTPError:
            raise  # a 404 will not go away by asking again
        except ValueError as err:  # pooch reports a hash mismatch as ValueError
            raise ChecksumError(str(err).split("\n")[0]) from None
        except requests.RequestException as err:
            if attempt == RETRIES:
                raise
            print(f"  {_short(err)} - trying again ({attempt + 2} of {RETRIES + 1})", file=sys.stderr)
            time.sleep(RETRY_WAIT_S * (attempt + 1))
        finally:
            logger.setLevel(level)


def _short(err: Exception) -> str:
    """One line saying why a source failed, without the transport library's traceback."""
    import requests

    text = str(err)
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code}"
    if isinstance(err, requests.Timeout) or "timed out" in text.lower():
        return f"no answer within {TIMEOUT_S:g} s (timed out)"
    if isinstance(err, requests.exceptions.ChunkedEncodingError) or (
        isinstance(err, requests.ConnectionError)
        and ("IncompleteRead" in text or "Connection broken" in text)
    ):
        return "the connection broke off before the whole file arrived"
    if isinstance(err, requests.ConnectionError):
        return "could not connect; are you offline?"
    if isinstance(err, ChecksumError):
        return f"checksum mismatch: {err}"
    if isinstance(err, requests.RequestException):
        return f"{type(err).__name__}: the download failed"
    return f"{type(err).__name__}: {err}"


def _unavailable_message(dataset: DataSet, target: Path, tried: list[str]) -> str:
    lines = [f"Could not get the data set {dataset.name!r} ({dataset.description})."]
    lines += ["Tried, in order:"] + [f"  - {t}" for t in tried]
    lines += [
        "Fix it in one of two ways:",
        "  1. point the course at a local copy of the data, a folder or URL laid out like shared/data:",
        "       export COURSE_DATA_MIRROR=/path/to/shared/data",
        f"  2. or put the file yourself at {target}",
    ]
    return "\n".join(lines)


_GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
_GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)


def clean_text(text: str) -> str:
    """Normalise line endings and cut off a Project Gutenberg header and footer, if any.

    Leading blank lines go too: upstream copies of the canon start with some that the mirror lacks.

    Used by ``load_text`` (lectures 01, 02, 06 and 08, and the lab).
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    start = _GUTENBERG_START.search(text)
    end = _GUTENBERG_END.search(text, start.end() if start else 0)
    if start or end:
        body = text[start.end() if start else 0: end.start() if end else len(text)]
        return body.strip("\n") + "\n"
    return text.lstrip("\n")


def load_text(name: str) -> str:
    """The text of a data set, cleaned with :func:`clean_text`.

    Used in lectures 01, 02, 06, 08 and 09, and the lab sherlock_rnn_vs_gru.
    """
    dataset = _dataset(name)
    if "text" not in dataset.files:
        raise ValueError(f"{name!r} is not a text data set; use load_imdb for 'imdb'.")
    return clean_text(fetch(name).read_text(encoding="utf-8"))


def load_imdb(split: str = "train"):
    """The IMDb reviews of one official split as a DataFrame with columns ``text`` and ``label``.

    Labels are 0 (negative) and 1 (positive). Rows come sorted by label, so shuffle them.

    Used in lecture 05, and the lab imdb_sentiment.
    """
    import pandas as pd

    if split not in ("train", "test"):
        raise ValueError(f"IMDb has the splits 'train' and 'test', not {split!r}.")
    frame = pd.read_parquet(fetch("imdb", split), columns=["text", "label"])
    return frame
