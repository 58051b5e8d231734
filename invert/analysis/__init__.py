"""Measurements: inversion metrics (m_g, m_s, m_i, PSNR, SSIM), exact inversion and conditioning."""

from invert.analysis.conditioning import (
    condition_number,
    dense_jacobian,
    end_to_end_matrix,
    jacobian_operator,
    jacobian_spectrum,
    mlp_singular_values,
    numerical_rank,
)
from invert.analysis.exact import LinearInverse, exact_invert, linear_layers, shifted_output_inversion
from invert.analysis.metrics import embedding_distance, flat_l2, input_distance, psnr, shifted_distance, ssim

__all__ = [
    "LinearInverse",
    "condition_number",
    "dense_jacobian",
    "end_to_end_matrix",
    "exact_invert",
    "jacobian_operator",
    "jacobian_spectrum",
    "linear_layers",
    "mlp_singular_values",
    "numerical_rank",
    "shifted_output_inversion",
    "embedding_distance",
    "flat_l2",
    "input_distance",
    "psnr",
    "shifted_distance",
    "ssim",
]
