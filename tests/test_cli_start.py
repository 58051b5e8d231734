"""Start-up: `invert --help` and `invert run --help` import no torch; Ctrl-C and SIGTERM at any moment (an import
in progress included) stop with one line, `interrupted`, and exit status 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

INVERT = str(Path(sys.executable).with_name("invert"))


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=["invert", "run"])
def test_help_imports_no_torch(args):
    code = f"""
import sys
from invert.cli import main
try:
    main({args!r})
except SystemExit:
    pass
print("TORCH", "torch" in sys.modules, file=sys.stderr)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "TORCH False" in p.stderr and "Usage" in p.stdout, p.stderr[-2000:]


def test_a_signal_during_an_import_waits_for_the_import_to_finish(tmp_path):
    """The handler does not cut an import in half (which leaves a broken module): it is raised just after."""
    (tmp_path / "slowmod.py").write_text("import time\ntime.sleep(0.6)\nDONE = True\n")
    code = textwrap.dedent("""
        import os, signal, sys, threading
        from invert.start import handle_signals
        handle_signals()
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start()
        try:
            import slowmod
            import time
            time.sleep(5)
            print("NOT STOPPED")
        except KeyboardInterrupt:
            print("STOPPED", sys.modules["slowmod"].DONE)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.stdout.strip() == "STOPPED True", (p.stdout, p.stderr[-2000:])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_start_up_is_one_line_and_130(tmp_path, sig):
    """A signal while the command starts (imports, model build): one line, 130, no traceback, no lock left."""
    out = tmp_path / "early"
    args = ["run", "--model", "resnet18", "--size", "32", "--iterations", "100000", "--quiet", "--out", str(out)]
    proc = subprocess.Popen([INVERT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err, err[-2000:]
    assert not (out / ".invert.lock").exists()


def test_interrupt_inside_a_command_is_said(cli, monkeypatch):
    """typer turns a KeyboardInterrupt in a command into a silent exit 130: the CLI still says `interrupted`."""
    import invert.listing

    def stop() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(invert.listing, "print_models", stop)
    r = cli("models")
    assert r.code == 130 and r.err.strip() == "interrupted", r
