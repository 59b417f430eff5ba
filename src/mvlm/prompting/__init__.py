"""Prompting: conversation templates, image-token tokenization and training labels. Text only.

Nothing here imports the model (or torch, unless a function is asked for tensors). The pieces, in
the order the data path uses them:

* :func:`get_conversation` / :func:`build_prompt`: a registered template renders messages into the
  prompt text the model was trained on (``v1``, ``plain``, ``default``, ``llama_2``, ``llava_llama_2``);
* :func:`ensure_image_token`, :func:`check_image_count`: the ``<image>`` tags in that text;
* :func:`tokenize_with_images`: text -> ids with one ``-200`` per image, as the reference;
* :func:`expand_image_tokens` / :func:`encode_prompt`: each ``-200`` -> ``M`` placeholder positions;
* :func:`build_training_sample` and the ``mask_targets_*`` functions: labels for training.

Example:
    >>> from mvlm.prompting import build_prompt
    >>> build_prompt("What is in the photo?", "v1").split("questions. ")[1]
    'USER: <image>\\nWhat is in the photo? ASSISTANT:'
"""

from mvlm.prompting import templates as _templates  # noqa: F401  (registers the built-in templates)
from mvlm.prompting.constants import (
    DEFAULT_IM_END_TOKEN,
    DEFAULT_IM_START_TOKEN,
    DEFAULT_IMAGE_PATCH_TOKEN,
    DEFAULT_IMAGE_TOKEN,
    IGNORE_INDEX,
    IMAGE_PLACEHOLDER,
    IMAGE_TOKEN_INDEX,
)
from mvlm.prompting.conversation import (
    CONVERSATIONS,
    Conversation,
    Message,
    SeparatorStyle,
    build_chat_prompt,
    build_prompt,
    get_conversation,
    list_conversations,
    register_conversation,
)
from mvlm.prompting.image_tags import (
    check_image_count,
    count_image_tokens,
    ensure_image_token,
    normalize_image_token,
)
from mvlm.prompting.masking import (
    MaskedSample,
    TokenizationMismatchWarning,
    build_training_sample,
    label_masking_style,
    mask_targets_llama_2,
    mask_targets_plain,
    mask_targets_v1,
)
from mvlm.prompting.tokenization import (
    ExpandedIds,
    TextTokenizer,
    check_context_length,
    count_image_ids,
    encode_prompt,
    expand_image_tokens,
    tokenize_text,
    tokenize_with_images,
)

__all__ = [
    "CONVERSATIONS",
    "DEFAULT_IMAGE_PATCH_TOKEN",
    "DEFAULT_IMAGE_TOKEN",
    "DEFAULT_IM_END_TOKEN",
    "DEFAULT_IM_START_TOKEN",
    "IGNORE_INDEX",
    "IMAGE_PLACEHOLDER",
    "IMAGE_TOKEN_INDEX",
    "Conversation",
    "ExpandedIds",
    "MaskedSample",
    "Message",
    "SeparatorStyle",
    "TextTokenizer",
    "TokenizationMismatchWarning",
    "build_chat_prompt",
    "build_prompt",
    "build_training_sample",
    "check_context_length",
    "check_image_count",
    "count_image_ids",
    "count_image_tokens",
    "encode_prompt",
    "ensure_image_token",
    "expand_image_tokens",
    "get_conversation",
    "label_masking_style",
    "list_conversations",
    "mask_targets_llama_2",
    "mask_targets_plain",
    "mask_targets_v1",
    "normalize_image_token",
    "register_conversation",
    "tokenize_text",
    "tokenize_with_images",
]
