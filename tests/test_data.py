"""helpers.data against a real HTTP server on 127.0.0.1, and against the course's data mirror.

The server is the standard library's, started in a thread on an ephemeral port. Each test
registers a small data set whose URLs point at it and says what each path answers: the
file, a 404, nothing at all (a stall), half the file (a truncated body), or a dropped
connection. Retries keep their number but not their pauses, so the whole file runs in seconds.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import helpers.data as data

REPO_ROOT = Path(__file__).resolve().parent.parent
BODY = b"It is a capital mistake to theorize before one has data.\n" * 2000  # ~114 kB
BODY_SHA = hashlib.sha256(BODY).hexdigest()


def _shared_mirror() -> Path | None:
    """The course's local data mirror: COURSE_DATA_MIRROR if it is a folder, else ../shared/data."""
    for candidate in (os.environ.get("COURSE_DATA_MIRROR", ""), REPO_ROOT.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir() and (Path(candidate) / "SHA256SUMS").is_file():
            return Path(candidate).resolve()
    return None


SHARED = _shared_mirror()  # looked up before any test changes the environment
needs_mirror = pytest.mark.skipif(
    SHARED is None,
    reason="no local data mirror: set COURSE_DATA_MIRROR to a folder like shared/data, "
    "or put one at ../shared/data next to the repository",
)


# --- a real HTTP server -------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers each path as the test's `routes` say: ok, stall, truncate, drop or (default) 404."""

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        kind, *args = server.routes.get(self.path, ("404",))
        if kind == "flaky":  # drop the connection the first n times, then serve
            body, failures = args
            if server.requests.count(self.path) <= failures:
                kind = "drop"
            else:
                kind, args = "ok", [body]
        if kind == "ok":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(args[0])))
            self.end_headers()
            self.wfile.write(args[0])
        elif kind == "stall":  # accept the request, never answer
            server.release.wait(20)
        elif kind == "truncate":  # promise the whole file, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(args[0])))
            self.end_headers()
            self.wfile.write(args[0][: len(args[0]) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif kind == "drop":  # close without a status line
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.requests, httpd.release = {}, [], threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache, no mirror, short timeouts, and retries without pauses."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setattr(data, "TIMEOUT_S", 5.0)
    monkeypatch.setattr(data, "RETRY_WAIT_S", 0.0)
    return folder


def files_in(folder: Path) -> list[str]:
    """Every file under folder, hidden temporary files included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def register(monkeypatch, urls, sha256=None, mirror_sha256=None, name="toy") -> data.DataSet:
    dataset = data.DataSet(
        name,
        "a toy data set for the tests",
        {"text": data.DataFile("toy/toy.txt", tuple(urls), sha256, mirror_sha256)},
        "none",
    )
    monkeypatch.setitem(data.REGISTRY, name, dataset)
    return dataset


def dead_url(path="/gone.txt") -> str:
    """A URL on a loopback port nobody listens on: connecting is refused at once, as offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# --- downloads ------------------------------------------------------------------------------


def test_download_lands_in_cache_verified_and_is_reused(server, cache, monkeypatch):
    server.routes["/canonical/toy.txt"] = ("ok", BODY)
    register(monkeypatch, [server.url + "/canonical/toy.txt"], sha256=BODY_SHA)

    path = data.fetch("toy")

    assert path == cache / "toy" / "toy.txt"
    assert path.read_bytes() == BODY
    assert files_in(cache) == ["toy/.toy.txt.verified", "toy/toy.txt"]  # the file and its stamp
    assert data.fetch("toy") == path  # second call: from the cache, no request
    assert server.requests == ["/canonical/toy.txt"]


def test_404_names_data_set_urls_and_both_fixes(server, cache, monkeypatch):
    urls = [server.url + "/first/toy.txt", server.url + "/second/toy.txt"]
    register(monkeypatch, urls)

    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch("toy")

    message = str(info.value)
    assert "'toy'" in message
    for url in urls:
        assert f"{url} (HTTP 404)" in message
    assert "COURSE_DATA_MIRROR" in message
    assert str(cache / "toy" / "toy.txt") in message
    assert server.requests == ["/first/toy.txt", "/second/toy.txt"]  # a 404 is not retried
    assert files_in(cache) == []


def test_stalled_server_times_out(server, cache, monkeypatch):
    monkeypatch.setattr(data, "TIMEOUT_S", 1.0)
    monkeypatch.setattr(data, "RETRIES", 0)
    server.routes["/stall/toy.txt"] = ("stall",)
    register(monkeypatch, [server.url + "/stall/toy.txt"])

    start = time.perf_counter()
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch("toy")
    elapsed = time.perf_counter() - start

    assert "timed out" in str(info.value)
    assert 0.9 < elapsed < 10, f"a 1 s timeout took {elapsed:.1f} s"
    assert files_in(cache) == []


def test_truncated_body_is_retried_then_leaves_no_partial_file(server, cache, monkeypatch):
    server.routes["/cut/toy.txt"] = ("truncate", BODY)
    register(monkeypatch, [server.url + "/cut/toy.txt"])  # no checksum: the transport must notice

    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch("toy")

    assert "broke off before the whole file arrived" in str(info.value)
    assert server.requests == ["/cut/toy.txt"] * (1 + data.RETRIES)
    assert files_in(cache) == []


def test_wrong_checksum_leaves_no_file(server, cache, monkeypatch):
    server.routes["/canonical/toy.txt"] = ("ok", BODY)
    register(monkeypatch, [server.url + "/canonical/toy.txt"], sha256=hashlib.sha256(b"other").hexdigest())

    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch("toy")

    assert "checksum mismatch" in str(info.value)
    assert server.requests == ["/canonical/toy.txt"]  # the same bytes again would not help
    assert files_in(cache) == []


def test_dropped_connection_is_retried(server, cache, monkeypatch):
    monkeypatch.setattr(data, "RETRIES", 2)
    server.routes["/flaky/toy.txt"] = ("flaky", BODY, 2)
    register(monkeypatch, [server.url + "/flaky/toy.txt"], sha256=BODY_SHA)

    assert data.fetch("toy").read_bytes() == BODY
    assert server.requests == ["/flaky/toy.txt"] * 3


def test_second_url_is_tried_after_the_first_fails(server, cache, monkeypatch):
    server.routes["/second/toy.txt"] = ("ok", BODY)
    register(monkeypatch, [server.url + "/first/toy.txt", server.url + "/second/toy.txt"], sha256=BODY_SHA)

    assert data.fetch("toy").read_bytes() == BODY
    assert server.requests == ["/first/toy.txt", "/second/toy.txt"]


# --- mirrors --------------------------------------------------------------------------------


def test_mirror_given_as_url_comes_before_canonical(server, cache, monkeypatch):
    server.routes["/mirror/toy/toy.txt"] = ("ok", BODY)
    server.routes["/canonical/toy.txt"] = ("ok", b"the canonical copy")
    register(monkeypatch, [server.url + "/canonical/toy.txt"], mirror_sha256=BODY_SHA)
    monkeypatch.setenv("COURSE_DATA_MIRROR", server.url + "/mirror/")

    assert data.fetch("toy").read_bytes() == BODY
    assert server.requests == ["/mirror/toy/toy.txt"]


def test_mirror_url_without_the_file_falls_back_to_canonical(server, cache, monkeypatch):
    server.routes["/canonical/toy.txt"] = ("ok", BODY)
    register(monkeypatch, [server.url + "/canonical/toy.txt"], sha256=BODY_SHA, mirror_sha256=BODY_SHA)
    monkeypatch.setenv("COURSE_DATA_MIRROR", server.url + "/mirror")

    assert data.fetch("toy").read_bytes() == BODY
    assert server.requests == ["/mirror/toy/toy.txt", "/canonical/toy.txt"]


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-url"])
def test_mirror_given_as_folder(server, cache, monkeypatch, tmp_path, as_uri):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.txt").write_bytes(BODY)
    register(monkeypatch, [server.url + "/canonical/toy.txt"], mirror_sha256=BODY_SHA)
    monkeypatch.setenv("COURSE_DATA_MIRROR", mirror.as_uri() if as_uri else str(mirror))

    path = data.fetch("toy")

    assert path.read_bytes() == BODY
    assert files_in(cache) == ["toy/.toy.txt.verified", "toy/toy.txt"]
    assert server.requests == []


def test_mirror_folder_missing_the_file_falls_through_to_canonical(server, cache, monkeypatch, tmp_path):
    # A real registry entry, with its canonical URL pointed at the local server.
    entry = data.REGISTRY["tinyshakespeare"]
    part = dataclasses.replace(entry.files["text"], urls=(server.url + "/karpathy/input.txt",), sha256=BODY_SHA)
    monkeypatch.setitem(data.REGISTRY, "tinyshakespeare", dataclasses.replace(entry, files={"text": part}))
    server.routes["/karpathy/input.txt"] = ("ok", BODY)
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(empty_mirror))

    path = data.fetch("tinyshakespeare")

    assert path == cache / "shakespeare" / "tinyshakespeare.txt"
    assert path.read_bytes() == BODY
    assert server.requests == ["/karpathy/input.txt"]


def test_corrupt_mirror_file_is_not_copied(server, cache, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.txt").write_bytes(BODY[:-1])  # one byte short
    register(monkeypatch, [dead_url()], mirror_sha256=BODY_SHA)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))

    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch("toy")

    assert f"mirror folder: {mirror / 'toy' / 'toy.txt'} (sha256" in str(info.value)
    assert files_in(cache) == []


