"""A decoder run interrupted in a warm-started layer and resumed records what the uninterrupted run does (issue 13)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from invert.decoder import DecoderTrainConfig, TrainingInterrupted, train_decoders
from invert.decoder import training as training_mod

LAYERS = ["conv2", "conv3"]


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth synthetic 32×32 images (a 4×4 colour field upsampled) and labels: no CIFAR-10 needed."""
    g = torch.Generator().manual_seed(0)
    x = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)
    return x, torch.randint(0, 10, (n,), generator=g)


def test_resumed_warm_started_layer_records_its_warm_start(tmp_path, monkeypatch):
    x, y = _data(48)
    cfg = DecoderTrainConfig(epochs=2, batch_size=12, lr=2e-3, patience=5, val_fraction=0.25)
    kw = {"weights": "untrained", "config": cfg, "progress": False}
    ref = train_decoders("cifar_resnet20", LAYERS, x, y, folder=tmp_path / "ref", **kw)
    copied = ref["conv3"][1].warm_started
    assert copied > 0  # conv3's decoder shares conv2's stages: the uninterrupted run copies them

    real = training_mod.decoder_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):  # Ctrl-C in conv3's second epoch: conv2 (2 × 3 batches) and conv3's first epoch done
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 3 * 2 + 3 + 1:
                raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training_mod, "decoder_loss", flaky)
    with pytest.raises(TrainingInterrupted):
        train_decoders("cifar_resnet20", LAYERS, x, y, folder=tmp_path / "run", **kw)
    assert (tmp_path / "run" / "conv3" / "last.pt").is_file()
    assert not (tmp_path / "run" / "conv3" / "result.json").exists()
    monkeypatch.setattr(training_mod, "decoder_loss", real)

    resumed = train_decoders("cifar_resnet20", LAYERS, x, y, folder=tmp_path / "run", **kw)
    assert resumed["conv3"][1].warm_started == copied
    assert json.loads((tmp_path / "run" / "conv3" / "result.json").read_text())["warm_started"] == copied
    assert [h["epoch"] for h in resumed["conv3"][1].history] == [1, 2]
    for k, v in ref["conv3"][0].state_dict().items():  # and the weights are the uninterrupted run's
        assert torch.equal(v, resumed["conv3"][0].state_dict()[k]), k
