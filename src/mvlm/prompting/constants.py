"""Token constants shared by prompting, data, training and the model (the reference's values).

The image token is text (``"<image>"``) in prompts and the id :data:`IMAGE_TOKEN_INDEX` (``-200``)
in token ids; it is not in the language model's vocabulary, so it can never collide with a real
token. :data:`IGNORE_INDEX` (``-100``) marks label positions that carry no loss, as PyTorch's
``CrossEntropyLoss`` expects.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_IMAGE_PATCH_TOKEN",
    "DEFAULT_IMAGE_TOKEN",
    "DEFAULT_IM_END_TOKEN",
    "DEFAULT_IM_START_TOKEN",
    "IGNORE_INDEX",
    "IMAGE_PLACEHOLDER",
    "IMAGE_TOKEN_INDEX",
]

IGNORE_INDEX: int = -100
"""Label value of positions excluded from the loss (prompt text, image positions, padding)."""

IMAGE_TOKEN_INDEX: int = -200
"""Token id that stands for one image in token ids (one per ``<image>`` before expansion)."""

DEFAULT_IMAGE_TOKEN: str = "<image>"
"""The text tag that marks where an image goes in a prompt."""

DEFAULT_IMAGE_PATCH_TOKEN: str = "<im_patch>"
"""Patch token of the ``mm_use_im_patch_token`` option (unused by the released MobileVLM models)."""

DEFAULT_IM_START_TOKEN: str = "<im_start>"
"""Image start token of the ``mm_use_im_start_end`` option (unused by the released MobileVLM models)."""

DEFAULT_IM_END_TOKEN: str = "<im_end>"
"""Image end token of the ``mm_use_im_start_end`` option (unused by the released MobileVLM models)."""

IMAGE_PLACEHOLDER: str = "<image-placeholder>"
"""Placeholder text some evaluation prompts use before it is replaced by the image token."""
