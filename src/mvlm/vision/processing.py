"""Image preprocessing: image files, bytes, PIL images and arrays -> pixel tensors ``[B, 3, S, S]``.

:class:`ImageProcessor` does what MobileVLM does before its CLIP tower, in this order:

1. read the input (path, bytes, ``PIL.Image``, numpy array or tensor), apply the EXIF orientation;
2. convert to RGB (``L``, ``LA``, ``P``, ``RGBA``, ``CMYK``, ``I;16``...), compositing any alpha
   channel onto the pad colour;
3. pad to a square with the pad colour (``expand2square``: the image centred, offset
   ``(long - short) // 2``; the colour is ``int(255 * mean)``, ``(122, 116, 104)`` for CLIP);
4. resize (bicubic) the shortest side to ``resize_size``, or squash to ``resize_size`` square;
5. centre-crop ``S x S`` (top-left corner at ``(size - S) // 2``);
6. rescale by 1/255 and normalise with the mean and std.

Steps 4-6 reproduce transformers' PIL-based CLIP processor (``CLIPImageProcessorPil`` in
transformers 5, the slow ``CLIPImageProcessor`` in 4.x, which the reference ran); the tests check
the outputs agree to within 1e-5 on random images. This module needs Pillow and numpy, not torchvision.

Bad inputs raise :class:`~mvlm.errors.ImageError` naming the input and the problem; a batch with bad
items fails as a whole (listing every bad item) rather than silently dropping any.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mvlm.errors import ConfigError, ImageError
from mvlm.vision.presets import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

__all__ = [
    "PROCESSOR_CONFIG_NAME",
    "ImageInput",
    "ImageProcessor",
    "expand_to_square",
    "load_image",
    "to_rgb",
]

PROCESSOR_CONFIG_NAME = "preprocessor_config.json"
"""The file name transformers (and :meth:`ImageProcessor.save_pretrained`) use for the config."""

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray | torch.Tensor
"""One image: a path, encoded bytes, a ``PIL.Image``, or an array ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``."""

_RESAMPLE_NAMES = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
_RESAMPLE_BY_CODE = {int(value): name for name, value in _RESAMPLE_NAMES.items()}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


# --------------------------------------------------------------------------------------------- reading
def _describe(source: object) -> str:
    """A short, readable name for an input, used in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image mode={source.mode} size={source.width}x{source.height}>"
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return f"<{type(source).__name__} shape={list(source.shape)} dtype={source.dtype}>"
    return f"<{type(source).__name__}>"


def _pixel_limit(max_pixels: int | None) -> int | None:
    return Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels


def _check_size(image: Image.Image, name: str, max_pixels: int | None) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: the image is empty ({width}x{height} pixels)")
    limit = _pixel_limit(max_pixels)
    if limit is not None and width * height > limit:
        raise ImageError(
            f"{name}: {width}x{height} = {width * height} pixels is over the limit of {limit} (a possible "
            "decompression bomb); raise ImageProcessor(max_pixels=...) if the image is trusted"
        )


