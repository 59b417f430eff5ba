"""train_llama_tokenizer: a LLaMA-convention SentencePiece folder that mvlm and transformers load."""

from __future__ import annotations

import json

import pytest

from mvlm.errors import ConfigError, DataError
from mvlm.language import load_tokenizer, train_llama_tokenizer

TEXTS = [
    "There are two shapes: a red circle at the top left and a blue star in the center.",
    "What color is the circle? How many shapes are there? Where is the green square?",
    "A chat between a curious user and an artificial intelligence assistant.",
] * 20


def test_the_folder_loads_with_llama_ids(tmp_path):
    folder = train_llama_tokenizer(tmp_path / "tok", TEXTS, 320, model_max_length=256, legacy=True)
    assert {p.name for p in folder.iterdir()} == {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"}
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 256 and config["legacy"] is True and config["pad_token"] is None
    tokenizer = load_tokenizer(folder)
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert tokenizer.convert_tokens_to_ids("<0x0A>") == 13  # byte fallback: bytes right after the specials
    assert 259 < len(tokenizer) <= 320
    ids = tokenizer("What color is the star? 42").input_ids
    assert ids[0] == 1 and 0 not in ids  # BOS, and nothing unknown (byte fallback, digits split)
    assert tokenizer.decode(ids, skip_special_tokens=True) == "What color is the star? 42"


def test_same_text_same_model_bytes(tmp_path):
    first = train_llama_tokenizer(tmp_path / "a", TEXTS, 300)
    second = train_llama_tokenizer(tmp_path / "b", TEXTS, 300)
    assert (first / "tokenizer.model").read_bytes() == (second / "tokenizer.model").read_bytes()
    assert "legacy" not in json.loads((first / "tokenizer_config.json").read_text())  # as the published folders


@pytest.mark.parametrize(
    ("texts", "size", "error", "message"),
    [
        (TEXTS, 259, ConfigError, "must exceed 259"),
        (["", "  "], 300, DataError, "no text"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, texts, size, error, message):
    with pytest.raises(error, match=message):
        train_llama_tokenizer(tmp_path / "tok", texts, size)
    assert not (tmp_path / "tok").exists()
