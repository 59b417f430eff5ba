"""Pre-training end to end on a tiny Llama: checkpoints, exact resumption, logging, loading elsewhere, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from lm_corpus import TINY_LLAMA, tiny_pretrain_config
from transformers import TrainerCallback

from mvlm.errors import CheckpointError, ConfigError
from mvlm.train_lm import LMTrainer, PretrainConfig, StreamCheckpointCallback, pretrain
from mvlm.train_lm import trainer as trainer_module
from mvlm.train_lm.pretraining import resolve_model_config


class StopAt(TrainerCallback):
    """Interrupt a run after step ``step`` (saving a checkpoint there), as a crash after a save would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            control.should_save = True
            control.should_training_stop = True


class Logs(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        self.logs.append(dict(logs or {}))


@pytest.fixture
def consumed(monkeypatch: pytest.MonkeyPatch) -> list[list[list[int]]]:
    """Every batch of token ids the trainer trains on, in order."""
    seen: list[list[list[int]]] = []
    original = trainer_module.LMTrainer.training_step

    def recording(self: Any, model: Any, inputs: dict[str, Any], num_items: Any = None) -> Any:
        seen.append(inputs["input_ids"].tolist())
        return original(self, model, inputs, num_items)

    monkeypatch.setattr(trainer_module.LMTrainer, "training_step", recording)
    return seen


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_resume_continues_the_data_stream_exactly(
    tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path, consumed: list[Any]
) -> None:
    def config(output: Path) -> PretrainConfig:
        return tiny_pretrain_config(output, lm_tokenizer_dir, [str(corpus_file)], max_steps=7, save_steps=3)

    pretrain(config(tmp_path / "straight"))
    straight = list(consumed)
    consumed.clear()

    first = pretrain(config(tmp_path / "interrupted"), callbacks=[StopAt(5)])
    assert first.global_step == 5 and first.resumed_from is None
    before = list(consumed)
    consumed.clear()
    assert json.loads((tmp_path / "interrupted/checkpoint-5/stream_state_0.json").read_text())["global_step"] == 5

    second = pretrain(config(tmp_path / "interrupted"))
    assert second.resumed_from == str(tmp_path / "interrupted/checkpoint-5")
    assert second.global_step == 7
    after = list(consumed)

    assert len(straight) == 7 * 2  # gradient accumulation 2: two batches per step
    assert before + after == straight
    resumed, uninterrupted = weights(tmp_path / "interrupted"), weights(tmp_path / "straight")
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in uninterrupted)


def test_a_checkpoint_without_a_stream_position_is_refused(
    tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path
) -> None:
    config = tiny_pretrain_config(tmp_path / "run", lm_tokenizer_dir, [str(corpus_file)], max_steps=3, save_steps=3)
    pretrain(config)
    (tmp_path / "run/checkpoint-3/stream_state_0.json").unlink()
    with pytest.raises(CheckpointError, match=r"no data-stream position for rank 0 \(stream_state_0\.json\)"):
        pretrain(tiny_pretrain_config(tmp_path / "run", lm_tokenizer_dir, [str(corpus_file)], max_steps=4))


def test_the_trainer_and_the_stream_must_resume_from_one_step(lm_tokenizer: Any, corpus_file: Path) -> None:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from mvlm.train_lm import FileDocumentSource, PackedTokenStream, StreamProgress

    progress = StreamProgress(PackedTokenStream(FileDocumentSource([corpus_file]), lm_tokenizer, 16), 0)
    callback = StreamCheckpointCallback(progress)
    state = TrainerState()
    state.global_step = 4
    with pytest.raises(CheckpointError, match="resumed at step 4 but the data stream is at step 0"):
        callback.on_train_begin(TrainingArguments(output_dir="unused", report_to=[]), state, TrainerControl())


