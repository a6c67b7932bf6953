"""Image files to normalised arrays without torchvision: PIL decoding, resizing, ImageNet
normalisation and the training augmentations (random resized crop, horizontal flip).

A missing or unreadable image never stops a fit: it becomes a blank (zero after normalisation)
image, its row gets a missing flag, and the number of such images is reported once per call. So
does a path that is not a regular file (a folder, a named pipe that would block forever, a
device) and an image of more than MAX_PIXELS (a decompression bomb); JPEGs are decoded at a
reduced scale straight away (PIL's draft mode), so a large photo costs little memory.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import split_list

MAX_PIXELS = 64_000_000  # 8000 x 8000; a 48-megapixel phone photo fits, a 20000 x 20000 bomb does not
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def resolve(path: str, image_dir: str | Path | None) -> Path:
    p = Path(str(path).strip())
    if p.is_absolute() or image_dir is None:
        return p
    return Path(image_dir) / p


def cell_paths(value, kind: str) -> list[str]:
    """The image paths in one cell: one for an `image` column, any number for `image_list`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return split_list(value) if kind == "image_list" else [str(value)]


def load_image(path: Path, size: int, rng: np.random.Generator | None = None) -> np.ndarray | None:
    """(3, size, size) float32, normalised; None when the image cannot be used (see `read_image`).
    With `rng`, a random resized crop (8%-100% of the area, 3/4-4/3 aspect) and a random flip."""
    arr, _ = read_image(path, size, rng)
    return arr


class UnusableImage(Exception):
    """Why an image file cannot be used: "missing", "not a file", "too large" or "unreadable"."""


@contextmanager
def open_image(path: Path):
    """The one way automm opens an image file (size planning, embedding, fine-tuning): a PIL image
    whose header has been read, or UnusableImage with the reason. Never blocks on a pipe or a device
    (they are refused before opening), and refuses more than MAX_PIXELS, PIL's own bomb error included,
    before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError
    try:
        if not path.is_file():  # is_file follows links and is False for folders, pipes and devices
            raise UnusableImage("missing" if not path.exists() else "not a file")
    except OSError:
        raise UnusableImage("unreadable") from None
    try:
        im = Image.open(path)
    except Image.DecompressionBombError:
        raise UnusableImage("too large") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError, EOFError):
        raise UnusableImage("unreadable") from None
    with im:
        if im.width * im.height > MAX_PIXELS:
            raise UnusableImage("too large")
        yield im


def image_side(path: Path) -> int | None:
    """The short side of an image from its header (nothing decoded); None when it cannot be used."""
    try:
        with open_image(path) as im:
            return min(im.size)
    except UnusableImage:
        return None


def read_image(path: Path, size: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray | None, str]:
    """(pixels or None, why not: "missing", "not a file", "too large" or "unreadable")."""
    from PIL import Image, UnidentifiedImageError
    try:
        with open_image(path) as im:
            # JPEG: decode at 1/2, 1/4 or 1/8 scale straight away, keeping at least twice the size needed
            im.draft("RGB", (2 * size, 2 * size))
            im = _on_white(im)
            if rng is not None:
                im = _random_crop(im, rng)
                if rng.random() < 0.5:
                    im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            else:
                im = _center_crop(im)
            im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except UnusableImage as why:
        return None, str(why)
    except Image.DecompressionBombError:
        return None, "too large"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError, EOFError):
        return None, "unreadable"  # a truncated or corrupt file fails only when its pixels are decoded
    return ((arr - MEAN) / STD).transpose(2, 0, 1), ""


def _on_white(im):
    """RGB, with transparent pixels (sprites, logos) on white rather than on black."""
    from PIL import Image
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")


def _center_crop(im, frac: float = 0.875):
    w, h = im.size
    side = int(min(w, h) * frac) or min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return im.crop((left, top, left + side, top + side))


def _random_crop(im, rng: np.random.Generator):
    w, h = im.size
    for _ in range(10):
        area = w * h * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return im.crop((left, top, left + cw, top + ch))
    return _center_crop(im, 1.0)


class ImageBatcher:
    """Loads the images of one column for a set of rows, pooling several images per row later:
    returns pixels (n_images, 3, s, s), the row of each image, and a per-row missing flag."""

    def __init__(self, kind: str, image_dir: str | Path | None, size: int, max_per_row: int = 4):
        self.kind, self.image_dir, self.size, self.max_per_row = kind, image_dir, size, max_per_row
        self.bad = 0  # images that could not be used, so far
        self.why: Counter = Counter()  # and why

    def __call__(self, values: pd.Series | np.ndarray, rng: np.random.Generator | None = None,
                 column: str = "", report: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """report=False: count the bad images but leave the warning to `report_bad` (one per column)."""
        pixels, owner, before, why_before = [], [], self.bad, Counter(self.why)
        missing = np.ones(len(values), dtype=bool)
        for i, v in enumerate(np.asarray(values, dtype=object)):
            for p in cell_paths(v, self.kind)[: self.max_per_row]:
                arr, why = read_image(resolve(p, self.image_dir), self.size, rng)
                if arr is None:
                    self.bad += 1
                    self.why[why] += 1
                    continue
                pixels.append(arr)
                owner.append(i)
                missing[i] = False
        if report:
            self.report_bad(column, self.bad - before, self.why - why_before)
        pix = np.stack(pixels) if pixels else np.zeros((0, 3, self.size, self.size), np.float32)
        return pix, np.asarray(owner, dtype=np.int64), missing

    @staticmethod
    def report_bad(column: str, bad: int, why: Counter | None = None) -> None:
        if bad:
            detail = f" ({', '.join(f'{n} {w}' for w, n in why.most_common())})" if why else ""
            warnings.warn(f"image column {column!r}: {bad} image(s) missing or unreadable{detail}; those rows get a "
                          f"blank image and a missing flag (check the paths, or set image_dir; images over "
                          f"{MAX_PIXELS // 1_000_000} megapixels are refused)", stacklevel=3)
