"""Reading ultrasound images with their lesion masks, and H&E tiles.

File layout (what the manifest's ``file_ref`` points at):

* **ultrasound** — one 2D grayscale image per sample (``.png``, ``.tif``/``.tiff``, ``.npy``, or
  ``.dcm`` read with pydicom, which MIRP already depends on) and its lesion mask **beside it**
  named ``<stem>_mask.<ext>`` with any of ``.png/.tif/.tiff/.npy`` (non-zero = lesion).
  An image without a mask is an error naming the sample: radiomics are only defined inside a
  region of interest (IBSI 2020, §2.1).
* **he_slide** — one (multi-page) TIFF or PNG per sample; each page is an RGB tile.

Pixel spacing travels with the file where the format allows it: PNG ``pHYs`` (dpi), TIFF
``XResolution``/``ResolutionUnit``, DICOM ``PixelSpacing`` or the ultrasound region's
``PhysicalDeltaX`` (cm). Where the file carries none, callers pass a default and the feature
tables record that the spacing was assumed (``spacing_source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latc.omics._manifest import OmicsInputError

MASK_SUFFIX = "_mask"
MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".npy")
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


@dataclass
class UltrasoundImage:
    """One 2D ultrasound image (float intensities as stored, e.g. 0–255) with its lesion mask."""

    sample_id: str
    image: np.ndarray
    mask: np.ndarray
    spacing_mm: float | None  # in-plane pixel spacing, None when the file carries none
    path: Path
    mask_path: Path


def mask_path_for(image_path: str | Path) -> Path | None:
    """The lesion mask beside an image (``<stem>_mask.<ext>``), or None when there is none."""
    p = Path(image_path)
    for ext in MASK_EXTENSIONS:
        cand = p.with_name(p.stem + MASK_SUFFIX + ext)
        if cand.exists():
            return cand
    return None


def _spacing_from_dpi(dpi) -> float | None:
    if not dpi:
        return None
    x = float(dpi[0])
    return 25.4 / x if x > 1.0 else None  # PIL reports 1 dpi (or 72) for files without a real pHYs


def _tiff_spacing_mm(page) -> float | None:
    tags = page.tags
    if "XResolution" not in tags:
        return None
    num, den = tags["XResolution"].value
    unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
    px_per_unit = num / den if den else 0
    if px_per_unit <= 1 or unit == 1:
        return None
    return (25.4 if unit == 2 else 10.0) / px_per_unit


def read_array(path: str | Path, *, what: str = "image") -> tuple[np.ndarray, float | None]:
    """Pixel array (2D grayscale, or H×W×3 RGB; multi-page TIFF → pages stacked first) and the
    in-plane spacing in mm if the file records one. Raises :class:`OmicsInputError` for an
    unreadable or unsupported file."""
    p = Path(path)
    ext = p.suffix.lower()
    try:
        if ext == ".npy":
            return np.load(p, allow_pickle=False), None
        if ext in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(p) as tf:
                arr = np.stack([pg.asarray() for pg in tf.pages]) if len(tf.pages) > 1 else tf.pages[0].asarray()
                return arr, _tiff_spacing_mm(tf.pages[0])
        if ext == ".dcm":
            import pydicom

            ds = pydicom.dcmread(p)
            arr = ds.pixel_array
            sp = None
            if "PixelSpacing" in ds:
                sp = float(ds.PixelSpacing[1])
            elif "SequenceOfUltrasoundRegions" in ds and len(ds.SequenceOfUltrasoundRegions):
                sp = float(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX) * 10.0  # cm → mm
            return arr, sp
        if ext in (".png", ".jpg", ".jpeg", ".bmp"):
            from PIL import Image

            with Image.open(p) as im:
                dpi = im.info.get("dpi")
                if im.mode in ("P", "LA", "RGBA", "CMYK", "YCbCr", "1"):
                    im = im.convert("RGB") if im.mode != "1" else im.convert("L")
                return np.asarray(im), _spacing_from_dpi(dpi)
    except OmicsInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a data problem to report
        raise OmicsInputError(f"cannot read {what} {p.name}: {type(exc).__name__}: {exc}") from None
    raise OmicsInputError(f"cannot read {what} {p.name}: unsupported file type {ext or '(none)'} "
                          f"(expected .png, .tif, .tiff, .npy or .dcm)")


def to_grayscale(arr: np.ndarray) -> np.ndarray:
    """Float grayscale on the stored scale: RGB(A) → BT.601 luma, multi-frame → first frame."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].astype(float) @ _LUMA
    elif a.ndim == 3:
        a = a[0]
    return a.astype(float)


def load_ultrasound(sample_id: str, path: str | Path) -> UltrasoundImage:
    """Read one ultrasound image and its lesion mask; errors name the sample and the file."""
    p = Path(path)
    if not p.exists():
        raise OmicsInputError(f"ultrasound sample {sample_id}: image file {p.name} is missing")
    mpath = mask_path_for(p)
    if mpath is None:
        raise OmicsInputError(f"ultrasound sample {sample_id}: no lesion mask beside {p.name} "
                              f"(expected {p.stem}{MASK_SUFFIX}.png/.tif/.npy); radiomics need a region of interest")
    try:
        arr, spacing = read_array(p, what="ultrasound image")
        marr, _ = read_array(mpath, what="lesion mask")
    except OmicsInputError as exc:
        raise OmicsInputError(f"ultrasound sample {sample_id}: {exc}") from None
    img = to_grayscale(arr)
    if img.ndim != 2:
        raise OmicsInputError(f"ultrasound sample {sample_id}: {p.name} is not a 2D image (shape {arr.shape})")
    m = np.asarray(marr)
    if m.ndim == 3:
        m = m[..., 0] if m.shape[-1] in (3, 4) else m[0]
    mask = m > 0
    if mask.shape != img.shape:
        raise OmicsInputError(f"ultrasound sample {sample_id}: mask {mpath.name} has shape {mask.shape} "
                              f"but the image {p.name} has {img.shape}")
    if not mask.any():
        raise OmicsInputError(f"ultrasound sample {sample_id}: mask {mpath.name} is empty (no lesion pixel)")
    return UltrasoundImage(sample_id, img, mask, spacing, p, mpath)


def load_he_tiles(sample_id: str, path: str | Path) -> tuple[list[np.ndarray], float | None]:
    """The RGB tiles of one H&E sample (uint8 H×W×3 each) and the µm per pixel if recorded."""
    p = Path(path)
    if not p.exists():
        raise OmicsInputError(f"he_slide sample {sample_id}: file {p.name} is missing")
    try:
        arr, spacing_mm = read_array(p, what="H&E image")
    except OmicsInputError as exc:
        raise OmicsInputError(f"he_slide sample {sample_id}: {exc}") from None
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[None]
    if a.ndim != 4 or a.shape[-1] not in (3, 4):
        raise OmicsInputError(f"he_slide sample {sample_id}: {p.name} is not an RGB image (shape {a.shape})")
    if a.dtype != np.uint8:
        hi = float(a.max()) if a.size else 1.0
        a = np.clip(a.astype(float) * (255.0 / (65535.0 if hi > 255 else 255.0)), 0, 255).astype(np.uint8)
    tiles = [t[..., :3] for t in a]
    return tiles, (spacing_mm * 1000.0 if spacing_mm else None)