# --- offline -----------------------------------------------------------------------------


def _offline_sherlock(monkeypatch) -> str:
    """Point the real 'sherlock' entry at a refused port, as on a machine with no network."""
    entry = data.REGISTRY["sherlock"]
    url = dead_url("/stories/plain-text/cano.txt")
    part = dataclasses.replace(entry.files["text"], urls=(url,))
    monkeypatch.setitem(data.REGISTRY, "sherlock", dataclasses.replace(entry, files={"text": part}))
    return url


def test_offline_without_mirror_gives_one_clear_error(cache, monkeypatch):
    url = _offline_sherlock(monkeypatch)

    with pytest.raises(data.DataUnavailableError) as info:
        data.load_text("sherlock")

    err = info.value
    message = str(err)
    assert "'sherlock'" in message
    assert url in message and "could not connect" in message
    assert "COURSE_DATA_MIRROR is not set" in message
    assert "export COURSE_DATA_MIRROR=" in message
    assert str(cache / "sherlock" / "cano.txt") in message
    assert err.__cause__ is None and err.__suppress_context__ is True
    assert "urllib3" not in message and "Traceback" not in message
    assert files_in(cache) == []


def test_offline_error_as_a_student_sees_it(tmp_path):
    """The uncaught error in a fresh interpreter: one traceback, no chained urllib/requests frames."""
    script = textwrap.dedent(
        f"""
        import dataclasses, helpers.data as d
        e = d.REGISTRY["sherlock"]
        f = dataclasses.replace(e.files["text"], urls=({dead_url()!r},))
        d.REGISTRY["sherlock"] = dataclasses.replace(e, files={{"text": f}})
        d.RETRY_WAIT_S = 0
        print(len(d.load_text("sherlock")))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "COURSE_DATA_MIRROR"}
    env.update(COURSE_DATA_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("Traceback") == 1
    assert "During handling of the above exception" not in result.stderr
    assert "The above exception was the direct cause" not in result.stderr
    assert "site-packages" not in result.stderr  # no frames from requests, urllib3 or pooch
    assert "helpers.data.DataUnavailableError: Could not get the data set 'sherlock'" in result.stderr


# --- the public API's guards -------------------------------------------------------------


def test_unknown_names_and_parts_are_value_errors(cache):
    with pytest.raises(ValueError, match="Known data sets: sherlock, "):
        data.fetch("sherlok")
    with pytest.raises(ValueError, match=r"parts \['test', 'train'\]"):
        data.fetch("imdb", "valid")
    with pytest.raises(ValueError, match="load_imdb"):
        data.load_text("imdb")


def test_cache_dir_follows_course_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert data.cache_dir() == REPO_ROOT / "data"


# --- load_text ----------------------------------------------------------------------------


def put(cache: Path, name: str, raw: bytes, part: str = "text") -> Path:
    """Place bytes in the cache where the registry expects a data set's file."""
    path = cache / data.REGISTRY[name].files[part].path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


GUTENBERG = (
    "\ufeffThe Project Gutenberg eBook of The Adventures of Sherlock Holmes\r\n"
    "This eBook is for the use of anyone anywhere.\r\n\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK THE ADVENTURES OF SHERLOCK HOLMES ***\r\n\r\n\r\n"
    "To Sherlock Holmes she is always \u201cthe woman.\u201d\r\n"
    "I have seldom heard him mention her under any other name.\r\n\r\n\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK THE ADVENTURES OF SHERLOCK HOLMES ***\r\n"
    "Updated editions will replace the previous one.\r\n"
)
BOOK = (
    "To Sherlock Holmes she is always \u201cthe woman.\u201d\n"
    "I have seldom heard him mention her under any other name.\n"
)


def test_load_text_cuts_gutenberg_header_and_footer(cache):
    put(cache, "sherlock_adventures", GUTENBERG.encode("utf-8"))
    assert data.load_text("sherlock_adventures") == BOOK


def test_load_text_cuts_a_header_without_footer(cache):
    put(cache, "hamlet", GUTENBERG.split("*** END")[0].encode("utf-8"))
    assert data.load_text("hamlet") == BOOK


def test_load_text_normalises_line_endings_and_bom_and_keeps_the_rest(cache):
    raw = "\ufeff\n\n\n  THE SIGN OF THE FOUR\r\n\r\nChapter I\rThe Science of Deduction\r\n\n\n"
    put(cache, "sherlock", raw.encode("utf-8"))
    text = data.load_text("sherlock")
    assert text == "  THE SIGN OF THE FOUR\n\nChapter I\nThe Science of Deduction\n\n\n"
    assert "\r" not in text and "\ufeff" not in text


# --- load_imdb -----------------------------------------------------------------------------


def test_load_imdb_rejects_an_unknown_split_before_fetching(cache):
    with pytest.raises(ValueError, match="'train' and 'test'"):
        data.load_imdb("validation")
    assert files_in(cache) == []


def test_load_imdb_reads_text_and_label(cache):
    import pandas as pd

    frame = pd.DataFrame({"label": [0, 1], "text": ["Dreadful.<br />", "A delight :)"], "extra": [1, 2]})
    path = cache / data.REGISTRY["imdb"].files["test"].path
    path.parent.mkdir(parents=True)
    frame.to_parquet(path)

    loaded = data.load_imdb("test")

    assert list(loaded.columns) == ["text", "label"]
    assert loaded["text"].tolist() == ["Dreadful.<br />", "A delight :)"]
    assert loaded["label"].tolist() == [0, 1]


# --- the course's data mirror (../shared/data) --------------------------------------------------


@pytest.fixture
def from_shared(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(SHARED))
    return tmp_path / "cache"


@needs_mirror
def test_registry_checksums_match_the_mirror():
    sums = {}
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        sums[name.lstrip("*")] = digest
    for dataset in data.REGISTRY.values():
        for part in dataset.files.values():
            assert part.path in sums, f"{dataset.name}: {part.path} is not in the mirror's SHA256SUMS"
            assert part.mirror_sha256 == sums[part.path], f"{dataset.name}: registry and SHA256SUMS differ"
            assert data.sha256_of(SHARED / part.path) == sums[part.path], f"{SHARED / part.path} is corrupt"


@needs_mirror
def test_load_text_from_the_mirror(from_shared):
    raw = (SHARED / "sherlock" / "cano.txt").read_text(encoding="utf-8")
    text = data.load_text("sherlock")
    assert len(text) == len(raw)
    assert (from_shared / "sherlock" / "cano.txt").read_bytes() == (SHARED / "sherlock" / "cano.txt").read_bytes()
    # The mirror's copies have no Gutenberg wrapper: loading keeps every character after leading blank lines.
    for name in ("sherlock_adventures", "tinyshakespeare", "hamlet"):
        raw = (SHARED / data.REGISTRY[name].files["text"].path).read_text(encoding="utf-8")
        assert data.load_text(name) == raw.lstrip("\n"), name


@needs_mirror
def test_load_imdb_from_the_mirror(from_shared):
    for split in ("train", "test"):
        frame = data.load_imdb(split)
        assert frame.shape == (25000, 2)
        assert list(frame.columns) == ["text", "label"]
        assert frame["label"].value_counts().to_dict() == {0: 12500, 1: 12500}
        assert frame["text"].notna().all()


@needs_mirror
def test_readme_one_liner_prints_the_canon_length(tmp_path):
    """The issue's check: `python -c "... print(len(d.load_text('sherlock')))"` with the mirror."""
    env = dict(os.environ, COURSE_DATA_MIRROR=str(SHARED), COURSE_DATA_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", "import helpers.data as d; print(len(d.load_text('sherlock')))"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len((SHARED / "sherlock" / "cano.txt").read_text(encoding="utf-8")))


# --- a cached file is checked when it is used, not only when it is fetched ------------------------


def damage(path: Path) -> None:
    """Overwrite a cached file as the walkthrough did: 7 bytes, a new mtime."""
    path.write_bytes(b"damaged")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))


