"""The GGUF writers without llama.cpp: metadata, tensor names/shapes/types read back with gguf.GGUFReader,
values, the q/k permutation, the vocabulary, errors and the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf", reason='the gguf package is not installed (pip install "mvlm[export]")')

from mvlm.errors import CheckpointError, ConfigError, MissingDependencyError  # noqa: E402
from mvlm.export.gguf import QUANT_TYPES, export_gguf  # noqa: E402
from mvlm.export.gguf_llm import llama_tensor_name, permute_qk, unpermute_qk, write_language_model_gguf  # noqa: E402
from mvlm.export.gguf_mmproj import clip_tensor_name, llamacpp_projector_type, write_mmproj_gguf  # noqa: E402
from mvlm.export.gguf_vocab import read_sentencepiece_vocab  # noqa: E402

TOWER = "model.vision_tower.vision_tower.vision_model."


def fields(path: Path) -> dict[str, Any]:
    reader = gguf.GGUFReader(path)
    return {key: field.contents() for key, field in reader.fields.items() if not key.startswith("GGUF.")}


def tensors(path: Path) -> dict[str, Any]:
    return {tensor.name: tensor for tensor in gguf.GGUFReader(path).tensors}


def values_of(tensor: Any) -> np.ndarray:
    """A tensor read back as float32 in PyTorch's (row-major) shape."""
    data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    return np.asarray(data, dtype=np.float32).reshape(tuple(reversed(tensor.shape.tolist())))


# ----------------------------------------------------------------------------- the q/k permutation
@pytest.mark.parametrize(("heads", "head_dim"), [(1, 2), (4, 16), (3, 8)])
def test_permute_qk_round_trip(heads: int, head_dim: int) -> None:
    weight = torch.randn(heads * head_dim, 5)
    permuted = permute_qk(weight, heads)
    assert not torch.equal(permuted, weight) or head_dim == 2
    assert torch.equal(unpermute_qk(permuted, heads), weight)
    bias = np.random.default_rng(0).standard_normal(heads * head_dim)
    assert np.array_equal(unpermute_qk(permute_qk(bias, heads), heads), bias)


