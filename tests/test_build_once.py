"""``build_once``, the cache of trained helper models (decoders, the CIFAR-64 classifier, noise models): an
interrupted build keeps its work and resumes, only a finished build becomes the cache, a second process building the
same folder is refused, and a finished cache is reused without building."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from invert.errors import InvertError
from invert.io.folders import build_once


def _complete(folder):
    return (folder / "done.txt").is_file()


def test_an_interrupted_build_resumes_and_only_a_finished_one_becomes_the_cache(tmp_path):
    cache = tmp_path / "model-abc"
    calls = []

    def killed(into):  # finishes one "epoch", then dies
        calls.append(sorted(p.name for p in into.iterdir() if not p.name.startswith(".")))
        (into / "epoch1.txt").write_text("1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_once(cache, killed, complete=_complete)
    assert not cache.exists()  # nothing half-written where a reader looks
    assert (tmp_path / "model-abc.partial" / "epoch1.txt").is_file()  # the work is kept

    def resumed(into):  # continues from what the first try left
        calls.append(sorted(p.name for p in into.iterdir() if not p.name.startswith(".")))
        (into / "done.txt").write_text((into / "epoch1.txt").read_text() + "+2")

    assert build_once(cache, resumed, complete=_complete) is False  # built here, not reused
    assert calls == [[], ["epoch1.txt"]]
    assert (cache / "done.txt").read_text() == "1+2" and not (tmp_path / "model-abc.partial").exists()
    assert not (cache / ".invert.lock").exists()

    def never(into):
        raise AssertionError("a complete cache must not be rebuilt")

    assert build_once(cache, never, complete=_complete) is True


def test_a_build_that_ends_incomplete_is_an_error_not_a_cache(tmp_path):
    cache = tmp_path / "m"
    with pytest.raises(InvertError, match="without a complete result — run the command again"):
        build_once(cache, lambda into: (into / "half.txt").write_text("x"), complete=_complete, what="noise training")
    assert not cache.exists() and (tmp_path / "m.partial" / "half.txt").is_file()


def test_a_second_process_building_the_same_cache_is_refused(tmp_path):
    cache = tmp_path / "m"
    holder = textwrap.dedent(
        f"""
        import time
        from invert.io.folders import claim_folder
        claim_folder({str(cache) + ".partial"!r}); print("locked", flush=True); time.sleep(60)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(InvertError, match="in use by another decoder training"):
            build_once(cache, lambda into: None, complete=_complete, what="decoder training")
    finally:
        p.kill()
        p.wait()
    assert not cache.exists()
