"""
A sweep's table
===============

A sweep is a TOML file of lists; the grid is their product and each cell is one ``invert run``. This one
inverts two layers of a small model; ``table.csv`` holds a row per cell, ``summary.png`` draws m_g/m_s
and m_i against the layer. On the command line: ``invert sweep spec.toml --out DIR``.
"""

import csv
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from invert.sweep.runner import run_sweep

root = Path(tempfile.mkdtemp())
spec = root / "spec.toml"
spec.write_text(
    """
model = ["cifar_resnet20"]
layer = ["conv1", "conv3"]
seed = [0]
[run]
size = 32
iterations = 15
"""
)
run_sweep(spec, root / "sweep", workers=1, progress=False)  # workers=1: in this process

with open(root / "sweep" / "table.csv") as f:
    rows = list(csv.DictReader(f))
for r in rows:
    print(f"{r['layer']:6s} m_g {float(r['m_g']):8.3f}  m_s {float(r['m_s']):8.3f}  m_i {float(r['m_i']):6.2f}")

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.imshow(mpimg.imread(root / "sweep" / "summary.png"))
ax.axis("off")
