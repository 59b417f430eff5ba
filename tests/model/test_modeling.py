"""The assembled model: published key layout, the splice, the forward pass, generation, sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from helpers.checkpoints import TINY_CLIP, TINY_LLAMA
from mvlm.errors import ConfigError, PromptError, ShapeError
from mvlm.model import IGNORE_INDEX, MobileVLM, MobileVLMConfig, splice_image_features
from mvlm.projectors import LDPv2Projector

IMAGE = -200


def tiny_config(**overrides) -> MobileVLMConfig:
    fields = {
        "mm_vision_tower": "tiny-clip",
        "mm_vision_config": dict(TINY_CLIP),
        "mm_hidden_size": TINY_CLIP["hidden_size"],
        "mm_projector_type": "ldpnetv2",
        "vocab_size": 300,
        **TINY_LLAMA,
    }
    fields.update(overrides)
    return MobileVLMConfig(**fields)


@pytest.fixture(scope="module")
def model() -> MobileVLM:
    torch.manual_seed(0)
    return MobileVLM(tiny_config()).eval()


def test_keys_follow_the_published_layout(model):
    keys = list(model.state_dict())
    assert "model.vision_tower.vision_tower.vision_model.embeddings.class_embedding" in keys
    assert "model.vision_tower.vision_tower.vision_model.encoder.layers.2.mlp.fc2.weight" in keys  # last layer kept
    assert "model.vision_tower.vision_tower.vision_model.post_layernorm.weight" in keys
    assert [k for k in keys if k.startswith("model.mm_projector.")] == [
        f"model.mm_projector.{k}" for k in LDPv2Projector(32, 64).state_dict()
    ]
    assert {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"} <= set(keys)
    assert model.num_image_tokens == 144
    assert isinstance(model.mm_projector, LDPv2Projector) and model.vision_tower.frozen


def test_spliced_sequence_equals_the_reference_construction(model):
    """Reference (prepare_inputs_labels_for_multimodal): embed text before <image>, the 144 image
    embeddings, then the text after; ours: the expanded ids with the features scattered in."""
    before, after = [1, 17, 23, 259, 13], [40, 41, 2]
    pixels = torch.randn(1, 3, 336, 336)
    expanded = torch.tensor([before + [IMAGE] * 144 + after])
    with torch.no_grad():
        ours, _ = model.embed_inputs(expanded, pixel_values=pixels)
        embed = model.get_input_embeddings()
        features = model.encode_images(pixels)[0]
        reference = torch.cat([embed(torch.tensor(before)), features, embed(torch.tensor(after))])
    torch.testing.assert_close(ours[0], reference, rtol=0, atol=0)


def test_multiple_images_fill_positions_in_order():
    text = torch.zeros(2, 7, 3)
    mask = torch.tensor([[0, 1, 1, 0, 1, 1, 0], [1, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    features = torch.arange(3 * 2 * 3, dtype=torch.float32).reshape(3, 2, 3)
    labels = torch.arange(14).reshape(2, 7)
    out, new_labels = splice_image_features(text, mask, features, labels)
    torch.testing.assert_close(out[0, 1:3], features[0])
    torch.testing.assert_close(out[0, 4:6], features[1])
    torch.testing.assert_close(out[1, 0:2], features[2])
    assert (out[~mask] == 0).all()
    assert (new_labels[mask] == IGNORE_INDEX).all() and (new_labels[~mask] == labels[~mask]).all()
    assert (text == 0).all()  # inputs untouched


def test_count_mismatch_is_a_clear_error():
    with pytest.raises(ShapeError, match="5 image positions but 1 image"):
        splice_image_features(
            torch.zeros(1, 6, 3), torch.tensor([[0, 1, 1, 1, 1, 1]], dtype=torch.bool), torch.zeros(1, 4, 3)
        )


def test_prompt_errors(model):
    ids = torch.tensor([[1, 5, 6]])
    with pytest.raises(PromptError, match="no image positions"):
        model(input_ids=ids, pixel_values=torch.randn(1, 3, 336, 336))
    with pytest.raises(PromptError, match="144 image positions but no pixel_values"):
        model(input_ids=torch.tensor([[1] + [IMAGE] * 144]))


def test_forward_loss_ignores_image_positions(model):
    torch.manual_seed(1)
    ids = torch.tensor([[1, 7, 8] + [IMAGE] * 144 + [9, 10, 2]])
    pixels = torch.randn(1, 3, 336, 336)
    labels = ids.clone()
    labels[:, :3] = IGNORE_INDEX
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=pixels, labels=labels)
        logits = out.logits[0, :-1]
        targets = labels.masked_fill(ids == IMAGE, IGNORE_INDEX)[0, 1:]
        expected = torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
    assert out.logits.shape == (1, ids.shape[1], 300)
    torch.testing.assert_close(out.loss, expected)


def test_generate_with_cache_equals_step_by_step_argmax(model):
    ids = torch.tensor([[1, 7, 8] + [IMAGE] * 144 + [9, 10]])
    pixels = torch.randn(1, 3, 336, 336)
    with torch.no_grad():
        generated = model.generate(input_ids=ids, pixel_values=pixels, max_new_tokens=4, do_sample=False)
        new_tokens = generated[0, ids.shape[1] :].tolist()
        sequence, manual = ids, []
        for _ in range(4):
            next_id = int(model(input_ids=sequence, pixel_values=pixels).logits[0, -1].argmax())
            manual.append(next_id)
            sequence = torch.cat([sequence, torch.tensor([[next_id]])], dim=1)
    assert new_tokens == manual


def test_gradients_reach_projector_and_language_model_not_the_frozen_tower():
    model = MobileVLM(tiny_config()).train()
    ids = torch.tensor([[1, 7] + [IMAGE] * 144 + [9, 2]])
    model(input_ids=ids, pixel_values=torch.randn(1, 3, 336, 336), labels=ids).loss.backward()
    assert all(p.grad is not None for p in model.mm_projector.parameters())
    assert model.lm_head.weight.grad is not None
    assert all(p.grad is None for p in model.vision_tower.parameters())


def test_config_errors_at_build_time():
    with pytest.raises(ConfigError, match="mm_hidden_size"):
        MobileVLM(tiny_config(mm_hidden_size=48))
    with pytest.raises(ConfigError, match="'no_such_projector' is not a registered projector"):
        MobileVLM(tiny_config(mm_projector_type="no_such_projector"))


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        # LLM + CLIP ViT-L/14-336 (with its unused post-layernorm) + projector, facts sheet 1.2
        ("MobileVLM-1.7B", 1_364_297_728 + 303_507_456 + 18_936_832),
        ("MobileVLM_V2-1.7B", 1_364_297_728 + 303_507_456 + 6_316_032),
        ("MobileVLM-3B", 2_701_560_320 + 303_507_456 + 28_913_920),
    ],
)
def test_published_architectures_build_without_download_and_have_the_published_size(preset, expected):
    with torch.device("meta"):
        model = MobileVLM(MobileVLMConfig.from_preset(preset))
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.num_image_tokens == 144


def test_auto_model_for_causal_lm_after_import_mvlm(tiny_v2_checkpoint):
    code = (
        "import mvlm, transformers\n"
        f"m = transformers.AutoModelForCausalLM.from_pretrained({str(tiny_v2_checkpoint)!r})\n"
        "print(type(m).__name__, m.num_image_tokens)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["MobileVLMForCausalLM", "144"]


def test_text_only_training_batch_still_reaches_the_projector():
    """DDP / ZeRO-3 need every trainable parameter used in every step (the reference's zero image)."""
    model = MobileVLM(tiny_config()).train()
    ids = torch.tensor([[1, 7, 8, 9, 2]])
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for p in model.mm_projector.parameters()]
    assert all(g is not None and torch.count_nonzero(g) == 0 for g in grads)
    model.eval()
    with torch.no_grad():
        embeds, _ = model.embed_inputs(ids)
    torch.testing.assert_close(embeds, model.get_input_embeddings()(ids))  # inference: no blank image
