"""The <image> tag in text: counting, adding it in front, checking the count, normalizing training text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mvlm.errors import ConfigError, PromptError
from mvlm.prompting import (
    DEFAULT_IM_END_TOKEN,
    DEFAULT_IM_START_TOKEN,
    DEFAULT_IMAGE_PATCH_TOKEN,
    DEFAULT_IMAGE_TOKEN,
    IGNORE_INDEX,
    IMAGE_PLACEHOLDER,
    IMAGE_TOKEN_INDEX,
    check_image_count,
    count_image_tokens,
    ensure_image_token,
    normalize_image_token,
)


def test_constants_are_the_reference_values():
    assert (IGNORE_INDEX, IMAGE_TOKEN_INDEX, DEFAULT_IMAGE_TOKEN) == (-100, -200, "<image>")
    assert (DEFAULT_IMAGE_PATCH_TOKEN, DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN) == (
        "<im_patch>",
        "<im_start>",
        "<im_end>",
    )
    assert IMAGE_PLACEHOLDER == "<image-placeholder>"


def test_importing_prompting_does_not_import_torch_or_transformers():
    code = "import sys, mvlm.prompting; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_count_image_tokens():
    assert count_image_tokens("no image") == 0
    assert count_image_tokens("<image>\n<image>x<image>") == 3
    assert count_image_tokens("[IMG] a [IMG]", image_token="[IMG]") == 2
    with pytest.raises(PromptError, match="must be a string"):
        count_image_tokens(None)  # type: ignore[arg-type]


def test_ensure_image_token_prepends_as_the_reference():
    assert ensure_image_token("Who is the author?") == "<image>\nWho is the author?"
    assert ensure_image_token("Compare them.", num_images=2) == "<image>\n<image>\nCompare them."
    assert ensure_image_token("Is <image> a cat?") == "Is <image> a cat?"
    assert ensure_image_token("Plain text.", num_images=0) == "Plain text."
    with pytest.raises(ConfigError, match="num_images"):
        ensure_image_token("x", num_images=-1)


def test_check_image_count():
    check_image_count("<image>\nHi", 1)
    check_image_count("Hi", 0)
    with pytest.raises(PromptError, match=r"has 2 '<image>' tag\(s\) but 1 image was given; pass one image"):
        check_image_count("<image><image>", 1)
    with pytest.raises(PromptError, match=r"has 0 '<image>' tag\(s\) but 2 images were given; put one"):
        check_image_count("Hi", 2)
    with pytest.raises(ConfigError, match="num_images"):
        check_image_count("Hi", True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Render a clear and concise summary of the photo.\n<image>",
            "<image>\nRender a clear and concise summary of the photo.",
        ),
        ("<image>\nWhat is it?", "<image>\nWhat is it?"),
        ("<image>", "<image>"),
        ("  <image>  ", "<image>"),
        ("a <image> b <image>", "<image>\na  b"),
        ("no tag ", "no tag "),
    ],
)
def test_normalize_image_token(text: str, expected: str):
    assert normalize_image_token(text) == expected
