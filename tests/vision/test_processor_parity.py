"""ImageProcessor == transformers' PIL-based CLIP / SigLIP processors (after the same pad), on random
images of random sizes and modes (hypothesis), to within 1e-5.

The reference is ``CLIPImageProcessorPil`` in transformers 5 and the slow ``CLIPImageProcessor`` in
4.x (what MobileVLM ran); the torchvision backend differs by up to 0.03 and is not the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mvlm.vision import ImageProcessor, to_rgb

transformers = pytest.importorskip("transformers")

CLIP_REFERENCE = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
SIGLIP_REFERENCE = getattr(transformers, "SiglipImageProcessorPil", None) or transformers.SiglipImageProcessor
MODES_WITHOUT_ALPHA = ["RGB", "L", "P", "CMYK", "1", "YCbCr"]
MODES_WITH_ALPHA = ["RGBA", "LA"]
TOLERANCE = 1e-5
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference_expand2square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """MobileVLM's pad, written from its description: centre on a square canvas of side max(W, H)."""
    width, height = image.size
    if width == height:
        return image
    if width > height:
        result = Image.new(image.mode, (width, width), background)
        result.paste(image, (0, (width - height) // 2))
        return result
    result = Image.new(image.mode, (height, height), background)
    result.paste(image, ((height - width) // 2, 0))
    return result


def reference_pixels(processor, image: Image.Image) -> np.ndarray:
    # channels_last: transformers 4.x guesses the layout of tiny (1x1, 3x3) images wrongly otherwise
    return np.asarray(
        processor(images=image, return_tensors="np", input_data_format="channels_last")["pixel_values"][0]
    )


sizes = st.integers(min_value=1, max_value=160)
seeds = st.integers(min_value=0, max_value=2**16)


@SETTINGS
@given(width=sizes, height=sizes, mode=st.sampled_from(MODES_WITHOUT_ALPHA + MODES_WITH_ALPHA), seed=seeds)
def test_mobilevlm_preprocessing_equals_transformers_clip_after_the_same_pad(make_image, width, height, mode, seed):
    ours = ImageProcessor()  # MobileVLM: CLIP ViT-L/14-336, pad to square with (122, 116, 104)
    image = make_image(width, height, mode, seed)
    # The reference opened images with .convert("RGB"); for alpha modes we composite onto the pad colour.
    rgb = image.convert("RGB") if mode in MODES_WITHOUT_ALPHA else to_rgb(image, ours.pad_color)
    expected = reference_pixels(
        CLIP_REFERENCE(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}),
        reference_expand2square(rgb, (122, 116, 104)),
    )
    got = ours([image])[0].numpy()
    assert got.shape == expected.shape == (3, 336, 336)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


@SETTINGS
@given(
    width=sizes,
    height=sizes,
    shortest_edge=st.integers(min_value=8, max_value=64),
    crop_margin=st.integers(min_value=0, max_value=12),
    seed=seeds,
)
def test_resize_and_crop_without_pad_equal_transformers_clip(
    make_image, width, height, shortest_edge, crop_margin, seed
):
    crop = max(1, shortest_edge - crop_margin)
    ours = ImageProcessor(image_size=crop, resize_size=shortest_edge, pad_to_square=False)
    reference = CLIP_REFERENCE(size={"shortest_edge": shortest_edge}, crop_size={"height": crop, "width": crop})
    image = make_image(width, height, "RGB", seed)
    np.testing.assert_allclose(ours([image])[0].numpy(), reference_pixels(reference, image), rtol=0, atol=TOLERANCE)


@SETTINGS
@given(width=sizes, height=sizes, side=st.integers(min_value=4, max_value=64), pad=st.booleans(), seed=seeds)
def test_squash_resize_equals_transformers_siglip(make_image, width, height, side, pad, seed):
    ours = ImageProcessor.from_dict(
        {
            "size": {"height": side, "width": side},
            "do_center_crop": False,
            "image_mean": [0.5] * 3,
            "image_std": [0.5] * 3,
        },
        pad_to_square=pad,
    )
    image = make_image(width, height, "RGB", seed)
    reference_input = reference_expand2square(image, (127, 127, 127)) if pad else image
    reference = SIGLIP_REFERENCE(size={"height": side, "width": side})
    np.testing.assert_allclose(
        ours([image])[0].numpy(), reference_pixels(reference, reference_input), atol=TOLERANCE, rtol=0
    )


def test_a_config_written_by_transformers_loads_and_ours_loads_in_transformers(tmp_path, make_image):
    CLIP_REFERENCE(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "theirs"
    )
    ours = ImageProcessor.from_pretrained(tmp_path / "theirs", pad_to_square=False)
    assert (ours.image_size, ours.resize_size, ours.resample) == (32, 40, "bicubic")

    ImageProcessor(image_size=48, resize_size=52, pad_to_square=False).save_pretrained(tmp_path / "ours")
    theirs = CLIP_REFERENCE.from_pretrained(tmp_path / "ours")
    image = make_image(77, 50, "RGB", 3)
    mine = ImageProcessor.from_pretrained(tmp_path / "ours")
    np.testing.assert_allclose(mine([image])[0].numpy(), reference_pixels(theirs, image), atol=TOLERANCE, rtol=0)
