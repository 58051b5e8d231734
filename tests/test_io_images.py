"""Images are read right (bit depth, formats) or refused with a message that says why (size, truncation,
not an image).
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from invert.errors import InvertError
from invert.io import images as io
from invert.io import load_image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16_rgb(path: Path, arr: np.ndarray) -> Path:
    """A 16-bit RGB PNG written byte by byte from the PNG spec (PIL cannot write 16-bit RGB)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))  # filter type 0 per row, big-endian
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # bit depth 16, colour type 2 (RGB)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )
    return path


def write_png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width``×``height`` (what a decompression bomb looks like)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * (3 * 64 + 1) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
    )
    return path


def test_16bit_grey_png_scaled_by_its_bit_depth(tmp_path: Path) -> None:
    arr = (np.arange(32 * 40).reshape(32, 40) * 50).astype(np.uint16)  # 0 … 63950: almost the whole 16-bit range
    Image.fromarray(arr).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    img = load_image(tmp_path / "g16.png")
    expected = torch.from_numpy(arr.astype(np.float64) / 65535.0)
    assert img.shape == (3, 32, 40)
    for c in range(3):
        torch.testing.assert_close(img[c].double(), expected, atol=1e-6, rtol=0)
    assert img.mean() < 0.6  # the old uint16/255-then-clamp made it almost all white (mean ≈ 1)


def test_16bit_rgb_png_scaled_by_its_bit_depth(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(20, 24, 3), dtype=np.uint16)
    img = load_image(write_png16_rgb(tmp_path / "rgb16.png", arr))
    expected = torch.from_numpy(arr.astype(np.float64) / 65535.0).permute(2, 0, 1)
    torch.testing.assert_close(img.double(), expected, atol=1e-6, rtol=0)


def test_8bit_png_is_exact_and_other_formats_read_through_pil(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)
    expected = torch.from_numpy(arr).permute(2, 0, 1).double() / 255.0
    Image.fromarray(arr).save(tmp_path / "a.png")
    Image.fromarray(arr).save(tmp_path / "a.bmp")  # a format torchvision's decoders do not read
    torch.testing.assert_close(load_image(tmp_path / "a.png").double(), expected, atol=1e-7, rtol=0)
    torch.testing.assert_close(load_image(tmp_path / "a.bmp").double(), expected, atol=1e-7, rtol=0)


def test_huge_header_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    path = write_png_header_only(tmp_path / "bomb.png", 20000, 20000)
    assert path.stat().st_size < 2000

    def no_decode(p: Path) -> torch.Tensor:
        raise AssertionError("decoded an image over the pixel limit")

    monkeypatch.setattr(io, "_decode", no_decode)
    with pytest.raises(
        InvertError, match=r"20000×20000 = 400,000,000 pixels, over the limit of 100,000,000.*--max-pixels"
    ):
        load_image(path, 64)


def test_pixel_limit_can_be_raised_by_parameter_and_environment(tmp_path: Path, monkeypatch) -> None:
    Image.fromarray(np.zeros((60, 50, 3), np.uint8)).save(tmp_path / "m.png")  # 3000 pixels
    with pytest.raises(InvertError, match="over the limit of 2,999"):
        load_image(tmp_path / "m.png", max_pixels=2999)
    assert load_image(tmp_path / "m.png", max_pixels=3000).shape == (3, 60, 50)
    monkeypatch.setenv("INVERT_MAX_PIXELS", "1000")
    with pytest.raises(InvertError, match="over the limit of 1,000"):
        load_image(tmp_path / "m.png")
    assert load_image(tmp_path / "m.png", max_pixels=5000).shape == (3, 60, 50)  # the parameter wins
    monkeypatch.setenv("INVERT_MAX_PIXELS", "lots")
    with pytest.raises(InvertError, match="INVERT_MAX_PIXELS"):
        load_image(tmp_path / "m.png")


def test_tiny_image_warns_and_normal_one_does_not(tmp_path: Path) -> None:
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(tmp_path / "dot.png")
    with pytest.warns(UserWarning, match=r"only 1×1 px.*upsampled to 32×32"):
        img = load_image(tmp_path / "dot.png", 32)
    assert img.shape == (3, 32, 32)
    torch.testing.assert_close(img, torch.full((3, 32, 32), 200 / 255))
    Image.fromarray(np.full((16, 40, 3), 9, np.uint8)).save(tmp_path / "ok.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(tmp_path / "ok.png", 32)


def test_truncated_jpeg_and_text_file_get_distinct_messages(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.png").write_text("not a picture\n")
    assert load_image(tmp_path / "full.jpg").shape == (3, 64, 64)
    with pytest.raises(InvertError, match="truncated or corrupt") as cut:
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(InvertError, match="not an image file") as text:
        load_image(tmp_path / "notes.png")
    text_msg, cut_msg = str(text.value).replace(str(tmp_path), ""), str(cut.value).replace(str(tmp_path), "")
    assert "truncated" not in text_msg and "not an image" not in cut_msg


def test_cli_refuses_huge_image_in_one_line(tmp_path: Path, cli) -> None:
    bomb = write_png_header_only(tmp_path / "bomb.png", 20000, 20000)
    r = cli(
        "run",
        "--model",
        "resnet18",
        "--layer",
        "conv2",
        "--size",
        "32",
        "--iterations",
        "1",
        "--image",
        bomb,
        "--out",
        tmp_path / "out",
        "--quiet",
    )
    assert r.code != 0
    assert "over the limit" in r.err and "Traceback" not in r.err + r.out
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_cli_max_pixels_option_refuses_and_tiny_image_warns_in_one_line(tmp_path: Path, cli) -> None:
    from PIL import Image

    Image.new("RGB", (40, 40), (120, 30, 200)).save(tmp_path / "mid.png")
    args = ("run", "--model", "resnet18", "--layer", "conv1", "--size", "32", "--iterations", "1", "--quiet")
    r = cli(*args, "--image", tmp_path / "mid.png", "--max-pixels", "1000", "--out", tmp_path / "a")
    assert r.code == 2 and "1,600 pixels, over the limit of 1,000" in r.err and "Traceback" not in r.err
    assert cli(*args, "--image", tmp_path / "mid.png", "--max-pixels", "1600", "--out", tmp_path / "b").code == 0
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "tiny.png")
    r = cli(*args, "--image", tmp_path / "tiny.png", "--out", tmp_path / "c")
    assert r.code == 0
    assert "warning: image" in r.err and "8×8" in r.err and "UserWarning" not in r.err and "warnings.warn" not in r.err
