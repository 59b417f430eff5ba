"""Loading and saving checkpoints: the published layouts, the hub cache offline, clear errors, round trips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.checkpoints import build_tiny_mobilevlm_checkpoint
from mvlm import MobileVLM
from mvlm.errors import CheckpointError, ConfigError
from mvlm.model.loading import read_state_dict

IMAGE = -200


def _inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([[1, 7, 8] + [IMAGE] * 144 + [9, 10, 11]])
    return {"input_ids": ids, "pixel_values": torch.randn(1, 3, 336, 336, generator=generator)}


def _logits(model: MobileVLM) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**_inputs()).logits.float()


@pytest.fixture(scope="module")
def reference_logits(tiny_v2_checkpoint: Path) -> torch.Tensor:
    return _logits(MobileVLM.from_pretrained(tiny_v2_checkpoint))


def test_strict_load_of_the_published_bin_layout(tiny_v2_checkpoint):
    model, report = MobileVLM.from_pretrained(tiny_v2_checkpoint, output_loading_info=True)
    assert model.dtype == torch.bfloat16  # stored dtype kept (torch_dtype "bfloat16" in config.json)
    assert not report["missing_keys"] and not report["mismatched_keys"]
    stored = read_state_dict(tiny_v2_checkpoint / "pytorch_model.bin")
    ours = model.state_dict()
    for key, tensor in stored.items():
        if key.endswith("position_ids"):
            continue
        assert torch.equal(ours[key], tensor), key  # every published tensor landed where it belongs


@pytest.mark.parametrize(("weight_format", "shards"), [("bin", 3), ("safetensors", 1), ("safetensors", 2)])
def test_every_weight_layout_gives_the_same_model(
    tmp_path, tiny_tokenizer_dir, reference_logits, weight_format, shards
):
    folder = build_tiny_mobilevlm_checkpoint(
        tmp_path / "ckpt", weight_format=weight_format, shards=shards, tokenizer_dir=tiny_tokenizer_dir
    )
    if shards > 1:
        index = "pytorch_model.bin.index.json" if weight_format == "bin" else "model.safetensors.index.json"
        assert (folder / index).is_file()
    torch.testing.assert_close(_logits(MobileVLM.from_pretrained(folder)), reference_logits, rtol=0, atol=0)


def test_v1_ldpnet_checkpoint_and_3b_leftover_keys(tmp_path, tiny_tokenizer_dir):
    folder = build_tiny_mobilevlm_checkpoint(tmp_path / "3b", preset="MobileVLM-3B", tokenizer_dir=tiny_tokenizer_dir)
    model = MobileVLM.from_pretrained(folder)
    assert model.config.mm_projector_type == "ldpnet" and model.config.n_head == 16
    assert model.config.num_attention_heads == 4  # the transformers key, not the lit-gpt leftover
    assert torch.isfinite(_logits(model)).all()


def test_dtype_option(tiny_v2_checkpoint):
    assert MobileVLM.from_pretrained(tiny_v2_checkpoint, dtype=torch.float32).dtype == torch.float32


def _fake_hub_cache(cache: Path, repo_id: str, checkpoint: Path) -> None:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(checkpoint, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_hub_id_resolves_from_the_local_cache_offline(tmp_path, tiny_v2_checkpoint, reference_logits):
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "mtgv/MobileVLM_V2-tiny", tiny_v2_checkpoint)
    code = (
        "import torch, mvlm\n"
        "m = mvlm.MobileVLM.from_pretrained('mtgv/MobileVLM_V2-tiny')\n"
        "tok = m.tokenizer\n"
        "print(type(m).__name__, tok.pad_token_id, m.num_image_tokens)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["MobileVLMForCausalLM", "0", "144"]
    # and in-process through cache_dir
    model = MobileVLM.from_pretrained("mtgv/MobileVLM_V2-tiny", cache_dir=cache, local_files_only=True)
    torch.testing.assert_close(_logits(model), reference_logits, rtol=0, atol=0)


def test_offline_miss_is_a_checkpoint_error(tmp_path):
    code = "import mvlm\nmvlm.MobileVLM.from_pretrained('mtgv/not-in-the-cache')\n"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "HF_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode != 0
    assert "CheckpointError" in result.stderr and "mtgv/not-in-the-cache" in result.stderr
    assert "HF_HUB_OFFLINE=1" in result.stderr


def _copy(checkpoint: Path, target: Path) -> Path:
    shutil.copytree(checkpoint, target)
    return target


def test_truncated_weight_file_names_the_checkpoint(tmp_path, tiny_v2_checkpoint):
    folder = _copy(tiny_v2_checkpoint, tmp_path / "truncated")
    weights = folder / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        MobileVLM.from_pretrained(folder)
    assert str(folder) in str(info.value)


def test_truncated_safetensors(tmp_path, tiny_tokenizer_dir):
    folder = build_tiny_mobilevlm_checkpoint(
        tmp_path / "st", weight_format="safetensors", tokenizer_dir=tiny_tokenizer_dir
    )
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=str(folder)):
        MobileVLM.from_pretrained(folder)


def _truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def _overwrite_the_start(path: Path) -> None:
    """Garbage where the format's structure begins (bytes flipped inside tensor data cannot be told from
    weights: neither torch nor transformers checks the zip members' checksums while loading)."""
    data = bytearray(path.read_bytes())
    data[:64] = bytes(255 - b for b in data[:64])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("weight_format", "shards", "damaged", "damage"),
    [
        ("bin", 1, "pytorch_model.bin", _truncate),
        ("bin", 1, "pytorch_model.bin", _overwrite_the_start),
        ("safetensors", 1, "model.safetensors", _overwrite_the_start),
        ("bin", 3, "pytorch_model-00002-of-00003.bin", _truncate),
        ("safetensors", 1, "model.safetensors", _truncate),
        ("safetensors", 2, "model-00002-of-00002.safetensors", _truncate),
    ],
)
def test_a_damaged_weight_file_is_named(tmp_path, tiny_tokenizer_dir, weight_format, shards, damaged, damage):
    folder = build_tiny_mobilevlm_checkpoint(
        tmp_path / "ckpt", weight_format=weight_format, shards=shards, tokenizer_dir=tiny_tokenizer_dir
    )
    damage(folder / damaged)
    before = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    with pytest.raises(CheckpointError) as info:
        MobileVLM.from_pretrained(folder)
    message = str(info.value)
    assert str(folder.resolve() / damaged) in message  # the file itself, not only the folder
    assert "truncated or corrupted" in message and "Download it again" in message
    others = [p.name for p in folder.iterdir() if p.name != damaged and p.name.endswith((".bin", ".safetensors"))]
    assert not any(name in message for name in others)  # only the damaged shard is blamed
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == before  # nothing touched


