"""Example overlays for the report: lesion contour on ultrasound; nuclei and TIL-like nuclei on H&E.

Each figure is written as SVG (vector) and 300-dpi PNG. Colours from the Okabe–Ito
colour-blind-safe palette.
"""

from __future__ import annotations

from pathlib import Path

from latc.plot import save_and_close

import numpy as np

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}


def _save(fig, path: str | Path) -> list[Path]:
    return save_and_close(fig, path)


def plot_ultrasound_overlay(image: np.ndarray, mask: np.ndarray, path: str | Path, *, title: str = "",
                            spacing_mm: float | None = None) -> list[Path]:
    """Grey ultrasound with the lesion mask contour (marching squares at 0.5); a 10 mm scale bar
    when the spacing is known. Returns the written SVG and PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.measure import find_contours

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255 if np.nanmax(image) > 1 else 1, interpolation="nearest")
    for c in find_contours(np.asarray(mask, dtype=float), 0.5):
        ax.plot(c[:, 1], c[:, 0], color=OKABE_ITO["orange"], lw=1.2)
    if spacing_mm:
        n = 10.0 / spacing_mm
        h, w = image.shape
        ax.plot([w * 0.05, w * 0.05 + n], [h * 0.94, h * 0.94], color="white", lw=2)
        ax.text(w * 0.05, h * 0.91, "10 mm", color="white", fontsize=7)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def plot_nuclei_overlay(rgb: np.ndarray, labels: np.ndarray, til_labels: np.ndarray | list, path: str | Path, *,
                        title: str = "") -> list[Path]:
    """H&E tile with nucleus outlines (blue) and TIL-like nuclei (vermillion)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(rgb, interpolation="nearest")
    til = np.isin(labels, np.asarray(til_labels, dtype=labels.dtype))
    b_all = find_boundaries(labels, mode="inner") & ~til
    b_til = find_boundaries(np.where(til, labels, 0), mode="inner")
    over = np.zeros(labels.shape + (4,))
    over[b_all] = matplotlib.colors.to_rgba(OKABE_ITO["blue"])
    over[b_til] = matplotlib.colors.to_rgba(OKABE_ITO["vermillion"])
    ax.imshow(over, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    return _save(fig, path)