def test_outputs_load_in_transformers_and_as_a_mobilevlm_language_model(
    pretrained_dir: Path, lm_tokenizer_dir: Path, tmp_path: Path
) -> None:
    from transformers import CLIPVisionConfig, LlamaForCausalLM

    from helpers.checkpoints import TINY_CLIP
    from mvlm.language import load_tokenizer
    from mvlm.model.assembly import assemble_mobilevlm

    names = {p.name for p in pretrained_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.model",
        "tokenizer_config.json",
        "pretrain_config.json",
    } <= names
    assert {"checkpoint-3", "checkpoint-6"} <= names
    assert (pretrained_dir / "checkpoint-6" / "stream_state_0.json").is_file()
    config = json.loads((pretrained_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["use_cache"] is True
    assert config["hidden_size"] == TINY_LLAMA["hidden_size"]

    model = LlamaForCausalLM.from_pretrained(pretrained_dir).eval()
    tokenizer = load_tokenizer(pretrained_dir)
    reference = load_tokenizer(lm_tokenizer_dir)
    text = "the black cat sleeps on the sofa."
    assert tokenizer(text).input_ids == reference(text).input_ids
    ids = torch.tensor([tokenizer(text).input_ids])
    with torch.no_grad():
        logits = model(ids).logits
    assert torch.isfinite(logits).all()

    tower = tmp_path / "tower"
    CLIPVisionConfig(**TINY_CLIP).save_pretrained(tower)
    vlm = assemble_mobilevlm(
        "MobileVLM_V2-1.7B",
        language_model=pretrained_dir,
        mm_vision_tower=str(tower),
        mm_hidden_size=TINY_CLIP["hidden_size"],
    ).eval()
    state = vlm.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    assert vlm.tokenizer(text).input_ids == tokenizer(text).input_ids


def test_logs_tokens_per_second_loss_and_held_out_perplexity(
    tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path
) -> None:
    logs = Logs()
    result = pretrain(
        tiny_pretrain_config(
            tmp_path / "run", lm_tokenizer_dir, [str(corpus_file)], max_steps=4, eval_steps=2, holdout_documents=8
        ),
        callbacks=[logs],
    )
    train_logs = [entry for entry in logs.logs if "loss" in entry]
    eval_logs = [entry for entry in logs.logs if "eval_loss" in entry]
    assert len(train_logs) == 2 and all(entry["tokens_per_second"] > 0 for entry in train_logs)
    assert train_logs[-1]["num_input_tokens_seen"] == 4 * 2 * 2 * 48
    assert len(eval_logs) == 3  # steps 2 and 4, and the final evaluation
    assert all(math.isclose(e["eval_perplexity"], math.exp(e["eval_loss"])) for e in eval_logs)
    assert result.eval_perplexity == pytest.approx(math.exp(result.eval_loss))
    assert result.tokens_trained == 4 * 2 * 2 * 48


def test_continue_from_a_checkpoint_with_gradient_checkpointing(
    tmp_path: Path, pretrained_dir: Path, lm_tokenizer_dir: Path, corpus_file: Path
) -> None:
    config = tiny_pretrain_config(
        tmp_path / "more",
        pretrained_dir,
        [str(corpus_file)],
        model=None,
        init_from=str(pretrained_dir),
        model_overrides={},
        max_steps=1,
        gradient_checkpointing=True,
    )
    result = pretrain(config)
    assert result.global_step == 1 and result.parameters == sum(t.numel() for t in weights(pretrained_dir).values())


def test_max_tokens_sets_the_steps(tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path) -> None:
    config = tiny_pretrain_config(tmp_path, lm_tokenizer_dir, [str(corpus_file)], max_steps=-1, max_tokens=1000)
    assert config.tokens_per_step(1) == 48 * 2 * 2
    assert config.steps(1) == 6 and config.steps(2) == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"init_from": "somewhere"}, "model .* or init_from"),
        ({"hf_dataset": "c4"}, "data .* or hf_dataset"),
        ({"max_steps": -1}, "max_steps or max_tokens"),
        ({"holdout_documents": 3, "eval_data": ["x.jsonl"]}, "not both"),
    ],
)
def test_inconsistent_configs(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "tokenizer": "t",
        "model": "mobilellama-1.4b",
        "data": ["c.jsonl"],
        "max_steps": 5,
    }
    with pytest.raises(ConfigError, match=message):
        PretrainConfig(**{**options, **changes})


def test_model_configs(tmp_path: Path) -> None:
    preset = resolve_model_config("mobilellama-2.7b")
    assert (preset.hidden_size, preset.num_hidden_layers, preset.model_type) == (2560, 32, "llama")
    assert resolve_model_config("MobileLLaMA-1.4B", {"num_hidden_layers": 2}).num_hidden_layers == 2
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", **TINY_LLAMA, "vocab_size": 99}))
    assert resolve_model_config(str(path)).vocab_size == 99
    assert resolve_model_config(str(tmp_path)).hidden_size == TINY_LLAMA["hidden_size"]
    with pytest.raises(ConfigError, match="not a field"):
        resolve_model_config("mobilellama-1.4b", {"num_layers": 2})
    with pytest.raises(ConfigError, match="neither a language-model preset"):
        resolve_model_config("mobilellama-9b")


def test_a_vocabulary_smaller_than_the_tokenizer_is_refused(
    tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path
) -> None:
    config = tiny_pretrain_config(
        tmp_path, lm_tokenizer_dir, [str(corpus_file)], model_overrides={**TINY_LLAMA, "vocab_size": 100}
    )
    with pytest.raises(ConfigError, match="vocab_size is 100"):
        pretrain(config)


def test_the_trainer_must_not_skip_batches_of_a_stream(lm_tokenizer: Any, corpus_file: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments

    from mvlm.train_lm import FileDocumentSource, PackedTokenStream, StreamProgress

    data = PackedTokenStream(FileDocumentSource([corpus_file]), lm_tokenizer, 16)
    model = LlamaForCausalLM(LlamaConfig(**TINY_LLAMA, vocab_size=400))
    arguments = TrainingArguments(output_dir="unused", report_to=[], max_steps=1)
    with pytest.raises(ConfigError, match="ignore_data_skip=True"):
        LMTrainer(model=model, args=arguments, train_dataset=data, stream_progress=StreamProgress(data, 0))
