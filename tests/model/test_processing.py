"""MobileVLMProcessor: text + images -> the model's inputs; save_pretrained / from_pretrained round trip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mvlm import MobileVLM
from mvlm.errors import ConfigError, PromptError
from mvlm.model.processing import PROCESSOR_CONFIG_NAME, MobileVLMProcessor
from mvlm.prompting import IGNORE_INDEX, IMAGE_TOKEN_INDEX, build_chat_prompt, encode_prompt


@pytest.fixture(scope="module")
def model(tiny_v2_checkpoint):
    return MobileVLM.from_pretrained(tiny_v2_checkpoint, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def processor(tiny_v2_checkpoint) -> MobileVLMProcessor:
    return MobileVLMProcessor.from_pretrained(tiny_v2_checkpoint)


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(40, 60), (50, 50)]]


def test_a_published_checkpoint_gives_the_models_settings(processor, model):
    """No processor files in the published layout: everything comes from config.json, as the model's own."""
    assert processor.num_image_tokens == model.num_image_tokens
    assert processor.context_length == model.config.context_length
    assert processor.conv_mode == "v1" and processor.image_token_index == IMAGE_TOKEN_INDEX
    assert processor.image_processor == model.image_processor
    assert processor.tokenizer.get_vocab() == model.tokenizer.get_vocab()


def test_call_gives_left_padded_ids_masks_and_pixels(processor, model, images):
    texts = ["What is it?", "Describe the picture in every detail, please."]
    batch = processor(images=images, text=texts)
    rows = [
        encode_prompt(
            build_chat_prompt(text, "v1", num_images=1),
            model.tokenizer,
            num_image_tokens=model.num_image_tokens,
        ).input_ids
        for text in texts
    ]
    length = max(map(len, rows))
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, length)
    for index, row in enumerate(rows):
        assert batch["input_ids"][index, length - len(row) :].tolist() == row  # left padding
        assert batch["attention_mask"][index].tolist() == [0] * (length - len(row)) + [1] * len(row)
    assert int((batch["input_ids"] == IMAGE_TOKEN_INDEX).sum()) == 2 * model.num_image_tokens
    torch.testing.assert_close(batch["pixel_values"], model.image_processor(images))


def test_the_processors_inputs_give_the_chat_answer(processor, model, images):
    batch = processor(images=images[0], text="What is it?")
    with torch.no_grad():
        output = model.generate(**batch, max_new_tokens=6, do_sample=False)
    new = output[:, batch["input_ids"].shape[1] :]
    assert processor.batch_decode(new)[0].strip() == model.chat(images[0], "What is it?", max_new_tokens=6)


def test_training_conversations_give_labels(processor, images):
    turns = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A square."}]
    text_only = [{"from": "human", "value": "Hello"}, {"from": "gpt", "value": "Hi there."}]
    batch = processor(images=[images[0], None], conversations=[turns, text_only])
    assert set(batch) == {"input_ids", "attention_mask", "labels", "pixel_values"}
    assert batch["labels"].shape == batch["input_ids"].shape and batch["pixel_values"].shape[0] == 1
    image_positions = batch["input_ids"] == IMAGE_TOKEN_INDEX
    assert int(image_positions.sum()) == processor.num_image_tokens
    assert (batch["labels"][image_positions] == IGNORE_INDEX).all()
    for row in range(2):  # right padding, no loss on it; the answer carries loss
        mask = batch["attention_mask"][row].bool()
        assert (batch["labels"][row][~mask] == IGNORE_INDEX).all()
        answer = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX].tolist()
        assert processor.decode(answer).strip() in ("A square.", "Hi there.")


def test_round_trip(tmp_path, processor, images):
    settings = {"num_image_tokens": 7, "conv_mode": "llava_llama_2", "context_length": 999}
    custom = MobileVLMProcessor(processor.tokenizer, processor.image_processor, **settings)
    folder = custom.save_pretrained(tmp_path / "saved")
    assert {"processor_config.json", "preprocessor_config.json", "tokenizer_config.json"} <= {
        p.name for p in folder.iterdir()
    }
    loaded = MobileVLMProcessor.from_pretrained(folder)
    assert loaded.to_dict() == custom.to_dict()
    assert loaded.image_processor == custom.image_processor
    assert loaded.tokenizer.get_vocab() == custom.tokenizer.get_vocab()
    first, second = custom(images=images[0], text="Hi"), loaded(images=images[0], text="Hi")
    assert torch.equal(first["input_ids"], second["input_ids"])
    torch.testing.assert_close(first["pixel_values"], second["pixel_values"])
    assert MobileVLMProcessor.from_pretrained(folder, conv_mode="v1").conv_mode == "v1"  # a call overrides


def test_processor_files_beside_a_checkpoint_win(tmp_path, tiny_v2_checkpoint, processor):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_v2_checkpoint, folder)
    (folder / PROCESSOR_CONFIG_NAME).write_text(json.dumps({"conv_mode": "llava_llama_2"}))
    loaded = MobileVLMProcessor.from_pretrained(folder)
    assert loaded.conv_mode == "llava_llama_2" and loaded.num_image_tokens == processor.num_image_tokens


def test_from_the_hub_cache_offline(tmp_path, tiny_v2_checkpoint):
    repo = tmp_path / "hub" / "models--mtgv--MobileVLM_V2-proc"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_v2_checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    code = (
        "from mvlm.model.processing import MobileVLMProcessor\n"
        "p = MobileVLMProcessor.from_pretrained('mtgv/MobileVLM_V2-proc')\n"
        "print(p.num_image_tokens, p.conv_mode)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HOME": str(tmp_path / "h")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["144", "v1"]


def test_errors(processor, images, tmp_path):
    with pytest.raises(PromptError, match="either text"):
        processor(images=images[0])
    with pytest.raises(PromptError, match="image entries"):
        processor(images=images, text=["a", "b", "c"])
    with pytest.raises(PromptError, match="2 '<image>'"):
        processor(images=images[0], text="<image> and <image>")
    with pytest.raises(ConfigError, match="num_image_tokens"):
        MobileVLMProcessor(processor.tokenizer, processor.image_processor, num_image_tokens=0)
    with pytest.raises(ConfigError, match="padding side"):
        processor.pad([[1]], side="middle")
    folder = processor.save_pretrained(tmp_path / "bad")
    (folder / PROCESSOR_CONFIG_NAME).write_text("{not json")
    with pytest.raises(ConfigError, match=PROCESSOR_CONFIG_NAME):
        MobileVLMProcessor.from_pretrained(folder)
    (folder / PROCESSOR_CONFIG_NAME).write_text(json.dumps({"num_image_tokens": 3, "colour": "red"}))
    with pytest.raises(ConfigError, match="colour"):
        MobileVLMProcessor.from_pretrained(folder)


def test_model_processor_and_generate_with_pixels(model, images):
    """model.generate(input_ids with image positions, pixel_values): the images go with the prefill only."""
    batch = model.processor(images=images[1], text="Is there a dog?")
    with torch.no_grad():
        from_pixels = model.generate(**batch, max_new_tokens=5, do_sample=False)
        embeds, _ = model.embed_inputs(batch["input_ids"], pixel_values=batch["pixel_values"])
        from_embeds = model.generate(
            inputs_embeds=embeds, attention_mask=batch["attention_mask"], max_new_tokens=5, do_sample=False
        )
    assert from_pixels[0, batch["input_ids"].shape[1] :].tolist() == from_embeds[0].tolist()
