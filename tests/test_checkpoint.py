"""Checkpoints and decoder files load with weights_only: a crafted pickle cannot run code, a corrupt file says so,
and a resumed run restores every RNG exactly."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from invert.errors import InvertError
from invert.training.checkpoint import Checkpointer, load_checkpoint


class _Payload:
    """Unpickling this calls open(marker, "w"): a file appears if the loader runs code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted(path, marker) -> None:
    torch.save({"epoch": 0, "history": [], "extra": {}, "rng": {}, "state": {}, "x": _Payload(str(marker))}, path)


def test_crafted_pickle_is_refused_without_running(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    _crafted(live / "last.pt", live / "pwned")
    torch.load(live / "last.pt", weights_only=False)  # positive control: the old way runs the payload
    assert (live / "pwned").exists()

    folder = tmp_path / "run"
    folder.mkdir()
    marker = tmp_path / "pwned"
    _crafted(folder / "last.pt", marker)
    ckpt = Checkpointer(folder, {"model": torch.nn.Linear(2, 2)})
    with pytest.raises(InvertError, match="refused to load .*could run code"):
        ckpt.resume()
    assert not marker.exists()


@pytest.mark.parametrize(
    "content", [b"", b"not a checkpoint at all", "truncate"], ids=["empty", "garbage", "truncated"]
)
def test_corrupt_checkpoint_says_corrupt(tmp_path, content):
    net = torch.nn.Linear(3, 2)
    ckpt = Checkpointer(tmp_path, {"model": net})
    ckpt.save(0, [{"epoch": 1}])
    data = ckpt.last.read_bytes()
    ckpt.last.write_bytes(data[: len(data) // 2] if content == "truncate" else content)
    with pytest.raises(InvertError) as info:
        ckpt.resume()
    said = str(info.value).replace(str(tmp_path), "<dir>")  # the folder's name holds the test's name
    assert "corrupt" in said and "refused" not in said and "does not fit" not in said


def test_corrupt_checkpoint_through_classifier_training(tmp_path):
    """fit_classifier used to say 'does not fit this model' for a corrupt last.pt."""
    from invert.training.classifier import fit_classifier

    (tmp_path / "last.pt").write_bytes(b"\x00" * 64)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))
    x, y = torch.rand(8, 3, 4, 4), torch.tensor([0, 1] * 4)
    with pytest.raises(InvertError) as info:
        fit_classifier(net, x, y, epochs=1, batch_size=4, folder=tmp_path, progress=False)
    said = str(info.value).replace(str(tmp_path), "<dir>")
    assert "corrupt" in said and "does not fit" not in said


def test_corrupt_checkpoint_through_decoder_training(tmp_path):
    """The issue's case: a corrupt last.pt in a decoder run's layer folder says corrupt, not 'does not fit'."""
    from invert.decoder import DecoderTrainConfig, train_decoders

    (tmp_path / "conv1").mkdir()
    (tmp_path / "conv1" / "last.pt").write_bytes(b"\x00" * 64)
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
    cfg = DecoderTrainConfig(epochs=1, batch_size=4, val_fraction=0.25)
    with pytest.raises(InvertError) as info:
        train_decoders(
            "cifar_resnet20", ["conv1"], x, y, weights="untrained", config=cfg, folder=tmp_path, progress=False
        )
    said = str(info.value).replace(str(tmp_path), "<dir>")
    assert "corrupt" in said and "does not fit" not in said and "different run" not in said
    assert not (tmp_path / "conv1" / "decoder.pt").exists()  # nothing was trained over it


def test_resume_restores_weights_and_every_rng(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    ckpt = Checkpointer(tmp_path, {"model": net, "optimizer": opt})
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    ckpt.save(4, [{"epoch": 5, "loss": 0.25}], {"best": 0.25, "run": {"n": 8, "augment": False}}, best=True)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    weights = {k: v.clone() for k, v in net.state_dict().items()}

    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    start, history, extra = Checkpointer(tmp_path, {"model": fresh, "optimizer": fresh_opt}).resume()
    assert start == 5 and history == [{"epoch": 5, "loss": 0.25}] and extra["run"] == {"n": 8, "augment": False}
    assert all(torch.equal(fresh.state_dict()[k], w) for k, w in weights.items())
    assert fresh_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]
    assert set(load_checkpoint(ckpt.last)) == {"epoch", "history", "extra", "rng", "state"}


def test_decoder_file_loads_weights_only(tmp_path):
    from invert.decoder.training import load_decoder

    bad = tmp_path / "decoder.pt"
    marker = tmp_path / "pwned"
    torch.save({"meta": {"model": "cifar_resnet20"}, "x": _Payload(str(marker))}, bad)
    with pytest.raises(InvertError, match="refused"):
        load_decoder(bad)
    assert not marker.exists()


def test_a_kill_between_the_two_writes_never_leaves_last_ahead_of_best(tmp_path, monkeypatch):
    """An epoch that improved writes best.pt and last.pt; a kill -9 after the first write must not leave last.pt
    saying the epoch is done while best.pt holds an older one (the resumed run would end with the wrong weights)."""
    net = torch.nn.Linear(3, 2)
    ckpt = Checkpointer(tmp_path, {"model": net})
    ckpt.save(0, [{"epoch": 1}], {"best_epoch": 1}, best=True)
    with torch.no_grad():
        net.weight.add_(1.0)  # epoch 2 trained and improved

    class Killed(BaseException):
        pass

    real_save, writes = torch.save, []

    def save_then_die(obj, f, *args, **kwargs):
        if writes:
            raise Killed  # the process dies before its second file
        writes.append(f)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_die)
    with pytest.raises(Killed):
        ckpt.save(1, [{"epoch": 1}, {"epoch": 2}], {"best_epoch": 2}, best=True)
    monkeypatch.undo()
    last, best = load_checkpoint(ckpt.last), load_checkpoint(ckpt.best)
    assert last["epoch"] <= best["epoch"]  # resuming from last redoes (and rewrites) any epoch best.pt is behind on
    assert last["epoch"] == 0  # the kill came before the epoch was recorded as done
