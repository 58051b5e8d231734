"""Measurements: inversion metrics, plots, and (issue 3) exact inversion and conditioning."""

from invert.analysis.metrics import embedding_distance, flat_l2, input_distance, psnr, shifted_distance, ssim

__all__ = ["embedding_distance", "flat_l2", "input_distance", "psnr", "shifted_distance", "ssim"]
