"""How the runner asks: the benchmark's exact prompt, greedy with the reference's caps, batches that change nothing,
ScienceQA's unpadded images, images read without EXIF rotation, a progress bar, the model left as it was."""

from __future__ import annotations

import pytest
from PIL import Image
from runner_testdata import build_pope, records_without_ids

import mvlm.inference
import mvlm.inference.inputs
from mvlm.errors import ConfigError
from mvlm.eval.asking import batch_questions, image_padding, reference_image
from mvlm.eval.benchmarks import ImageRef, Question, get_benchmark
from mvlm.eval.runner import run_benchmark
from mvlm.inference import ChatRequest, render_prompt

NEW = 8  # a small cap: enough for answers to differ, cheap on the tiny model


@pytest.mark.parametrize("name", ["gqa", "sqa", "textvqa", "pope", "mme", "mmbench"])
def test_the_message_sent_through_chat_is_the_benchmarks_prompt(bench_root, name):
    bench = get_benchmark(name)
    for question in bench.load(bench_root):
        images = () if question.image is None else (question.image,)
        assert render_prompt(ChatRequest(question.user_message, images), bench.template) == bench.prompt(question)


def test_greedy_with_the_reference_caps_and_the_user_message(model, bench_root, tmp_path, monkeypatch):
    calls = []
    real_chat = mvlm.inference.chat

    def spy(model, images, prompts, **options):
        calls.append((images, list(prompts), options))
        return real_chat(model, images, prompts, **options)

    monkeypatch.setattr(mvlm.inference, "chat", spy)
    bench = get_benchmark("sqa")
    run_benchmark(model, bench, bench_root, tmp_path, batch_size=2, progress=False)
    asked = [q for q in bench.load(bench_root)]
    assert [p for _, prompts, _ in calls for p in prompts] == [q.user_message for q in asked]
    for images, prompts, options in calls:
        assert options["temperature"] == 0.0 and options["num_beams"] == 1
        assert options["max_new_tokens"] == 1024 and options["conv_mode"] == "v1"
        assert len(images) == len(prompts)
    assert [img is None for images, _, _ in calls for img in images] == [q.image is None for q in asked]
    calls.clear()
    run_benchmark(model, "pope", bench_root, tmp_path, batch_size=4, max_new_tokens=5, progress=False)
    assert [options["max_new_tokens"] for _, _, options in calls] == [5, 5]


def test_batches_share_their_cap_and_keep_the_order():
    def q(key, cap):
        return Question("b", key, key, "t", "t", None, cap)

    questions = [q("a", 128), q("b", 128), q("c", 128), q("d", 1024), q("e", 128)]
    assert [[x.key for x in b] for b in batch_questions(questions, 2)] == [["a", "b"], ["c"], ["d"], ["e"]]
    assert [[x.key for x in b] for b in batch_questions(questions, 8, max_new_tokens=4)] == [["a", "b", "c", "d", "e"]]
    assert batch_questions([], 3) == []


@pytest.mark.parametrize("name", ["sqa", "mme", "mmbench", "textvqa"])
def test_batched_answers_equal_one_at_a_time(model, bench_root, tmp_path, name):
    """Left-padded batches (text-only and image questions mixed, for ScienceQA) answer as batch_size=1 does."""
    one = run_benchmark(model, name, bench_root, tmp_path / "one", batch_size=1, max_new_tokens=NEW, progress=False)
    many = run_benchmark(model, name, bench_root, tmp_path / "many", batch_size=3, max_new_tokens=NEW, progress=False)
    assert records_without_ids(many.answers_file) == records_without_ids(one.answers_file)
    assert many.report["metrics"] == one.report["metrics"]


def test_answers_depend_on_the_question(model, bench_root, tmp_path):
    result = run_benchmark(model, "pope", bench_root, tmp_path, max_new_tokens=NEW, progress=False)
    texts = [r["text"] for r in records_without_ids(result.answers_file)]
    assert len(set(texts)) > 1


def test_sqa_images_are_not_padded_and_the_config_is_restored(model, bench_root, tmp_path, monkeypatch):
    seen = []
    real = mvlm.inference.inputs.encode_images

    def spy(model, requests, cache=None):
        if any(request.images for request in requests):
            seen.append(model.image_processor.pad_to_square)
        return real(model, requests, cache)

    monkeypatch.setattr(mvlm.inference.inputs, "encode_images", spy)
    assert model.config.image_aspect_ratio == "pad"
    run_benchmark(model, "sqa", bench_root, tmp_path, max_new_tokens=2, progress=False)
    assert seen and not any(seen)  # ScienceQA: the reference's CLIP processor, no padding
    assert model.config.image_aspect_ratio == "pad"
    seen.clear()
    run_benchmark(model, "pope", bench_root, tmp_path, max_new_tokens=2, progress=False)
    assert seen and all(seen)  # the others follow the model (pad, as every released model)