def test_a_damaged_file_in_the_hub_cache_is_named_offline(tmp_path, tiny_v2_checkpoint):
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "mtgv/MobileVLM_V2-broken", tiny_v2_checkpoint)
    weights = next((cache / "models--mtgv--MobileVLM_V2-broken" / "snapshots").iterdir()) / "pytorch_model.bin"
    _truncate(weights)
    with pytest.raises(CheckpointError) as info:
        MobileVLM.from_pretrained("mtgv/MobileVLM_V2-broken", cache_dir=cache, local_files_only=True)
    assert str(weights) in str(info.value) and "mtgv/MobileVLM_V2-broken" in str(info.value)


def test_find_damaged_weight_files_on_a_sound_checkpoint(tiny_v2_checkpoint):
    from mvlm.model.loading import find_damaged_weight_files

    assert find_damaged_weight_files(tiny_v2_checkpoint) == []


def test_missing_and_unexpected_tensors_are_listed(tmp_path, tiny_v2_checkpoint):
    folder = _copy(tiny_v2_checkpoint, tmp_path / "edited")
    state = read_state_dict(folder / "pytorch_model.bin")
    del state["model.mm_projector.peg.peg.0.bias"]
    state["model.mm_projector.extra.weight"] = torch.zeros(2)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as info:
        MobileVLM.from_pretrained(folder)
    message = str(info.value)
    assert "model.mm_projector.peg.peg.0.bias" in message and "missing" in message
    assert "model.mm_projector.extra.weight" in message and "no place in the model" in message