def _decode(stream: io.BufferedIOBase | io.BytesIO, name: str, max_pixels: int | None) -> Image.Image:
    """Open, check the size before decoding, then decode fully (so truncation shows up here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            image = Image.open(stream)
        _check_size(image, name, max_pixels)
        image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"{name}: over Pillow's pixel limit, a possible decompression bomb ({error}); if the image is "
            "trusted, raise PIL.Image.MAX_IMAGE_PIXELS"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: truncated or corrupt image data ({error})") from None
    return image


def _array_to_image(array: np.ndarray, name: str) -> Image.Image:
    """An ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]`` array (C in 1, 3, 4) as an 8-bit PIL image."""
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4) and array.shape[0] in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(
            f"{name}: an image array must be [H, W], [H, W, C] or [C, H, W] with C = 1, 3 or 4 channels, "
            f"got shape {list(array.shape)}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name}: the image is empty ({array.shape[1]}x{array.shape[0]} pixels)")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = np.rint(array / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError(f"{name}: a floating-point image must hold values in [0, 1], not NaN or infinity")
        if array.min() < 0 or array.max() > 1:
            raise ImageError(
                f"{name}: a floating-point image must hold values in [0, 1] (got [{array.min()}, {array.max()}]); "
                "pass 0-255 data as uint8"
            )
        array = np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ImageError(
                f"{name}: integer pixel values must lie in 0..255 (got {array.min()}..{array.max()}); "
                "pass 16-bit data as uint16"
            )
        array = array.astype(np.uint8)
    else:
        raise ImageError(f"{name}: unsupported array dtype {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array))  # uint8 [H, W] / [H, W, 3] / [H, W, 4]: L / RGB / RGBA


def load_image(
    source: ImageInput, *, max_pixels: int | None = None, apply_exif_orientation: bool = True, name: str | None = None
) -> Image.Image:
    """Read one image input as a fully decoded ``PIL.Image`` (any mode; see :func:`to_rgb`).

    Args:
        source: A path, encoded bytes, a ``PIL.Image``, or a numpy array / tensor ``[H, W]``,
            ``[H, W, C]`` or ``[C, H, W]`` (uint8, uint16, bool, or floats in [0, 1]).
        max_pixels: Refuse images with more pixels (checked before decoding). ``None`` uses Pillow's
            ``PIL.Image.MAX_IMAGE_PIXELS``.
        apply_exif_orientation: Rotate / flip as the EXIF ``Orientation`` tag says.
        name: How to name the input in error messages (default: a description of it).

    Raises:
        ImageError: Missing file, not an image, truncated data, too many pixels, an empty image, or an
            unsupported input; the message names the input.
    """
    name = name or _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source)).expanduser()
        if str(source).startswith(("http://", "https://")):
            raise ImageError(f"{name}: URLs are not fetched; download the image and pass its path or bytes")
        if not path.exists():
            raise ImageError(f"{name}: file not found; check the path")
        if path.is_dir():
            raise ImageError(f"{name}: is a folder, not an image file")
        try:
            with path.open("rb") as handle:
                image = _decode(handle, name, max_pixels)
        except PermissionError:
            raise ImageError(f"{name}: permission denied") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(f"{name}: empty bytes, not an image")
        image = _decode(io.BytesIO(bytes(source)), name, max_pixels)
    elif isinstance(source, Image.Image):
        image = source
        _check_size(image, name, max_pixels)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageError(f"{name}: truncated or corrupt image data ({error})") from None
    elif isinstance(source, (np.ndarray, torch.Tensor)):
        if isinstance(source, torch.Tensor):
            tensor = source.detach().cpu()
            array = tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
        else:
            array = np.asarray(source)
        image = _array_to_image(array, name)
        _check_size(image, name, max_pixels)
    else:
        raise ImageError(
            f"{name}: unsupported image input {type(source).__name__}; pass a path, bytes, a PIL.Image or an array"
        )
    if apply_exif_orientation:
        try:
            image = ImageOps.exif_transpose(image)
        except Exception as error:  # a malformed EXIF block must not lose the image
            warnings.warn(f"{name}: ignoring an unreadable EXIF orientation ({error})", stacklevel=2)
    return image


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any Pillow mode to ``RGB``, compositing transparency onto ``background``.

    ``L``/``1``/``P``/``CMYK``/``YCbCr`` convert as Pillow does; 16- and 32-bit integer images
    (``I;16``, ``I``) are scaled from 0..65535 to 0..255; float images (``F``) are clipped to 0..255;
    images with alpha (``RGBA``, ``LA``, ``PA``, or a ``transparency`` colour) are alpha-composited.

    Raises:
        ImageError: The mode cannot be converted to RGB.
    """
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.rint(np.clip(values, 0, 65535) / 257.0).astype(np.uint8))
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.rint(np.clip(np.nan_to_num(values), 0, 255)).astype(np.uint8))
    bands = image.getbands()
    try:
        if "A" in bands or "a" in bands or "transparency" in image.info:
            rgba = image.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (*background, 255))
            return Image.alpha_composite(canvas, rgba).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageError(f"cannot convert a {image.mode} image to RGB ({error})") from None


