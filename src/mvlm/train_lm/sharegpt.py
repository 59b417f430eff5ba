"""ShareGPT conversations for chat SFT: reading, checking, and ids + labels with the shared masking code.

A ShareGPT file (FastChat's format) is a JSON list, or JSON Lines, of records::

    {"id": "QWJhYvA_0",
     "conversations": [{"from": "human", "value": "Summarize ..."},
                       {"from": "gpt", "value": "The article ..."},
                       {"from": "human", "value": "Shorter?"},
                       {"from": "gpt", "value": "..."}]}

Roles are ``human`` / ``gpt``; ``user`` / ``assistant`` (which FastChat also writes) are read as
the same. A leading ``gpt`` turn is dropped (as FastChat and the reference do); the rest must
alternate, starting with ``human``, and include at least one answer. Any other role, a malformed
turn, or a conversation out of order is a :class:`~mvlm.errors.DataError` naming the file and the
record (or, with ``skip_invalid``, a skipped record, counted).

Each item is rendered with the conversation template (``vicuna_v1`` = FastChat's vicuna v1.1 = mvlm's
``v1``) and masked by :func:`~mvlm.prompting.build_training_sample`, the code that masks MobileVLM's
stage-II data: loss only on every answer and its ``</s>``, a tokenization mismatch fully masked and
counted, text-only samples truncated to ``model_max_length`` when tokenized.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mvlm.errors import ConfigError, DataError
from mvlm.prompting import IGNORE_INDEX, MaskedSample, build_training_sample, label_masking_style

__all__ = ["ROLE_NAMES", "ShareGPTDataset", "ShareGPTRecord", "TextSFTCollator", "read_sharegpt"]

logger = logging.getLogger(__name__)

ROLE_NAMES: dict[str, str] = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt"}
"""ShareGPT role names and the LLaVA/FastChat role each stands for."""


@dataclass(frozen=True)
class ShareGPTRecord:
    """One checked conversation.

    Attributes:
        id: The record's ``id`` (its position when it has none).
        turns: ``({"from": "human" | "gpt", "value": text}, ...)``, alternating, starting with ``human``.
        where: ``"file, record N (id ...)"``, for messages.
    """

    id: str
    turns: tuple[dict[str, str], ...]
    where: str


def _load_records(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from error
        return list(records)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}:{number}: not a JSON object ({error.msg}); a ShareGPT file is a JSON list or JSON Lines"
                ) from error
    return records


def _check_record(record: Any, where: str) -> tuple[str, tuple[dict[str, str], ...]]:
    if not isinstance(record, Mapping) or not isinstance(record.get("conversations"), list):
        raise DataError(f"{where}: a record must be an object with a 'conversations' list")
    turns = []
    for number, turn in enumerate(record["conversations"]):
        if not isinstance(turn, Mapping) or not isinstance(turn.get("value"), str) or "from" not in turn:
            raise DataError(f"{where}, turn {number}: a turn must be an object with 'from' and a string 'value'")
        role = ROLE_NAMES.get(str(turn["from"]).lower())
        if role is None:
            raise DataError(
                f"{where}, turn {number}: unknown role {turn['from']!r}; ShareGPT roles are 'human' and 'gpt' "
                "('user' and 'assistant' are accepted for them)"
            )
        turns.append({"from": role, "value": turn["value"]})
    if turns and turns[0]["from"] == "gpt":
        turns = turns[1:]
    if not any(turn["from"] == "gpt" for turn in turns):
        raise DataError(f"{where}: the conversation has no answer (no 'gpt' turn after the first question)")
    for number, turn in enumerate(turns):
        expected = "human" if number % 2 == 0 else "gpt"
        if turn["from"] != expected:
            raise DataError(
                f"{where}: turns must alternate human, gpt, ...; turn {number} (after dropping a leading answer) "
                f"comes from '{turn['from']}'"
            )
    return str(record.get("id", "")), tuple(turns)


def read_sharegpt(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, skip_invalid: bool = False
) -> tuple[list[ShareGPTRecord], list[str]]:
    """Read and check ShareGPT files (JSON list or JSON Lines).

    Args:
        paths: One file or several, read in order.
        skip_invalid: Drop records that fail the checks instead of raising.

    Returns:
        ``(records, problems)``: the good records, and one message per skipped record.

    Raises:
        DataError: A file is missing or not JSON, or (without ``skip_invalid``) any record fails the
            checks; the message names the file and the record, and counts the other bad records.
    """
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    records: list[ShareGPTRecord] = []
    problems: list[str] = []
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise DataError(f"no ShareGPT file '{path}'")
        for number, record in enumerate(_load_records(path)):
            label = record.get("id") if isinstance(record, Mapping) else None
            where = f"{path}, record {number}" + (f" (id {label!r})" if label is not None else "")
            try:
                record_id, turns = _check_record(record, where)
            except DataError as error:
                problems.append(str(error))
                continue
            records.append(ShareGPTRecord(record_id or str(number), turns, where))
    if problems and not skip_invalid:
        more = f" (and {len(problems) - 1} more bad record(s))" if len(problems) > 1 else ""
        raise DataError(f"{problems[0]}{more}; fix the data or skip such records (skip_invalid / --skip-invalid)")
    if problems:
        logger.warning("skipped %d invalid ShareGPT record(s); the first: %s", len(problems), problems[0])
    return records, problems


class ShareGPTDataset(Dataset):
    """Chat SFT samples: each record rendered with a template and masked as MobileVLM's stage II.

    Args:
        records: From :func:`read_sharegpt`.
        tokenizer: The model's tokenizer (SentencePiece ``legacy`` ids, as the reference; see
            :func:`~mvlm.language.load_tokenizer`).
        template: A conversation template with label masking (``vicuna_v1``/``v1``, ``llama_2``...).
        model_max_length: Samples are truncated to this many tokens.

    Items are ``{"input_ids": [tokens], "labels": [tokens]}`` (long); labels are ``-100`` except on
    the answers and their ``</s>``. Tokenization is lazy (per item, as FastChat's lazy preprocessing);
    :attr:`mismatch_count`, :attr:`truncated_count` and :attr:`untrained_count` count what this process
    has seen, and
    :meth:`scan` tokenizes everything once to count them over the whole data set.

    Raises:
        ConfigError: The template has no label masking for conversations (``plain``).
    """

    def __init__(
        self, records: Sequence[ShareGPTRecord], tokenizer: Any, *, template: str = "vicuna_v1", model_max_length: int
    ) -> None:
        style = label_masking_style(template)
        if style == "plain":
            raise ConfigError(f"template '{template}' is for stage-1 captions; chat SFT needs one like 'vicuna_v1'")
        if not isinstance(model_max_length, int) or model_max_length < 2:
            raise ConfigError(f"model_max_length must be an int >= 2, got {model_max_length!r}")
        self.records = list(records)
        self.tokenizer = tokenizer
        self.template = template
        self.model_max_length = model_max_length
        self._mismatched: set[int] = set()
        self._truncated: set[int] = set()
        self._untrained: set[int] = set()

    def __len__(self) -> int:
        return len(self.records)

    def sample(self, index: int) -> MaskedSample:
        """Record ``index`` as ids and labels (counted as mismatched / truncated when so)."""
        record = self.records[index]
        sample = build_training_sample(
            list(record.turns),
            self.tokenizer,
            template=self.template,
            has_image=False,
            model_max_length=self.model_max_length,
            warn=False,
        )
        if sample.mismatch and index not in self._mismatched:
            self._mismatched.add(index)
            logger.warning("%s: tokenization mismatch; the sample is fully masked (adds no loss)", record.where)
        if len(sample.input_ids) >= self.model_max_length:
            self._truncated.add(index)
        if all(label == IGNORE_INDEX for label in sample.labels) and index not in self._untrained:
            self._untrained.add(index)
            if not sample.mismatch:
                logger.warning("%s: no answer token within model_max_length; the sample adds no loss", record.where)
        return sample

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.sample(index).as_tensors()

    @property
    def mismatch_count(self) -> int:
        """Distinct records seen in this process whose tokenization mismatched (fully masked)."""
        return len(self._mismatched)

    @property
    def truncated_count(self) -> int:
        """Distinct records seen in this process that reached ``model_max_length`` (cut there)."""
        return len(self._truncated)

    @property
    def untrained_count(self) -> int:
        """Distinct records seen in this process without a single trained token (mismatched, or cut
        before their first answer)."""
        return len(self._untrained)

    def scan(self) -> dict[str, int]:
        """Tokenize every record once; counts of ``samples``, ``mismatches``, ``truncated``, ``untrained``, ``tokens``
        and ``trained_tokens``."""
        tokens = trained = 0
        for index in range(len(self)):
            sample = self.sample(index)
            tokens += len(sample.input_ids)
            trained += sum(1 for label in sample.labels if label != IGNORE_INDEX)
        return {
            "samples": len(self),
            "mismatches": self.mismatch_count,
            "truncated": self.truncated_count,
            "untrained": self.untrained_count,
            "tokens": tokens,
            "trained_tokens": trained,
        }


class TextSFTCollator:
    """Pad text-only SFT samples with the shared collator (right padding, pad id, labels ``-100``).

    Wraps :class:`~mvlm.data.collator.DataCollatorForSupervisedDataset` and leaves out its
    ``pixel_values`` (always ``None`` here), which a plain causal LM does not take.

    Args:
        tokenizer: The model's tokenizer (its pad id; unk when it has none).
        model_max_length: The longest sample.
    """

    def __init__(self, tokenizer: Any, model_max_length: int) -> None:
        from mvlm.data.collator import DataCollatorForSupervisedDataset

        self.collator = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=model_max_length)

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """``input_ids``, ``labels`` and ``attention_mask``, each ``[batch, longest]``."""
        batch = self.collator(samples)
        return {key: value for key, value in batch.items() if value is not None and key != "pixel_values"}