def test_wrong_shapes_are_a_checkpoint_error(tmp_path, tiny_v2_checkpoint):
    folder = _copy(tiny_v2_checkpoint, tmp_path / "reshaped")
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 96
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="mlp"):
        MobileVLM.from_pretrained(folder)


def test_unknown_projector_type_is_a_config_error_naming_the_checkpoint(tmp_path, tiny_v2_checkpoint):
    folder = _copy(tiny_v2_checkpoint, tmp_path / "bad-config")
    config = json.loads((folder / "config.json").read_text())
    config["mm_projector_type"] = "ldpnetv9"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="ldpnetv9") as info:
        MobileVLM.from_pretrained(folder)
    assert str(folder) in str(info.value) and "ldpnetv2" in str(info.value)  # a close match is suggested


def test_save_load_round_trip_gives_identical_logits(tmp_path, tiny_v2_checkpoint, reference_logits):
    model = MobileVLM.from_pretrained(tiny_v2_checkpoint)
    out = tmp_path / "saved"
    model.save_pretrained(out)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"} <= names
    assert not [n for n in names if n.startswith(".mvlm-save-")]
    saved_config = json.loads((out / "config.json").read_text())
    assert saved_config["model_type"] == "mobilevlm" and saved_config["rope_theta"] == 10000.0
    assert saved_config["mm_projector_type"] == "ldpnetv2"
    reloaded = MobileVLM.from_pretrained(out)
    torch.testing.assert_close(_logits(reloaded), reference_logits, rtol=0, atol=0)
    assert reloaded.tokenizer("USER: hi").input_ids == model.tokenizer("USER: hi").input_ids


def test_sharded_save_round_trip(tmp_path, tiny_v2_checkpoint, reference_logits):
    MobileVLM.from_pretrained(tiny_v2_checkpoint).save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    assert len(list((tmp_path / "sharded").glob("model-*-of-*.safetensors"))) > 1
    torch.testing.assert_close(
        _logits(MobileVLM.from_pretrained(tmp_path / "sharded")), reference_logits, rtol=0, atol=0
    )


def test_saving_keeps_unrelated_files_and_replaces_stale_shards(tmp_path, tiny_v2_checkpoint):
    model = MobileVLM.from_pretrained(tiny_v2_checkpoint)
    out = tmp_path / "out"
    model.save_pretrained(out, max_shard_size="100KB")
    (out / "notes.txt").write_text("mine")
    model.save_pretrained(out)  # now a single file: the old shards must go, the notes must stay
    assert (out / "notes.txt").read_text() == "mine"
    assert not list(out.glob("model-*-of-*.safetensors")) and not (out / "model.safetensors.index.json").exists()
    MobileVLM.from_pretrained(out)


