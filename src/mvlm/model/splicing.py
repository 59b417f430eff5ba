"""The one place where image features enter the token sequence.

Prompts are expanded before the model: each image becomes ``M`` consecutive placeholder
positions (``M = projector.num_output_tokens(N)``) holding ``image_token_index`` (-200). The model
embeds the text, then writes the projected image features into those positions in order:
the first image's ``M`` features into the first ``M`` placeholders, and so on across the batch
(row-major). Labels at image positions become ``IGNORE_INDEX``. Generation, training and
evaluation all go through :func:`splice_image_features`.
"""

from __future__ import annotations

from torch import Tensor

from mvlm.errors import ShapeError
from mvlm.prompting.constants import IGNORE_INDEX

__all__ = ["splice_image_features"]


def splice_image_features(
    text_embeddings: Tensor,
    image_mask: Tensor,
    image_features: Tensor,
    labels: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Write ``image_features`` into the image positions of ``text_embeddings``.

    Args:
        text_embeddings: ``[batch, seq, hidden]`` embeddings of the (expanded) prompt; the values
            at image positions are overwritten.
        image_mask: ``[batch, seq]`` bool, True at image positions.
        image_features: ``[num_images, M, hidden]`` projected features, images in the order their
            placeholders appear (batch row by row, left to right).
        labels: Optional ``[batch, seq]`` labels; image positions become ``IGNORE_INDEX``.

    Returns:
        ``(embeddings, labels)``: new tensors; the inputs are not modified.

    Raises:
        ShapeError: The number of image positions differs from the number of feature vectors, or
            the widths differ.
    """
    positions = int(image_mask.sum())
    if image_features.dim() != 3:
        raise ShapeError(f"image_features must be [num_images, tokens, hidden], got {list(image_features.shape)}")
    vectors = image_features.shape[0] * image_features.shape[1]
    if positions != vectors:
        per_image = image_features.shape[1]
        raise ShapeError(
            f"the prompt has {positions} image positions but {image_features.shape[0]} image(s) give {vectors} "
            f"feature vectors ({per_image} per image); each <image> must be expanded to exactly {per_image} "
            "positions (mvlm.prompting.expand_image_tokens) and each must have one image"
        )
    if image_features.shape[-1] != text_embeddings.shape[-1]:
        raise ShapeError(
            f"image features are {image_features.shape[-1]} wide but the language model's embeddings are "
            f"{text_embeddings.shape[-1]}; the projector's out_dim must equal the model's hidden_size"
        )
    features = image_features.to(device=text_embeddings.device, dtype=text_embeddings.dtype)
    embeddings = text_embeddings.masked_scatter(image_mask.unsqueeze(-1).to(text_embeddings.device), features)
    if labels is not None:
        labels = labels.masked_fill(image_mask.to(labels.device), IGNORE_INDEX)
    return embeddings, labels