def test_permute_qk_moves_half_rows_to_pairs() -> None:
    rows = torch.arange(8.0)[:, None]  # one head of 8: halves (0..3) and (4..7)
    assert permute_qk(rows, 1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_permute_qk_turns_transformers_rope_into_llamacpp_rope() -> None:
    """transformers' rotate-half RoPE on q equals llama.cpp's adjacent-pair RoPE on the permuted q, row for row."""
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    heads, head_dim, positions, base = 2, 8, 5, 10000.0
    config = LlamaConfig(hidden_size=heads * head_dim, num_attention_heads=heads, max_position_embeddings=64)
    q = torch.randn(1, heads, positions, head_dim)
    cos, sin = LlamaRotaryEmbedding(config)(q, torch.arange(positions)[None])
    rotated, _ = apply_rotary_pos_emb(q, q, cos, sin)

    def llamacpp_rope(x: torch.Tensor) -> torch.Tensor:  # pairs (2i, 2i+1) rotated by p * base^(-2i/d)
        angle = torch.arange(positions)[:, None] * base ** (-torch.arange(0, head_dim, 2) / head_dim)
        even, odd = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = even * angle.cos() - odd * angle.sin()
        out[..., 1::2] = even * angle.sin() + odd * angle.cos()
        return out

    def as_rows(x: torch.Tensor) -> torch.Tensor:  # [1, heads, pos, d] -> [heads * d, pos]
        return x[0].permute(0, 2, 1).reshape(heads * head_dim, positions)

    expected = permute_qk(as_rows(rotated), heads)
    permuted_q = permute_qk(as_rows(q), heads).reshape(heads, head_dim, positions).permute(0, 2, 1)
    assert torch.allclose(as_rows(llamacpp_rope(permuted_q)[None]), expected, atol=1e-5)


def test_llama_tensor_names() -> None:
    assert llama_tensor_name("model.embed_tokens.weight") == "token_embd.weight"
    assert llama_tensor_name("lm_head.weight") == "output.weight"
    assert llama_tensor_name("model.layers.11.mlp.down_proj.weight") == "blk.11.ffn_down.weight"
    assert llama_tensor_name("model.layers.0.post_attention_layernorm.weight") == "blk.0.ffn_norm.weight"
    assert llama_tensor_name(TOWER + "embeddings.class_embedding") is None
    assert llama_tensor_name("model.mm_projector.peg.peg.0.bias") is None
    with pytest.raises(ConfigError, match=r"no place in llama\.cpp"):
        llama_tensor_name("model.layers.0.self_attn.q_norm.weight")


# ----------------------------------------------------------------------------- the language model file
@pytest.fixture(scope="module")
def lm_files(load_model: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    model = load_model("v2")
    root = tmp_path_factory.mktemp("lm")
    storages = [storage for storage, encoder in QUANT_TYPES.items() if encoder == "gguf"]
    return {s: write_language_model_gguf(model, root / f"{s}.gguf", storage=s) for s in storages}


def test_language_model_metadata(lm_files: dict[str, Path], load_model: Any, checkpoints: dict[str, Path]) -> None:
    config = load_model("v2").config
    meta = fields(lm_files["f16"])
    assert meta["general.architecture"] == "llama"
    assert meta["general.name"] == "v2"
    assert meta["general.file_type"] == gguf.LlamaFileType.MOSTLY_F16
    assert meta["llama.context_length"] == 512  # max_sequence_length of the tiny config
    assert meta["llama.embedding_length"] == config.hidden_size
    assert meta["llama.block_count"] == config.num_hidden_layers
    assert meta["llama.feed_forward_length"] == config.intermediate_size
    assert meta["llama.attention.head_count"] == meta["llama.attention.head_count_kv"] == 4
    assert meta["llama.rope.dimension_count"] == 16
    assert meta["llama.rope.freq_base"] == 10000.0
    assert meta["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)
    vocab = read_sentencepiece_vocab(checkpoints["v2"] / "tokenizer.model")
    assert meta["tokenizer.ggml.model"] == "llama"
    assert meta["tokenizer.ggml.tokens"] == vocab.tokens
    assert meta["tokenizer.ggml.scores"] == pytest.approx(vocab.scores)
    types = meta["tokenizer.ggml.token_type"]
    assert types[:4] == [2, 3, 3, 6]  # <unk> unknown, <s> </s> control, <0x00> byte
    assert types.count(6) == 256 and meta["tokenizer.ggml.tokens"][13] == "<0x0A>"
    assert set(types[259:]) == {1}
    assert (meta["tokenizer.ggml.unknown_token_id"], meta["tokenizer.ggml.bos_token_id"]) == (0, 1)
    assert (meta["tokenizer.ggml.eos_token_id"], meta["tokenizer.ggml.padding_token_id"]) == (2, 0)
    assert meta["tokenizer.ggml.add_bos_token"] is True and meta["tokenizer.ggml.add_eos_token"] is False
    assert meta["tokenizer.ggml.add_space_prefix"] is True
    assert fields(lm_files["q8_0"])["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0
    assert fields(lm_files["bf16"])["general.file_type"] == gguf.LlamaFileType.MOSTLY_BF16
    assert fields(lm_files["f32"])["general.file_type"] == gguf.LlamaFileType.ALL_F32


@pytest.mark.parametrize(("storage", "matrix_type", "tolerance"), [
    ("f32", "F32", 0.0), ("f16", "F16", 1e-3), ("bf16", "BF16", 0.0), ("q8_0", "Q8_0", 0.02),
])  # fmt: skip
def test_language_model_tensors(
    lm_files: dict[str, Path], load_model: Any, storage: str, matrix_type: str, tolerance: float
) -> None:
    model = load_model("v2")
    config = model.config
    state = {llama_tensor_name(k): v for k, v in model.state_dict().items() if llama_tensor_name(k)}
    found = tensors(lm_files[storage])
    assert set(found) == set(state)
    assert len(found) == 3 + 9 * config.num_hidden_layers
    for name, tensor in found.items():
        expected = state[name].numpy()
        assert tuple(reversed(tensor.shape.tolist())) == expected.shape, name
        assert tensor.tensor_type.name == ("F32" if expected.ndim == 1 else matrix_type), name
        got = values_of(tensor)
        if ".attn_q." in name or ".attn_k." in name:
            got = unpermute_qk(got, 4)
            assert not np.array_equal(values_of(tensor), expected)
        scale = np.abs(expected).max()
        assert np.abs(got - expected).max() <= tolerance * scale, name


def test_q8_0_falls_back_to_f16_for_short_rows(load_model: Any, tmp_path: Path) -> None:
    from mvlm.export.gguf_llm import plan_language_model_tensors

    plans = {plan.name: plan for plan in plan_language_model_tensors(load_model("v2"), "q8_0")}
    assert plans["blk.0.ffn_down.weight"].storage == "q8_0"  # 128 per row
    assert plans["output_norm.weight"].storage == "f32"


# ----------------------------------------------------------------------------- the mmproj file
@pytest.mark.parametrize(("kind", "projector_type", "projector_tensors"), [
    ("v1", "ldp", 24), ("v2", "ldpv2", 6), ("mlp", "mlp", 4),
])  # fmt: skip
def test_mmproj_metadata_and_names(
    load_model: Any, tmp_path: Path, kind: str, projector_type: str, projector_tensors: int
) -> None:
    model = load_model(kind)
    path = write_mmproj_gguf(model, tmp_path / "mmproj-model-f16.gguf")
    meta = fields(path)
    assert meta["general.architecture"] == "clip"
    assert meta["clip.projector_type"] == projector_type == llamacpp_projector_type(model)
    assert meta["clip.has_vision_encoder"] is True and meta["clip.has_text_encoder"] is False
    assert meta["clip.has_llava_projector"] is True
    assert meta["general.file_type"] == gguf.LlamaFileType.MOSTLY_F16
    assert meta["general.description"] == "image encoder for LLaVA"
    assert (meta["clip.vision.image_size"], meta["clip.vision.patch_size"]) == (336, 14)
    assert (meta["clip.vision.embedding_length"], meta["clip.vision.feed_forward_length"]) == (32, 64)
    assert meta["clip.vision.attention.head_count"] == 4
    assert meta["clip.vision.projection_dim"] == 16
    assert meta["clip.vision.attention.layer_norm_epsilon"] == pytest.approx(1e-5)
    # select_layer -2 of 3 layers = hidden state 2: two layers written, feature layer 2 (not dropped again)
    assert meta["clip.vision.block_count"] == 2
    assert meta["clip.vision.feature_layer"] == [2]
    assert meta["clip.use_gelu"] is False  # quick_gelu
    assert meta["clip.vision.image_mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert meta["clip.vision.image_std"] == pytest.approx([0.26862954, 0.26130258, 0.27577711])
    names = set(tensors(path))
    vision = {n for n in names if n.startswith("v.")}
    assert len(vision) == 5 + 16 * 2
    assert not any(n.startswith(("v.blk.2.", "v.post_ln")) for n in names)
    assert {"v.class_embd", "v.patch_embd.weight", "v.position_embd.weight", "v.blk.1.ffn_down.weight"} <= vision
    assert len(names - vision) == projector_tensors
    assert all(n.startswith("mm.") for n in names - vision)


def test_mmproj_tensor_layout_ldp(load_model: Any, tmp_path: Path) -> None:
    found = tensors(write_mmproj_gguf(load_model("v1"), tmp_path / "mmproj.gguf"))

    def shape(name: str) -> tuple[int, ...]:
        return tuple(reversed(found[name].shape.tolist()))

    assert shape("mm.model.mb_block.1.block.0.0.weight") == (64, 3, 3)  # depthwise [64,1,3,3] squeezed
    assert shape("mm.model.mb_block.2.block.2.0.weight") == (64, 64)  # pointwise [64,64,1,1]
    assert shape("mm.model.mb_block.1.block.1.fc1.weight") == (16, 64)  # SE fc1 [16,64,1,1]
    assert found["mm.model.mb_block.1.block.0.0.weight"].tensor_type.name == "F16"
    assert found["mm.model.mb_block.1.block.0.1.weight"].tensor_type.name == "F32"  # LayerNorm
    assert found["mm.model.mlp.1.weight"].tensor_type.name == "F16"
    assert shape("v.patch_embd.weight") == (32, 3, 14, 14) and found["v.patch_embd.weight"].tensor_type.name == "F16"
    assert found["v.class_embd"].tensor_type.name == "F32"
    assert shape("v.blk.0.ffn_down.weight") == (64, 32)  # fc1, under llama.cpp's legacy name


def test_mmproj_ldpv2_names(load_model: Any, tmp_path: Path) -> None:
    names = set(tensors(write_mmproj_gguf(load_model("v2"), tmp_path / "mmproj.gguf", storage="f32")))
    expected = {f"mm.model.{p}.{s}" for p in ("mlp.0", "mlp.2", "peg.0") for s in ("weight", "bias")}
    assert {n for n in names if n.startswith("mm.")} == expected


def test_mmproj_tower_comes_from_the_checkpoint_file(checkpoints: dict[str, Path], load_model: Any, tmp_path: Path):
    """The tower tensors are the checkpoint's own stored values (bf16 in the file), not another CLIP's."""
    stored = torch.load(checkpoints["v2"] / "pytorch_model.bin", map_location="cpu", weights_only=True)
    found = tensors(write_mmproj_gguf(load_model("v2"), tmp_path / "mmproj.gguf", storage="f32"))
    pairs = {
        "v.class_embd": "embeddings.class_embedding",
        "v.position_embd.weight": "embeddings.position_embedding.weight",
        "v.blk.1.attn_q.weight": "encoder.layers.1.self_attn.q_proj.weight",
        "v.blk.0.ffn_up.weight": "encoder.layers.0.mlp.fc2.weight",
        "v.pre_ln.bias": "pre_layrnorm.bias",
    }
    for name, key in pairs.items():
        assert np.array_equal(values_of(found[name]), stored[TOWER + key].float().numpy()), name
    peg = stored["model.mm_projector.peg.peg.0.weight"].float().numpy().reshape(64, 3, 3)
    assert np.array_equal(values_of(found["mm.model.peg.0.weight"]), peg)


def test_clip_tensor_names() -> None:
    assert clip_tensor_name("encoder.layers.3.self_attn.out_proj.bias", 23) == "v.blk.3.attn_out.bias"
    assert clip_tensor_name("encoder.layers.22.mlp.fc2.weight", 23) == "v.blk.22.ffn_up.weight"
    assert clip_tensor_name("encoder.layers.23.mlp.fc2.weight", 23) is None
    assert clip_tensor_name("post_layernorm.weight", 23) is None
    assert clip_tensor_name("embeddings.position_ids", 23) is None
    with pytest.raises(ConfigError, match=r"no name in llama\.cpp's CLIP"):
        clip_tensor_name("encoder.layers.0.self_attn.rel_pos", 23)


# ----------------------------------------------------------------------------- errors
def _with_projector(load_model: Any, projector_type: str) -> Any:
    from mvlm import MobileVLM, MobileVLMConfig

    config = MobileVLMConfig.from_dict({**load_model("v2").config.to_dict(), "mm_projector_type": projector_type})
    return MobileVLM(config).eval()


@pytest.mark.parametrize("projector_type", ["linear", "mlp3x_gelu"])
def test_unsupported_projector_is_named_before_anything_is_written(
    load_model: Any, tmp_path: Path, projector_type: str
) -> None:
    model = _with_projector(load_model, projector_type)
    with pytest.raises(ConfigError, match=rf"llama\.cpp cannot run projector '{projector_type}'"):
        export_gguf(model, tmp_path / "out", quant="f16", tokenizer_model=tmp_path / "unused")
    assert not (tmp_path / "out").exists()


def test_unknown_quant(load_model: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quant must be one of"):
        export_gguf(load_model("v2"), tmp_path, quant="q3_xyz")


def test_missing_gguf_package_says_what_to_install(
    load_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "mvlm\[export\]"'):
        export_gguf(load_model("v2"), tmp_path, quant="f16")


def test_missing_tokenizer_model(load_model: Any, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="tokenizer model"):
        write_language_model_gguf(load_model("v2"), tmp_path / "x.gguf", tokenizer_model=tmp_path / "none.model")
    assert not list(tmp_path.iterdir())


def test_vocabulary_is_padded_to_the_model(checkpoints: dict[str, Path]) -> None:
    path = checkpoints["v2"] / "tokenizer.model"
    vocab = read_sentencepiece_vocab(path, vocab_size=403)
    assert vocab.tokens[-3:] == ["[PAD400]", "[PAD401]", "[PAD402]"] and vocab.token_types[-1] == 5
    with pytest.raises(ConfigError, match="does not belong"):
        read_sentencepiece_vocab(path, vocab_size=10)


# ----------------------------------------------------------------------------- export_gguf and the command
def test_export_gguf_writes_the_two_files(load_model: Any, tmp_path: Path) -> None:
    files = export_gguf(load_model("v1"), tmp_path, quant="q8_0")
    assert files.language_model == tmp_path / "ggml-model-q8_0.gguf"
    assert files.mmproj == tmp_path / "mmproj-model-f16.gguf"
    assert files.projector_type == "ldp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ggml-model-q8_0.gguf", "mmproj-model-f16.gguf"]


def test_export_command(checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mvlm.export.cli import add_export_commands

    parser = argparse.ArgumentParser(prog="mvlm")
    add_export_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["export", "gguf", "--model", str(checkpoints["v2"]), "--output", str(tmp_path), "--quant", "bf16"]
    )
    assert args.handler(args) == 0
    assert (tmp_path / "ggml-model-bf16.gguf").is_file() and (tmp_path / "mmproj-model-f16.gguf").is_file()
    assert "mmproj (CLIP + ldpv2 projector)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "gguf", "--model", "x", "--output", "y", "--quant", "q9"])
