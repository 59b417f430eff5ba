"""The ``<image>`` tag in prompt text: counting it, adding it where the user left it out, checking it.

These functions work on text only; :mod:`mvlm.prompting.tokenization` turns the tags into ids.
"""

from __future__ import annotations

from mvlm.errors import ConfigError, PromptError
from mvlm.prompting.constants import DEFAULT_IMAGE_TOKEN

__all__ = ["check_image_count", "count_image_tokens", "ensure_image_token", "normalize_image_token"]


def _check_count(num_images: int) -> None:
    if not isinstance(num_images, int) or isinstance(num_images, bool) or num_images < 0:
        raise ConfigError(f"num_images must be an int >= 0, got {num_images!r}")


def count_image_tokens(text: str, image_token: str = DEFAULT_IMAGE_TOKEN) -> int:
    """How many images ``text`` references (occurrences of ``image_token``).

    Example:
        >>> count_image_tokens("<image>\\nCompare with <image>.")
        2
    """
    if not isinstance(text, str):
        raise PromptError(f"a prompt must be a string, got {type(text).__name__}")
    return text.count(image_token)


def ensure_image_token(text: str, num_images: int = 1, image_token: str = DEFAULT_IMAGE_TOKEN) -> str:
    """Put the images in front of a user message that does not say where they go.

    The reference's inference and evaluation scripts build the user message as ``"<image>\\n" + text``;
    this does the same, once per image, when ``text`` has no ``<image>`` tag at all. A message that
    already has tags, or a call with ``num_images=0``, is returned unchanged (check the count with
    :func:`check_image_count`).

    Example:
        >>> ensure_image_token("What is this?")
        '<image>\\nWhat is this?'
        >>> ensure_image_token("Is <image> a cat?")
        'Is <image> a cat?'
    """
    _check_count(num_images)
    if num_images == 0 or count_image_tokens(text, image_token) > 0:
        return text
    return (image_token + "\n") * num_images + text


def check_image_count(text: str, num_images: int, image_token: str = DEFAULT_IMAGE_TOKEN) -> None:
    """Check that ``text`` has exactly one ``<image>`` tag per image.

    Raises:
        PromptError: More tags than images, or fewer; the message gives both numbers.
    """
    _check_count(num_images)
    tags = count_image_tokens(text, image_token)
    if tags == num_images:
        return
    given = f"{num_images} image was given" if num_images == 1 else f"{num_images} images were given"
    if tags > num_images:
        raise PromptError(
            f"the prompt has {tags} '{image_token}' tag(s) but {given}; "
            f"pass one image per '{image_token}' tag, or remove the extra tags"
        )
    raise PromptError(
        f"the prompt has {tags} '{image_token}' tag(s) but {given}; "
        f"put one '{image_token}' tag where each image goes (a prompt with no tag at all gets them in front "
        "through ensure_image_token)"
    )


def normalize_image_token(text: str, image_token: str = DEFAULT_IMAGE_TOKEN) -> str:
    """Move the image to the front of a training message, as the reference's ``preprocess_multimodal``.

    A message that contains ``<image>`` anywhere (once or more) becomes ``"<image>\\n" + rest.strip()``
    with every tag removed from the rest, then stripped (so ``"<image>"`` alone stays ``"<image>"``).
    Messages without the tag are returned unchanged.

    Example:
        >>> normalize_image_token("Describe this photo.\\n<image>")
        '<image>\\nDescribe this photo.'
    """
    if image_token not in text:
        return text
    rest = text.replace(image_token, "").strip()
    return (image_token + "\n" + rest).strip()
