"""An image folder (one subfolder per class) as a checked list of labelled image files.

Layout: ``<root>/<class name>/<image>.png|.jpg|.jpeg``. Labels are the indices of the
sorted class folder names. Every problem a user can fix (a missing folder, no images, a
class folder without images, images of mixed sizes when resizing is off, a file that is not
a readable image) is reported here, in one line naming the folder or file, before any Beam
work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlpipe.errors import DlpipeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LABELS_FILE = "labels.txt"
_EXPECTED = "Expected a directory with one subfolder per class holding PNG or JPEG images"


@dataclasses.dataclass(frozen=True)
class ImageShape:
    """The shape every image is written in: height, width, channels (1 grey, 3 RGB)."""

    height: int
    width: int
    channels: int

    @classmethod
    def of(cls, shape: Sequence[int]) -> ImageShape:
        """Checks ``(height, width, channels)``.

        Raises:
          DlpipeError: not three positive integers, or channels not 1 or 3.
        """
        values = tuple(shape) if isinstance(shape, (list, tuple)) else ()
        if (len(values) != 3 or not all(isinstance(v, int) and v > 0 for v in values)
                or values[2] not in (1, 3)):
            raise DlpipeError(
                f"image_shape must be (height, width, channels) with positive sizes and 1 "
                f"(grey) or 3 (RGB) channels. Received: image_shape={shape!r}."
            )
        return cls(*values)

    @property
    def mode(self) -> str:
        """The PIL mode images are converted to."""
        return "L" if self.channels == 1 else "RGB"

    def as_list(self) -> list[int]:
        return [self.height, self.width, self.channels]


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """The checked contents of an image folder."""

    root: Path
    labels: tuple[str, ...]
    """Class folder names, sorted; a label is an index into this."""
    files: tuple[tuple[str, int], ...]
    """(image path, label index), sorted by path."""
    shapes: frozenset[tuple[int, int, int]] = frozenset()
    """The (height, width, channels) the images have (channels 1 for grey images, 3 for any
    other mode, which is converted to RGB)."""

    def counts(self) -> dict[str, int]:
        """Images per class."""
        counts = dict.fromkeys(self.labels, 0)
        for _, label in self.files:
            counts[self.labels[label]] += 1
        return counts


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


GREY_MODES = ("1", "L", "I", "I;16", "F")


def _image_shape(path: Path) -> tuple[int, int, int]:
    """(height, width, channels) of a readable image file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            size = (height, width, 1 if image.mode in GREY_MODES else 3)
            image.verify()  # structure and checksums, without decoding every pixel
    except Exception as e:  # UnidentifiedImageError, OSError, SyntaxError from PIL alike
        raise DlpipeError(
            f"Cannot read image {path}: {_first_line(e)}. Expected a PNG or JPEG file."
        ) from None
    return size


def scan_image_folder(root: str | Path, image_shape: Sequence[int] | ImageShape | None = None,
                      resize: bool = True) -> ImageFolder:
    """Lists and checks the labelled images under ``root``, and the shapes they have.

    Args:
      root: The folder: one subfolder per class, images directly inside each.
      image_shape: ``(height, width, channels)`` the images are written in (None: only
        list and check them).
      resize: Whether images of another size are resized; if not, every image must
        already have the configured height and width.

    Raises:
      DlpipeError: naming the folder or file and what was expected.
    """
    root = Path(root)
    if not root.exists():
        raise DlpipeError(f"Image folder {root} does not exist. {_EXPECTED}.")
    if not root.is_dir():
        raise DlpipeError(f"Image folder {root} is not a directory. {_EXPECTED}.")
    stray = sorted(p.name for p in root.iterdir() if _is_image(p))
    if stray:
        raise DlpipeError(
            f"Image folder {root} holds images directly ({', '.join(stray[:3])}"
            f"{', ...' if len(stray) > 3 else ''}). {_EXPECTED}: <folder>/<class>/<image>."
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DlpipeError(f"Image folder {root} has no class subfolders. {_EXPECTED}.")
    files: list[tuple[str, int]] = []
    for label, class_dir in enumerate(class_dirs):
        images = sorted(p for p in class_dir.iterdir() if _is_image(p))
        if not images:
            others = [p.name for p in class_dir.iterdir() if not p.name.startswith(".")]
            found = f"it holds {len(others)} other entries" if others else "it is empty"
            raise DlpipeError(
                f"Class folder {class_dir} holds no PNG or JPEG images ({found}). Expected "
                f"images ({', '.join(IMAGE_SUFFIXES)}) in every class folder of {root}."
            )
        files.extend((str(p), label) for p in images)
    shapes: dict[tuple[int, int, int], str] = {}
    for path, _ in files:
        shapes.setdefault(_image_shape(Path(path)), path)
    if image_shape is not None and not resize:
        shape = image_shape if isinstance(image_shape, ImageShape) else ImageShape.of(image_shape)
        sizes = {(w, h): p for (h, w, _), p in shapes.items()}
        if set(sizes) != {(shape.width, shape.height)}:
            found = "; ".join(f"{w}x{h} (e.g. {p})" for (w, h), p in sorted(sizes.items()))
            raise DlpipeError(
                f"Images in {root} must all be {shape.width}x{shape.height} (width x height, "
                f"from image_shape={shape.as_list()}) because resizing is off. Found: {found}."
            )
    return ImageFolder(root, tuple(d.name for d in class_dirs), tuple(files),
                       frozenset(shapes))


def load_image(path: str, shape: ImageShape, resize: bool = True) -> np.ndarray:
    """Decodes one image as float32 ``(height, width, channels)`` raw pixel values (0-255).

    Grey and colour images are converted to the configured channels; with ``resize`` an
    image of another size is resized (bilinear).

    Raises:
      DlpipeError: the file cannot be decoded, or has the wrong size and resize is off.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert(shape.mode)
    except Exception as e:  # a file that passed the header check but does not decode
        raise DlpipeError(f"Cannot decode image {path}: {_first_line(e)}.") from None
    if image.size != (shape.width, shape.height):
        if not resize:
            raise DlpipeError(
                f"Image {path} is {image.size[0]}x{image.size[1]}, expected "
                f"{shape.width}x{shape.height} (resizing is off)."
            )
        image = image.resize((shape.width, shape.height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    return pixels.reshape(shape.height, shape.width, shape.channels)


def write_labels(directory: str | Path, labels: Sequence[str]) -> Path:
    """Writes ``labels.txt``: one class name per line, line i is label i."""
    path = Path(directory) / LABELS_FILE
    path.write_text("".join(f"{label}\n" for label in labels))
    return path