def test_an_overwritten_cache_file_is_fetched_again(server, cache, monkeypatch, capsys):
    server.routes["/canonical/toy.txt"] = ("ok", BODY)
    register(monkeypatch, [server.url + "/canonical/toy.txt"], sha256=BODY_SHA)
    path = data.fetch("toy")
    damage(path)

    assert data.fetch("toy").read_bytes() == BODY
    assert server.requests == ["/canonical/toy.txt"] * 2
    assert f"The cached file {path} is damaged (damaged: 7 bytes" in capsys.readouterr().err
    assert data.load_text("toy") == BODY.decode()  # and now it is trusted again, without a download
    assert len(server.requests) == 2


def test_a_damaged_cache_file_that_cannot_be_fetched_is_a_clear_error_naming_it(server, cache, monkeypatch):
    register(monkeypatch, [server.url + "/gone/toy.txt"], sha256=BODY_SHA)  # answers 404
    path = cache / "toy" / "toy.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"damaged")  # put there by hand, no stamp: the registry's checksum decides

    with pytest.raises(data.DataUnavailableError) as caught:
        data.load_text("toy")
    message = str(caught.value)
    assert f"cache: {path} (damaged: 7 bytes with sha256 " in message
    assert f"expected {BODY_SHA[:12]}...; removed)" in message
    assert f"put the file yourself at {path}" in message and "COURSE_DATA_MIRROR" in message
    assert files_in(cache) == []  # the damaged file is gone, and nothing half-written is left


