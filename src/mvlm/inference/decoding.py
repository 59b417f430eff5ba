"""Generated ids -> text, and when generation stops: EOS, the template's stop string, a cancelled stream.

``generate`` already stops a row on an EOS id; :func:`stop_token_ids` adds the stop string's id when
the tokenizer has it as one special token (``"</s>"`` of ``v1``, ``"<s>"`` of ``llama_2``), and
:class:`StopOnString` stops a row as soon as its decoded new text contains the stop string
(``"###"`` of ``default``, ``"\\n"`` of ``plain``). Unlike the reference's
``KeywordsStoppingCriteria`` (batch size 1 only) it decides per row, so batches work.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import torch
from transformers import StoppingCriteria

__all__ = ["StopOnEvent", "StopOnString", "decode_new_tokens", "stop_token_ids", "trailing_byte_pieces"]

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def decode_new_tokens(tokenizer: Any, ids: list[int]) -> str:
    """Text of generated ids: special tokens skipped, spaces left as decoding produced them.

    Decoded as the released models decode (:func:`mvlm.language.decoding.text_decoder`):
    SentencePiece's own ``decode`` where the tokenizer has a ``tokenizer.model``.
    """
    from mvlm.language.decoding import text_decoder

    return text_decoder(tokenizer)(ids)


def trailing_byte_pieces(tokenizer: Any, ids: list[int]) -> int:
    """How many of the last ``ids`` are SentencePiece byte pieces (``<0xE2>``) or special tokens.

    A run of byte pieces decodes as a whole: valid UTF-8 gives its characters, anything else one
    ``"\ufffd"`` per byte, so the text of the run may still change while the run goes on (``<0x00>``
    alone is ``"\x00"``; followed by ``<0x80>`` both become ``"\ufffd"``). Special tokens decode to
    nothing and do not end a run. Streaming holds this tail back.
    """
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    count = 0
    for token_id in reversed(ids):
        if token_id not in special and not _BYTE_PIECE.fullmatch(str(tokenizer.convert_ids_to_tokens(token_id))):
            break
        count += 1
    return count


def stop_token_ids(tokenizer: Any, stop_string: str | None) -> list[int]:
    """The id of ``stop_string`` when the tokenizer has it as one special token, else ``[]``."""
    if not stop_string:
        return []
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    token_id = tokenizer.convert_tokens_to_ids(stop_string)
    if isinstance(token_id, int) and token_id in special and token_id != tokenizer.unk_token_id:
        return [token_id]
    return []


class StopOnString(StoppingCriteria):
    """Stop each row whose decoded new tokens contain ``stop_string``.

    ``generate`` is called with ``inputs_embeds`` only, so the ids it passes here are the new tokens.

    Args:
        tokenizer: The tokenizer that decodes the ids.
        stop_string: The text that ends an answer.
    """

    def __init__(self, tokenizer: Any, stop_string: str) -> None:
        self.tokenizer = tokenizer
        self.stop_string = stop_string

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        """``[batch]`` bool: True where the row's text contains the stop string."""
        done = [self.stop_string in decode_new_tokens(self.tokenizer, row) for row in input_ids.tolist()]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class StopOnEvent(StoppingCriteria):
    """Stop every row once ``event`` is set (a streaming consumer went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        """``[batch]`` bool, all True once the event is set."""
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]
