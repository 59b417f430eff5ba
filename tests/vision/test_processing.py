"""ImageProcessor: every input kind, EXIF orientation, mode conversion, padding, bad inputs, and the
``preprocessor_config.json`` round trip. (Parity with transformers is in test_processor_parity.py.)"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mvlm.errors import ConfigError, ImageError
from mvlm.vision import ImageProcessor, expand_to_square, load_image, to_rgb

SMALL = ImageProcessor(image_size=16)  # fast; the maths does not depend on the size


def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- inputs
def test_defaults_are_mobilevlms_clip_preprocessing():
    processor = ImageProcessor()
    assert (processor.image_size, processor.resize_size, processor.resample) == (336, 336, "bicubic")
    assert processor.mean == (0.48145466, 0.4578275, 0.40821073)
    assert processor.std == (0.26862954, 0.26130258, 0.27577711)
    assert processor.pad_to_square and processor.pad_color == (122, 116, 104)


def test_every_input_kind_gives_the_same_pixels(tmp_path, make_image):
    image = make_image(30, 20, "RGB", seed=1)
    array = np.asarray(image)
    path = tmp_path / "a.png"
    image.save(path)
    inputs = [
        str(path),
        path,
        path.read_bytes(),
        bytearray(path.read_bytes()),
        image,
        array,
        np.moveaxis(array, -1, 0),  # [C, H, W]
        torch.from_numpy(np.moveaxis(array, -1, 0).copy()).float() / 255,  # a float tensor in [0, 1]
        torch.from_numpy(array.copy()),  # a uint8 tensor [H, W, C]
        array.astype(np.uint16) * 257,  # 16-bit
    ]
    pixels = SMALL(inputs)
    assert pixels.shape == (len(inputs), 3, 16, 16) and pixels.dtype == torch.float32
    for row in pixels[1:]:
        torch.testing.assert_close(row, pixels[0], rtol=0, atol=0)


def test_one_image_gives_a_batch_of_one_and_a_4d_array_is_a_batch():
    assert SMALL(np.zeros((5, 7, 3), np.uint8)).shape == (1, 3, 16, 16)
    assert SMALL(np.zeros((4, 5, 7, 3), np.uint8)).shape == (4, 3, 16, 16)
    assert SMALL(torch.rand(2, 3, 9, 9)).shape == (2, 3, 16, 16)
    assert SMALL([]).shape == (0, 3, 16, 16)


def test_grey_and_boolean_arrays_become_grey_rgb():
    gray = np.full((5, 6), 200, np.uint8)
    for variant in (gray, gray[..., None], gray[None]):
        rgb = to_rgb(load_image(variant))
        assert rgb.mode == "RGB" and np.asarray(rgb)[0, 0].tolist() == [200, 200, 200]
    mask = to_rgb(load_image(np.eye(3, dtype=bool)))
    assert np.asarray(mask)[:, :, 0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


# --------------------------------------------------------------------------------------------- modes
def test_alpha_is_composited_onto_the_pad_colour():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (200, 100, 50, 0)  # fully transparent -> the background
    rgba[0, 1] = (200, 100, 50, 255)  # opaque -> itself
    rgba[1, 0] = (200, 100, 50, 128)  # half -> a blend
    out = np.asarray(to_rgb(Image.fromarray(rgba), background=(122, 116, 104))).astype(int)
    assert out[0, 0].tolist() == [122, 116, 104]
    assert out[0, 1].tolist() == [200, 100, 50]
    blend = [round((c * 128 + b * 127) / 255) for c, b in zip((200, 100, 50), (122, 116, 104), strict=True)]
    assert np.abs(out[1, 0] - blend).max() <= 1


def test_processor_uses_its_pad_colour_for_transparency():
    transparent = np.zeros((8, 8, 4), np.uint8)  # fully transparent square: nothing but pad colour
    pixels = SMALL([transparent])[0]
    expected = (np.array([122, 116, 104]) / 255 - np.array(SMALL.mean)) / np.array(SMALL.std)
    torch.testing.assert_close(pixels[:, 0, 0], torch.tensor(expected, dtype=torch.float32), rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "PA", "CMYK", "1", "I;16", "I", "F", "RGBA", "YCbCr"])
def test_every_common_mode_converts_to_rgb(make_image, mode):
    image = make_image(6, 5, "RGBA" if mode in ("PA",) else "RGB", seed=2)
    if mode == "I;16":
        image = Image.fromarray(np.full((5, 6), 65535, np.uint16))
    elif mode == "PA":
        image = image.convert("PA")
    elif mode in ("I", "F"):
        image = Image.fromarray(
            np.full((5, 6), 257 * 9 if mode == "I" else 9.0, np.int32 if mode == "I" else np.float32)
        )
    else:
        image = image.convert(mode)
    assert image.mode == mode
    rgb = to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == (6, 5)
    if mode == "I;16":
        assert np.asarray(rgb).max() == 255  # 16-bit range scaled to 8 bits, not clipped
    if mode in ("I", "F"):
        assert np.asarray(rgb)[0, 0].tolist() == [9, 9, 9]


def test_palette_transparency_is_composited(make_image):
    palette = make_image(4, 4, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    index = palette.getpixel((0, 0))
    palette.info["transparency"] = index
    rgb = np.asarray(to_rgb(palette, background=(1, 2, 3)))
    assert rgb[0, 0].tolist() == [1, 2, 3]


def test_a_mode_pillow_cannot_convert_is_an_image_error():
    premultiplied = Image.new("La", (3, 3))  # Pillow has no La -> RGB(A) conversion
    with pytest.raises(ImageError, match=r"PIL image mode=La.*cannot convert a La image to RGB"):
        SMALL([premultiplied])


# --------------------------------------------------------------------------------------------- pad and EXIF
def test_expand_to_square_centres_with_the_published_offset():
    image = Image.new("RGB", (5, 2), (255, 255, 255))
    square = np.asarray(expand_to_square(image, (1, 2, 3)))
    assert square.shape == (5, 5, 3)
    rows_white = [bool((square[r] == 255).all()) for r in range(5)]
    assert rows_white == [False, True, True, False, False]  # offset (5 - 2) // 2 = 1
    assert square[0, 0].tolist() == [1, 2, 3]
    tall = np.asarray(expand_to_square(Image.new("RGB", (2, 5), (255, 255, 255)), (0, 0, 0)))
    assert [bool((tall[:, c] == 255).all()) for c in range(5)] == [False, True, True, False, False]


def test_without_pad_the_long_side_is_cropped(make_image):
    image = make_image(40, 10, "RGB", seed=5)
    padded = ImageProcessor(image_size=16)([image])
    cropped = ImageProcessor(image_size=16, pad_to_square=False)([image])
    assert not torch.equal(padded, cropped)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (6, 2), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 3, 2))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.size == (2, 6)
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(image.transpose(Image.Transpose.ROTATE_270)))
    assert load_image(path, apply_exif_orientation=False).size == (6, 2)
    assert not torch.equal(SMALL([path]), ImageProcessor(image_size=16, apply_exif_orientation=False)([path]))


# --------------------------------------------------------------------------------------------- bad inputs
def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "missing.jpg"
    with pytest.raises(ImageError, match=r"missing\.jpg.*file not found"):
        SMALL([missing])


def test_a_folder_and_a_url_are_refused(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        SMALL([tmp_path])
    with pytest.raises(ImageError, match="URLs are not fetched"):
        SMALL(["https://example.com/cat.jpg"])


def test_a_file_that_is_not_an_image(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("hello, I am not a JPEG")
    with pytest.raises(ImageError, match=r"notes\.jpg.*not an image"):
        SMALL([text])
    with pytest.raises(ImageError, match="not an image"):
        SMALL([b"garbage bytes"])
    with pytest.raises(ImageError, match="empty bytes"):
        SMALL([b""])


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_a_truncated_image(tmp_path, make_image, image_format):
    buffer = io.BytesIO()
    make_image(64, 64, "RGB", seed=3).save(buffer, format=image_format)
    path = tmp_path / f"cut.{image_format.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut\..*truncated or corrupt"):
        SMALL([path])


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, make_image):
    path = tmp_path / "big.png"
    make_image(100, 100, "RGB").save(path)
    limited = ImageProcessor(image_size=16, max_pixels=5000)
    with pytest.raises(ImageError, match=r"big\.png.*100x100 = 10000 pixels is over the limit of 5000.*decompression"):
        limited([path])
    with pytest.raises(ImageError, match="over the limit"):
        limited([np.zeros((100, 100, 3), np.uint8)])
    assert limited([np.zeros((50, 50, 3), np.uint8)]).shape == (1, 3, 16, 16)


def test_pillows_own_decompression_bomb_error_becomes_an_image_error(tmp_path, make_image, monkeypatch):
    path = tmp_path / "bomb.png"
    make_image(100, 100, "RGB").save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses > 2x its limit by itself
    with pytest.raises(ImageError, match=r"bomb\.png.*over Pillow's pixel limit.*raise PIL.Image.MAX_IMAGE_PIXELS"):
        ImageProcessor(image_size=16, max_pixels=10**9)([path])
    between = tmp_path / "between.png"  # over Pillow's limit, under twice it: Pillow only warns
    make_image(50, 30, "RGB").save(between)
    with pytest.raises(ImageError, match=r"between\.png.*over the limit of 1000"):  # max_pixels=None: Pillow's limit
        SMALL([between])


def test_zero_size_images_are_refused():
    with pytest.raises(ImageError, match="empty"):
        SMALL([np.zeros((0, 5, 3), np.uint8)])
    with pytest.raises(ImageError, match="empty"):
        SMALL([Image.new("RGB", (0, 4))])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.full((3, 3), 2.0, np.float32), r"floating-point image must hold values in \[0, 1\]"),
        (np.full((3, 3), np.nan, np.float32), r"floating-point image"),
        (np.full((3, 3), 300, np.int64), "0..255"),
        (np.zeros((2, 3, 5), np.uint8), "channels"),
        (np.zeros((2, 3, 3, 3, 3), np.uint8), "channels"),
        (np.zeros((3, 3), np.complex64), "unsupported array dtype"),
        (12345, "unsupported image input int"),
    ],
)
def test_bad_arrays_and_types(bad, message):
    with pytest.raises(ImageError, match=message):
        SMALL([bad])


def test_a_batch_with_bad_items_fails_whole_and_lists_each_bad_item(tmp_path, make_image):
    good = make_image(8, 8)
    batch = [good, tmp_path / "nope.png", good, b"junk"]
    with pytest.raises(ImageError) as caught:
        SMALL(batch)
    message = str(caught.value)
    assert message.startswith("2 of 4 images could not be read")
    assert "image 1 of 4" in message and "nope.png" in message and "file not found" in message
    assert "image 3 of 4 (<4 bytes>)" in message and "not an image" in message
    assert "image 0 of 4" not in message


# --------------------------------------------------------------------------------------------- config
def test_dict_and_file_round_trips(tmp_path):
    processor = ImageProcessor(
        image_size=20, resize_size=24, pad_to_square=False, resample=2, pad_color=(1, 2, 3), max_pixels=10**6
    )
    assert processor.resample == "bilinear"
    assert ImageProcessor.from_dict(processor.to_dict()) == processor
    file = processor.save_pretrained(tmp_path)
    assert file.name == "preprocessor_config.json"
    written = json.loads(file.read_text())
    assert written["size"] == {"shortest_edge": 24} and written["crop_size"] == {"height": 20, "width": 20}
    assert written["resample"] == 2 and written["image_processor_type"] == "CLIPImageProcessor"
    assert ImageProcessor.from_pretrained(tmp_path) == processor
    assert ImageProcessor.from_pretrained(file) == processor
    squash = ImageProcessor(
        image_size=32, resize_mode="squash", mean=0.5, std=0.5, processor_type="SiglipImageProcessor"
    )
    assert squash.to_dict()["size"] == {"height": 32, "width": 32} and not squash.to_dict()["do_center_crop"]
    assert ImageProcessor.from_dict(squash.to_dict()) == squash


def test_scalar_mean_and_std_as_transformers_allows():
    processor = ImageProcessor.from_dict({"image_mean": 0.5, "image_std": 0.5})
    assert processor.mean == processor.std == (0.5, 0.5, 0.5) and processor.pad_color == (127, 127, 127)


def test_the_openai_clip_336_preprocessor_config_loads(tmp_path):
    # openai/clip-vit-large-patch14-336's preprocessor_config.json uses the old int sizes
    legacy = {
        "crop_size": 336,
        "do_center_crop": True,
        "do_normalize": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3,
        "size": 336,
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(legacy))
    assert ImageProcessor.from_pretrained(tmp_path) == ImageProcessor()


@pytest.mark.parametrize(
    "config",
    [
        {"do_resize": False},
        {"size": {"height": 30, "width": 40}},
        {"size": {"shortest_edge": 30, "longest_edge": 60}},
        {"size": {"shortest_edge": 30}, "do_center_crop": False},
        {"size": 20, "crop_size": 30},
        {"resample": "sinc"},
        {"image_std": [0.1, 0.0, 0.2]},
        {"image_mean": [0.5, 0.5]},
        {"pad_color": [300, 0, 0]},
    ],
)
def test_configs_the_processor_cannot_reproduce_are_config_errors(config):
    with pytest.raises(ConfigError):
        ImageProcessor.from_dict(config)


def test_from_pretrained_without_a_file_and_bad_overrides(tmp_path):
    with pytest.raises(ConfigError, match=r"no preprocessor_config\.json"):
        ImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ImageProcessor.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="no fields"):
        ImageProcessor.from_dict({}, pad_to_sqaure=True)


def test_for_tower_uses_the_towers_preprocessing(make_tower):
    processor = ImageProcessor.for_tower(make_tower("clip"))
    assert (processor.image_size, processor.mean, processor.pad_to_square) == (56, ImageProcessor().mean, True)
    assert ImageProcessor.for_tower(make_tower("clip"), pad_to_square=False).pad_to_square is False


# --------------------------------------------------------------------------------------------- dependencies
def test_processing_does_not_import_torchvision():
    source = Path(__import__("mvlm.vision.processing", fromlist=["x"]).__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "torchvision" not in imported and "transformers" not in imported and "timm" not in imported


def test_importing_mvlm_vision_imports_no_transformers_timm_or_torchvision():
    code = (
        "import sys, mvlm.vision; print(sorted(m for m in ('transformers', 'timm', 'torchvision') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"