def test_checking_a_cached_file_is_a_stat_until_it_changes(server, cache, monkeypatch):
    server.routes["/canonical/toy.txt"] = ("ok", BODY)
    register(monkeypatch, [server.url + "/canonical/toy.txt"], sha256=BODY_SHA)
    path = data.fetch("toy")
    hashed = []
    real = data.sha256_of
    monkeypatch.setattr(data, "sha256_of", lambda p: hashed.append(p) or real(p))

    for _ in range(3):
        data.fetch("toy")
    assert hashed == []  # the stamp matched: no file was read
    os.utime(path, ns=(time.time_ns() + 10**9,) * 2)  # touched, same bytes: hashed once, then trusted
    data.fetch("toy")
    data.fetch("toy")
    assert hashed == [path] and server.requests == ["/canonical/toy.txt"]


def test_a_file_put_by_hand_where_upstream_varies_is_trusted_then_guarded(server, cache, monkeypatch):
    register(monkeypatch, [server.url + "/gone/toy.txt"], sha256=None, mirror_sha256=BODY_SHA)
    path = cache / "toy" / "toy.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"my own copy of the text\n")  # e.g. Gutenberg's current bytes, which no checksum fixes

    assert data.load_text("toy") == "my own copy of the text\n"
    damage(path)  # from now on its stamp says what it held
    with pytest.raises(data.DataUnavailableError, match="damaged: 7 bytes"):
        data.load_text("toy")


@needs_mirror
@pytest.mark.parametrize("stamped", [True, False], ids=["stamped", "no-stamp"])
def test_a_damaged_cache_file_is_copied_again_from_the_mirror(from_shared, stamped):
    expected = (SHARED / "shakespeare" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    assert data.load_text("tinyshakespeare") == expected
    path = from_shared / "shakespeare" / "tinyshakespeare.txt"
    if not stamped:
        data._stamp_path(path).unlink()
    damage(path)

    assert data.load_text("tinyshakespeare") == expected  # the walkthrough got 7 characters here
    assert path.read_bytes() == (SHARED / "shakespeare" / "tinyshakespeare.txt").read_bytes()