def test_image_padding_restores_on_error(model):
    with pytest.raises(RuntimeError), image_padding(model, False):
        assert model.config.image_aspect_ratio == "square"
        raise RuntimeError("stop")
    assert model.config.image_aspect_ratio == "pad"
    with image_padding(model, None):
        assert model.config.image_aspect_ratio == "pad"


def test_images_are_read_without_exif_rotation(tmp_path, model):
    """The reference opens images with Image.open(...).convert('RGB'), which ignores the EXIF orientation."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.new("RGB", (40, 20), (200, 10, 10)).save(path, exif=exif)
    opened = reference_image(ImageRef(path=path))
    assert opened.size == (40, 20) and opened.mode == "RGB"
    processor = model.image_processor
    assert processor(path).shape == processor(opened).shape
    assert not processor(opened).equal(processor(path))  # the processor alone would rotate the file
    assert processor(opened).equal(type(processor).for_tower(model.vision_tower, apply_exif_orientation=False)(path))


def test_the_model_is_used_in_eval_mode_and_left_as_found(model, bench_root, tmp_path, monkeypatch):
    modes = []
    real_chat = mvlm.inference.chat

    def spy(model, images, prompts, **options):
        modes.append(model.training)
        return real_chat(model, images, prompts, **options)

    monkeypatch.setattr(mvlm.inference, "chat", spy)
    model.train()
    try:
        run_benchmark(model, "textvqa", bench_root, tmp_path, max_new_tokens=2, progress=False)
        assert modes == [False] and model.training
    finally:
        model.eval()


def test_progress_bar_with_rate_and_eta(model, bench_root, tmp_path, capsys):
    run_benchmark(model, "pope", bench_root, tmp_path, batch_size=2, max_new_tokens=2)
    err = capsys.readouterr().err
    assert "pope: 100%" in err and "6/6" in err and "q/s" in err and "<" in err  # elapsed<remaining


def test_a_plugin_whose_prompt_differs_is_refused(model, bench_root, tmp_path):
    class Shouting(type(get_benchmark("pope"))):  # changes prompt() but not what the runner sends
        name = "pope"

        def prompt(self, question, template=None):
            return super().prompt(question, template).upper()

    with pytest.raises(ConfigError, match="must not change prompt"):
        run_benchmark(model, Shouting(), bench_root, tmp_path, progress=False)
    assert not (tmp_path / "pope" / "answers.jsonl").exists()  # refused before anything is generated


def test_a_question_that_cannot_be_asked_is_reported(model, tmp_path):
    """A prompt too long for the context: reported as not_asked with its line; the rest of the batch is answered."""
    root = tmp_path / "pope"
    build_pope(root)
    lines = (root / "llava_pope_test.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace("Is there a cat", "Is there a " + "very " * 600 + "cat")
    (root / "llava_pope_test.jsonl").write_text("\n".join(lines) + "\n")
    result = run_benchmark(model, "pope", root, tmp_path / "out", batch_size=4, max_new_tokens=2, progress=False)
    assert result.answered == 5
    not_asked = [p for p in result.report["problems"] if p["kind"] == "not_asked"]
    assert [(p["line"], p["key"]) for p in not_asked] == [(2, "2")]
    assert "context" in not_asked[0]["message"]
    assert result.report["counts"]["not_asked"] == 1


def test_bad_options_are_refused(model, bench_root, tmp_path):
    for options in ({"batch_size": 0}, {"limit": -1}, {"max_new_tokens": 0}, {"num_chunks": 2, "chunk_idx": 2}):
        with pytest.raises(ConfigError):
            run_benchmark(model, "pope", bench_root, tmp_path, progress=False, **options)


def test_ascii_records(model, bench_root, tmp_path):
    """Records are written as json.dumps writes them (ASCII, escapes), so a byte cut never splits a character."""
    result = run_benchmark(model, "pope", bench_root, tmp_path, max_new_tokens=NEW, progress=False)
    result.answers_file.read_bytes().decode("ascii")