def expand_to_square(image: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    """Pad ``image`` (RGB) to a square of side ``max(W, H)``, centred, offset ``(long - short) // 2``."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), color)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


# --------------------------------------------------------------------------------------------- processor
def _square_side(value: Any, key: str) -> int:
    """An int side from ``336`` or ``{"height": 336, "width": 336}``."""
    if isinstance(value, Mapping):
        height, width = value.get("height"), value.get("width")
        if height is None or width is None or height != width:
            raise ConfigError(f"'{key}' must be an int or a square {{'height', 'width'}}, got {dict(value)}")
        value = height
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"'{key}' must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True)
class ImageProcessor:
    """Turns images into the pixel tensor ``[B, 3, S, S]`` (float32) a vision tower takes.

    The defaults are MobileVLM's: CLIP ViT-L/14-336 preprocessing, after padding to a square.

    Args:
        image_size: Side ``S`` of the output (the crop size).
        mean: Per-channel mean for normalisation (and, by default, the pad colour).
        std: Per-channel standard deviation.
        pad_to_square: Pad to a square first (MobileVLM's ``image_aspect_ratio: pad``); otherwise the
            long side is cropped.
        resize_size: The side to resize to before cropping; defaults to ``image_size``.
        resize_mode: ``"shortest_edge"`` (keep the aspect ratio; the long side becomes
            ``int(resize_size * long / short)``) or ``"squash"`` (resize to ``resize_size`` square).
        resample: Pillow filter name (``"bicubic"``, ``"bilinear"``...) or its code (3 = bicubic).
        rescale_factor: Multiplies the 0..255 values (1/255).
        do_normalize: Subtract ``mean`` and divide by ``std``.
        crop_rounding: How the centre crop's offset ``(size - S) / 2`` is rounded: ``"floor"`` as
            transformers, or ``"round"`` (half to even) as torchvision, which timm's transforms use.
        pad_color: RGB colour for padding and transparency; default ``int(255 * mean)`` per channel.
        apply_exif_orientation: Rotate / flip as an image's EXIF orientation says.
        max_pixels: Refuse larger images (decompression bombs); ``None`` uses Pillow's limit.
        processor_type: The ``image_processor_type`` written to ``preprocessor_config.json``.

    Example:
        >>> import numpy as np
        >>> from mvlm.vision import ImageProcessor
        >>> processor = ImageProcessor()                    # MobileVLM's CLIP ViT-L/14-336 preprocessing
        >>> processor.pad_color
        (122, 116, 104)
        >>> processor([np.zeros((20, 40, 3), np.uint8)]).shape
        torch.Size([1, 3, 336, 336])
    """

    image_size: int = 336
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    pad_to_square: bool = True
    resize_size: int | None = None
    resize_mode: str = "shortest_edge"
    resample: str = "bicubic"
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    crop_rounding: str = "floor"
    pad_color: tuple[int, int, int] | None = None
    apply_exif_orientation: bool = True
    max_pixels: int | None = None
    processor_type: str = "CLIPImageProcessor"

    def __post_init__(self) -> None:
        def put(field: str, value: Any) -> None:
            object.__setattr__(self, field, value)

        put("image_size", _square_side(self.image_size, "image_size"))
        put(
            "resize_size",
            self.image_size if self.resize_size is None else _square_side(self.resize_size, "resize_size"),
        )
        assert self.resize_size is not None
        if self.resize_size < self.image_size:
            raise ConfigError(
                f"ImageProcessor: resize_size {self.resize_size} is smaller than the crop image_size "
                f"{self.image_size}; the crop must fit in the resized image"
            )
        if self.resize_mode not in ("shortest_edge", "squash"):
            raise ConfigError(
                f"ImageProcessor: resize_mode must be 'shortest_edge' or 'squash', got {self.resize_mode!r}"
            )
        if self.crop_rounding not in ("floor", "round"):
            raise ConfigError(f"ImageProcessor: crop_rounding must be 'floor' or 'round', got {self.crop_rounding!r}")
        resample = self.resample
        if isinstance(resample, int) and not isinstance(resample, bool):
            resample = _RESAMPLE_BY_CODE.get(int(resample), str(resample))
        if resample not in _RESAMPLE_NAMES:
            raise ConfigError(
                f"ImageProcessor: resample must be one of {sorted(_RESAMPLE_NAMES)}, got {self.resample!r}"
            )
        put("resample", resample)
        for field in ("mean", "std"):
            values = getattr(self, field)
            if isinstance(values, (int, float)):
                values = (values,) * 3
            try:
                values = tuple(float(v) for v in values)
            except (TypeError, ValueError):
                raise ConfigError(f"ImageProcessor: {field} must be 3 numbers, got {values!r}") from None
            if len(values) != 3 or (field == "std" and min(values) <= 0):
                raise ConfigError(f"ImageProcessor: {field} must be 3 numbers (std > 0), got {values!r}")
            put(field, values)
        color = self.pad_color
        if color is None:
            color = tuple(int(m * 255) for m in self.mean)
        color = tuple(color)
        if len(color) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in color):
            raise ConfigError(f"ImageProcessor: pad_color must be 3 ints in 0..255, got {self.pad_color!r}")
        put("pad_color", tuple(int(c) for c in color))
        if self.max_pixels is not None and (not isinstance(self.max_pixels, int) or self.max_pixels <= 0):
            raise ConfigError(f"ImageProcessor: max_pixels must be a positive int or None, got {self.max_pixels!r}")

    # ----------------------------------------------------------------------------- running
    def __call__(self, images: ImageInput | Sequence[ImageInput]) -> torch.Tensor:
        """Process one image or a list of them into ``[B, 3, S, S]`` float32 (``B = 1`` for one image).

        A 4-D array or tensor is read as a batch of ``[H, W, C]`` / ``[C, H, W]`` images.

        Raises:
            ImageError: Some inputs could not be read; the message lists each one and its problem,
                and no pixels are returned (no item is dropped silently).
        """
        items = self._as_list(images)
        pixels: list[np.ndarray] = []
        problems: list[str] = []
        for index, item in enumerate(items):
            name = f"image {index} of {len(items)} ({_describe(item)})" if len(items) > 1 else _describe(item)
            try:
                pixels.append(self.process_image(item, name=name))
            except ImageError as error:
                problems.append(str(error))
        if problems:
            if len(problems) == 1:
                raise ImageError(problems[0])
            raise ImageError(f"{len(problems)} of {len(items)} images could not be read:\n  " + "\n  ".join(problems))
        if not pixels:
            return torch.zeros(0, 3, self.image_size, self.image_size)
        return torch.from_numpy(np.stack(pixels))

    preprocess = __call__

    @staticmethod
    def _as_list(images: Any) -> list[Any]:
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            return list(images)
        if isinstance(images, (list, tuple)):
            return list(images)
        return [images]

    def process_image(self, image: ImageInput, name: str | None = None) -> np.ndarray:
        """One image -> ``[3, S, S]`` float32 array (read, RGB, pad, resize, crop, rescale, normalise)."""
        name = name or _describe(image)
        loaded = load_image(
            image, max_pixels=self.max_pixels, apply_exif_orientation=self.apply_exif_orientation, name=name
        )
        try:
            rgb = to_rgb(loaded, background=self.pad_color)  # type: ignore[arg-type]
        except ImageError as error:
            raise ImageError(f"{name}: {error}") from None
        if self.pad_to_square:
            rgb = expand_to_square(rgb, self.pad_color)  # type: ignore[arg-type]
        return self.transform(rgb)

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` after the resize step, as transformers (and torchvision) compute it."""
        side = self.resize_size
        assert side is not None
        if self.resize_mode == "squash":
            return (side, side)
        if width <= height:
            return (side, int(side * height / width))
        return (int(side * width / height), side)

    def _crop_offset(self, size: int) -> int:
        if self.crop_rounding == "round":
            return round((size - self.image_size) / 2)  # half to even, as torchvision
        return (size - self.image_size) // 2

    def transform(self, image: Image.Image) -> np.ndarray:
        """Resize, centre-crop, rescale and normalise an RGB image: -> ``[3, S, S]`` float32.

        This is transformers' PIL CLIP pipeline: Pillow resize on uint8 data, integer crop offsets
        ``(size - S) // 2`` (see ``crop_rounding``), rescale in float64 then cast to float32,
        normalise in float32.
        """
        if image.mode != "RGB":
            raise ImageError(f"ImageProcessor.transform expects an RGB image, got mode {image.mode}; use to_rgb first")
        new_size = self.resized_size(*image.size)
        resized = image.resize(new_size, resample=_RESAMPLE_NAMES[self.resample])
        array = np.asarray(resized)
        height, width = array.shape[:2]
        top, left = self._crop_offset(height), self._crop_offset(width)
        array = array[top : top + self.image_size, left : left + self.image_size]
        values = (array.astype(np.float64) * self.rescale_factor).astype(np.float32)
        if self.do_normalize:
            values = (values - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(values.transpose(2, 0, 1))

    # ----------------------------------------------------------------------------- building
    @classmethod
    def for_tower(cls, tower: Any, **overrides: Any) -> ImageProcessor:
        """The processor a vision tower expects (its ``processor_config()``), padding to a square.

        Args:
            tower: A :class:`~mvlm.vision.base.VisionTower` (anything with ``processor_config()``).
            **overrides: Fields to change (``pad_to_square=False``...).
        """
        return cls.from_dict(tower.processor_config(), **overrides)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], **overrides: Any) -> ImageProcessor:
        """Build from a ``preprocessor_config.json`` mapping (transformers' field names).

        Reads ``size`` (``{"shortest_edge": n}``, ``{"height": n, "width": n}`` or an int meaning the
        shortest edge), ``crop_size``, ``do_center_crop``, ``resample``, ``do_rescale``,
        ``rescale_factor``, ``do_normalize``, ``image_mean``, ``image_std``, ``image_processor_type``,
        and mvlm's own ``pad_to_square`` (default ``True``, as MobileVLM), ``pad_color``,
        ``apply_exif_orientation``, ``max_pixels``, ``crop_rounding``. ``overrides`` take precedence.

        Raises:
            ConfigError: A setting the processor cannot reproduce (no resize, a non-square crop...).
        """
        if not config.get("do_resize", True):
            raise ConfigError("preprocessor config: do_resize false is not supported (the output must be S x S)")
        size = config.get("size", 336)
        if isinstance(size, Mapping) and "shortest_edge" in size:
            if size.get("longest_edge") is not None:
                raise ConfigError(f"preprocessor config: 'size' with a longest_edge is not supported, got {dict(size)}")
            resize_mode, resize_size = "shortest_edge", _square_side(size["shortest_edge"], "size.shortest_edge")
        elif isinstance(size, Mapping):
            resize_mode, resize_size = "squash", _square_side(size, "size")
        else:
            resize_mode, resize_size = "shortest_edge", _square_side(size, "size")
        if config.get("do_center_crop", True):
            image_size = _square_side(config.get("crop_size", resize_size), "crop_size")
        elif resize_mode == "squash":
            image_size = resize_size
        else:
            raise ConfigError("preprocessor config: a shortest-edge resize without a centre crop is not square")
        fields: dict[str, Any] = {
            "image_size": image_size,
            "resize_size": resize_size,
            "resize_mode": resize_mode,
            "resample": config.get("resample", 3),
            "rescale_factor": float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0,
            "do_normalize": bool(config.get("do_normalize", True)),
            "mean": config.get("image_mean", OPENAI_CLIP_MEAN),
            "std": config.get("image_std", OPENAI_CLIP_STD),
            "processor_type": str(config.get("image_processor_type", "CLIPImageProcessor")),
        }
        for key in ("pad_to_square", "apply_exif_orientation", "max_pixels", "crop_rounding"):
            if key in config:
                fields[key] = config[key]
        if config.get("pad_color") is not None:
            fields["pad_color"] = tuple(config["pad_color"])
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"ImageProcessor has no fields {sorted(unknown)}")
        fields.update(overrides)
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """This processor as a ``preprocessor_config.json`` mapping (transformers' field names + mvlm's)."""
        if self.resize_mode == "squash":
            size: dict[str, int] = {"height": self.resize_size, "width": self.resize_size}  # type: ignore[dict-item]
        else:
            size = {"shortest_edge": self.resize_size}  # type: ignore[dict-item]
        crop = not (self.resize_mode == "squash" and self.resize_size == self.image_size)
        config: dict[str, Any] = {
            "image_processor_type": self.processor_type,
            "do_resize": True,
            "size": size,
            "resample": int(_RESAMPLE_NAMES[self.resample]),
            "do_center_crop": crop,
            "crop_size": {"height": self.image_size, "width": self.image_size},
            "do_rescale": self.rescale_factor != 1.0,
            "rescale_factor": self.rescale_factor,
            "do_normalize": self.do_normalize,
            "image_mean": list(self.mean),
            "image_std": list(self.std),
            "do_convert_rgb": True,
            "pad_to_square": self.pad_to_square,
            "pad_color": list(self.pad_color),  # type: ignore[arg-type]
            "apply_exif_orientation": self.apply_exif_orientation,
            "crop_rounding": self.crop_rounding,
        }
        if self.max_pixels is not None:
            config["max_pixels"] = self.max_pixels
        return config

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write ``preprocessor_config.json`` into ``folder`` (created if needed); returns the file."""
        path = Path(folder) / PROCESSOR_CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> ImageProcessor:
        """Load from a folder holding ``preprocessor_config.json``, or from that file itself.

        Raises:
            ConfigError: The file is missing or is not valid JSON.
        """
        file = Path(path)
        if file.is_dir():
            file = file / PROCESSOR_CONFIG_NAME
        if not file.is_file():
            raise ConfigError(f"no {PROCESSOR_CONFIG_NAME} at '{file}'; give its folder or the file itself")
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError(f"'{file}' is not valid JSON: {error}") from None
        return cls.from_dict(config, **overrides)