def test_a_failed_save_leaves_the_folder_as_it_was(tmp_path, tiny_v2_checkpoint):
    model = MobileVLM.from_pretrained(tiny_v2_checkpoint)
    out = tmp_path / "out"
    model.save_pretrained(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    model.config.mm_projector_type = "ldpnetv9"  # config.json can still be written, but...

    class Boom(RuntimeError):
        pass

    original = type(model.tokenizer).save_pretrained

    def failing_save(self, *args, **kwargs):
        raise Boom("disk full")

    type(model.tokenizer).save_pretrained = failing_save
    try:
        with pytest.raises(Boom):
            model.save_pretrained(out)
    finally:
        type(model.tokenizer).save_pretrained = original
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_save_into_a_file_path_is_refused(tmp_path, tiny_v2_checkpoint):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        MobileVLM.from_pretrained(tiny_v2_checkpoint).save_pretrained(tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


def test_stage_one_projector_file_round_trip(tmp_path, tiny_v2_checkpoint):
    trained = MobileVLM.from_pretrained(tiny_v2_checkpoint)
    path = trained.save_projector(tmp_path / "mm_projector.bin")
    keys = list(torch.load(path, weights_only=True))
    assert keys and all(k.startswith("model.mm_projector.") for k in keys)
    fresh = MobileVLM.from_pretrained(tiny_v2_checkpoint)
    with torch.no_grad():
        for parameter in fresh.mm_projector.parameters():
            parameter.zero_()
    fresh.load_projector(path)
    for a, b in zip(fresh.mm_projector.state_dict().values(), trained.mm_projector.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_projector_file_errors(tmp_path, tiny_v2_checkpoint):
    model = MobileVLM.from_pretrained(tiny_v2_checkpoint)
    torch.save({"model.layers.0.mlp.up_proj.weight": torch.zeros(1)}, tmp_path / "wrong.bin")
    with pytest.raises(CheckpointError, match="not a projector tensor"):
        model.load_projector(tmp_path / "wrong.bin")
    torch.save({"model.mm_projector.mlp.mlp.0.weight": torch.zeros(1)}, tmp_path / "partial.bin")
    with pytest.raises(CheckpointError, match="missing"):
        model.load_projector(tmp_path / "partial.bin")
    (tmp_path / "garbage.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"garbage\.bin"):
        model.load_projector(tmp_path / "garbage.bin")


@pytest.mark.parametrize(
    ("preset", "vision_weights", "expect_original"),
    [
        ("MobileVLM_V2-1.7B", "checkpoint", False),
        ("MobileVLM_V2-1.7B", "original", True),
        ("MobileVLM_V2-1.7B", "reference", False),  # the reference keeps the checkpoint's copy for V2...
        ("MobileVLM-1.7B", "reference", True),  # ...and re-reads the original CLIP for v1
    ],
)
def test_vision_weights_switch(tmp_path, tiny_tokenizer_dir, preset, vision_weights, expect_original):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from helpers.checkpoints import TINY_CLIP

    folder = build_tiny_mobilevlm_checkpoint(tmp_path / "ckpt", preset=preset, tokenizer_dir=tiny_tokenizer_dir)
    torch.manual_seed(123)
    CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP)).save_pretrained(folder / "vision_tower")  # the "original" CLIP
    original = CLIPVisionModel.from_pretrained(folder / "vision_tower").state_dict()
    key = "embeddings.patch_embedding.weight"
    original_value = original.get(key, original.get(f"vision_model.{key}"))
    model = MobileVLM.from_pretrained(folder, vision_weights=vision_weights)
    loaded = model.vision_tower.vision_model.embeddings.patch_embedding.weight
    stored = read_state_dict(folder / "pytorch_model.bin")[f"model.vision_tower.vision_tower.vision_model.{key}"]
    if expect_original:
        torch.testing.assert_close(loaded, original_value.to(loaded.dtype))
    else:
        assert torch.equal(loaded, stored)
    with pytest.raises(ConfigError, match="vision_weights"):
        MobileVLM.from_pretrained(folder, vision_weights="fresh")


@pytest.mark.parametrize("as_path", [True, False])
def test_a_missing_local_folder_is_named_without_asking_the_hub(tmp_path, monkeypatch, as_path):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise AssertionError("the hub was asked for a local path")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(CheckpointError, match="no-such-checkpoint: there is no such folder"):
        MobileVLM.from_pretrained(missing if as_path else str(missing))
