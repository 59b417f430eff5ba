"""Check that an exported language model answers as the PyTorch model does: ``mvlm verify``.

For each prompt (and its images) both run the same input: the prompt is rendered, tokenized and
expanded as :func:`mvlm.inference.chat` does, the images are encoded by the PyTorch tower and
projector, and llama.cpp gets the text runs as ids and the images as embeddings (as
:class:`~mvlm.inference.llamacpp_backend.LlamaCppBackend` feeds them). PyTorch answers greedily;
then both score that same answer token by token (teacher forcing), so the comparison never drifts:

* **token agreement**: the share of answer steps where llama.cpp's most likely token is PyTorch's;
* **first divergence**: the first step where they differ, with PyTorch's top-2 margin there (the
  gap between its two most likely tokens, over the spread of its logits: a small margin is a near
  tie that any rounding may flip; a large one is a real difference);
* **relative logit error**: ``||llama.cpp - PyTorch|| / ||PyTorch||`` over all answer steps.

:func:`verify_language_model` returns a :class:`VerifyReport`; ``passed`` compares it with the
thresholds (by default :data:`DEFAULT_THRESHOLDS` for the file's type).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError

__all__ = [
    "DEFAULT_PROMPTS",
    "DEFAULT_THRESHOLDS",
    "Divergence",
    "PromptCheck",
    "VerifyReport",
    "add_verify_options",
    "drawn_picture",
    "quant_of",
    "verify_after_export",
    "verify_files",
    "verify_language_model",
]

DEFAULT_PROMPTS: tuple[str, ...] = (
    "What is in the image?",
    "Describe the picture in detail.",
    "What colors do you see? Answer the question using a single word or phrase.",
)
"""Questions asked when none are given (each about every given image, or about none)."""

DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "f32": (1e-3, 0.99),
    "f16": (2e-2, 0.95),
    "bf16": (4e-2, 0.9),
    "q8_0": (0.1, 0.85),
}
"""``quant -> (largest relative logit error, smallest token agreement)`` that pass; other (4- to 6-bit)
types: ``(0.35, 0.6)``. Measured on published-shape models these leave room for rounding, not for
a wrong export (a swapped or mis-permuted tensor gives errors near 1 and agreement near 0)."""

_LOW_BIT = (0.35, 0.6)


def quant_of(path: str | Path) -> str:
    """The GGUF type named in a file name such as ``ggml-model-q4_k_s.gguf`` (``"unknown"`` otherwise)."""
    stem = Path(path).name.lower().removesuffix(".gguf")
    return stem.rsplit("-", 1)[-1] if "-" in stem else "unknown"


@dataclass(frozen=True)
class Divergence:
    """Where greedy decoding first differs.

    Attributes:
        step: The answer step (0 = the first new token).
        pytorch_token: PyTorch's most likely token there.
        export_token: The export's most likely token there.
        margin: PyTorch's top-1 minus top-2 logit, over the spread (max - min) of its logits there.
    """

    step: int
    pytorch_token: int
    export_token: int
    margin: float


@dataclass(frozen=True)
class PromptCheck:
    """One prompt's comparison.

    Attributes:
        prompt: The user message.
        images: How many images came with it.
        steps: Answer tokens compared.
        agreement: Share of steps where the most likely tokens are equal.
        relative_logit_error: Over all compared steps.
        divergence: The first step where they differ (``None``: none).
    """

    prompt: str
    images: int
    steps: int
    agreement: float
    relative_logit_error: float
    divergence: Divergence | None


@dataclass(frozen=True)
class VerifyReport:
    """The comparison of one exported language model with the PyTorch model.

    Attributes:
        path: The GGUF file.
        quant: Its type (from the file name).
        checks: One per prompt.
        max_relative_logit_error: The threshold the worst prompt's error must stay under.
        min_agreement: The threshold every prompt's agreement must reach.
    """

    path: Path
    quant: str
    checks: list[PromptCheck] = field(default_factory=list)
    max_relative_logit_error: float = _LOW_BIT[0]
    min_agreement: float = _LOW_BIT[1]

    @property
    def worst_error(self) -> float:
        """The largest relative logit error over the prompts."""
        return max((check.relative_logit_error for check in self.checks), default=0.0)

    @property
    def worst_agreement(self) -> float:
        """The smallest token agreement over the prompts."""
        return min((check.agreement for check in self.checks), default=1.0)

    @property
    def passed(self) -> bool:
        """Whether every prompt stayed within the thresholds."""
        return self.worst_error <= self.max_relative_logit_error and self.worst_agreement >= self.min_agreement

    def describe(self) -> str:
        """A few lines for a terminal: one per prompt, then the verdict."""
        lines = [f"{self.path.name} ({self.quant}) against PyTorch:"]
        for check in self.checks:
            where = "no divergence"
            if check.divergence is not None:
                d = check.divergence
                where = (
                    f"first divergence at step {d.step} (PyTorch {d.pytorch_token}, export {d.export_token}, "
                    f"top-2 margin {d.margin:.4f})"
                )
            lines.append(
                f"  {check.prompt!r} ({check.images} image(s), {check.steps} steps): agreement "
                f"{check.agreement:.3f}, relative logit error {check.relative_logit_error:.4f}, {where}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: worst relative logit error {self.worst_error:.4f} (limit {self.max_relative_logit_error}), "
            f"worst agreement {self.worst_agreement:.3f} (limit {self.min_agreement})"
        )
        return "\n".join(lines)


def _compare(reference: Any, exported: Any, prompt: str, images: int) -> PromptCheck:
    import torch

    steps = reference.shape[0]
    relative = float((exported - reference).norm() / reference.norm().clamp_min(1e-12))
    top_reference, top_exported = reference.argmax(-1), exported.argmax(-1)
    same = top_reference == top_exported
    divergence = None
    if not bool(same.all()):
        step = int(torch.nonzero(~same)[0, 0])
        row = reference[step]
        top2 = torch.topk(row, 2).values
        spread = float(row.max() - row.min()) or 1.0
        divergence = Divergence(
            step, int(top_reference[step]), int(top_exported[step]), float(top2[0] - top2[1]) / spread
        )
    return PromptCheck(prompt, images, steps, float(same.float().mean()), relative, divergence)


def verify_language_model(
    model: Any,
    gguf_path: str | Path,
    *,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    images: Any = None,
    steps: int = 32,
    conv_mode: str = "v1",
    threads: int | None = None,
    max_relative_logit_error: float | None = None,
    min_agreement: float | None = None,
) -> VerifyReport:
    """Compare a language-model GGUF (as ``mvlm export gguf`` writes) with ``model`` on the same prompts.

    Args:
        model: The PyTorch :class:`~mvlm.MobileVLM` the file was exported from (its tokenizer is used).
        gguf_path: The language-model GGUF (``ggml-model-<quant>.gguf``).
        prompts: User messages, each asked with ``images``.
        images: ``None``, one image or a list of images (paths, ``PIL.Image`` s...) for every prompt.
        steps: Answer tokens PyTorch generates and both score (fewer if it ends first).
        conv_mode: The conversation template.
        threads: llama.cpp's CPU threads.
        max_relative_logit_error: Pass threshold (default: :data:`DEFAULT_THRESHOLDS` for the type).
        min_agreement: Pass threshold (default: :data:`DEFAULT_THRESHOLDS` for the type).

    Raises:
        ConfigError: No prompt, or ``steps`` below 1.
        MissingDependencyError: llama-cpp-python is not installed.
        PromptError: A prompt does not fit the model.
    """
    import torch

    from mvlm.inference.inputs import make_requests, prepare_batch
    from mvlm.inference.llamacpp_backend import LlamaCppBackend

    if not prompts:
        raise ConfigError("verify needs at least one prompt")
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}")
    path = Path(gguf_path)
    quant = quant_of(path)
    default_error, default_agreement = DEFAULT_THRESHOLDS.get(quant, _LOW_BIT)
    report = VerifyReport(
        path,
        quant,
        max_relative_logit_error=default_error if max_relative_logit_error is None else max_relative_logit_error,
        min_agreement=default_agreement if min_agreement is None else min_agreement,
    )
    backend = LlamaCppBackend(model, gguf_path=path, threads=threads)
    tokenizer = model.tokenizer
    eos = tokenizer.eos_token_id
    for prompt in prompts:
        request = make_requests(images, prompt)[0][0]
        batch = prepare_batch(model, [request], tokenizer=tokenizer, conv_mode=conv_mode)
        room = max(1, min(steps, model.config.context_length - batch.length))
        with torch.no_grad():
            answer = model.generate(
                inputs_embeds=batch.inputs_embeds,
                attention_mask=batch.attention_mask,
                max_new_tokens=room,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=eos,
            )[0].tolist()
            embedded = model.get_input_embeddings()(torch.tensor([answer], device=batch.inputs_embeds.device))
            full = torch.cat([batch.inputs_embeds, embedded.to(batch.inputs_embeds.dtype)], dim=1)
            reference = model(inputs_embeds=full).logits[0, batch.length - 1 : -1].float().cpu()
        rows = []
        logits, _ = backend._feed_prompt(request, tokenizer, conv_mode, {})
        for token_id in answer:
            rows.append(torch.from_numpy(logits).float())
            logits = backend.language_model.feed_tokens([token_id])
        report.checks.append(_compare(reference, torch.stack(rows), prompt, len(request.images)))
    return report


# ----------------------------------------------------------------------------------- command line
def add_verify_options(parser: Any) -> None:
    """The options of ``mvlm verify`` (and of ``mvlm export gguf --verify``): prompts, images, limits."""
    parser.add_argument(
        "--verify-prompt",
        dest="verify_prompts",
        action="append",
        metavar="TEXT",
        help="a question to compare on; repeat for several (default: three generic questions)",
    )
    parser.add_argument(
        "--verify-image",
        dest="verify_images",
        action="append",
        metavar="IMG",
        help="an image that goes with every question; repeat for several (default: a drawn picture of two shapes)",
    )
    parser.add_argument("--steps", type=int, default=32, help="answer tokens compared per question (default: 32)")
    parser.add_argument(
        "--max-logit-error",
        type=float,
        default=None,
        help="fail above this relative logit error (default by type: f32 0.001, f16 0.02, bf16 0.04, q8_0 0.1, "
        "4-6 bit 0.35)",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="fail below this token agreement (default by type: f32 0.99, f16 0.95, bf16 0.9, q8_0 0.85, 4-6 bit 0.6)",
    )


def drawn_picture() -> Any:
    """The image compared on when none is given: a red circle and a blue square on white (336x240)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (336, 240), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 50, 150, 170), fill=(220, 30, 30))
    draw.rectangle((190, 60, 300, 170), fill=(30, 60, 220))
    return image


def verify_files(args: Any, model: Any, paths: Sequence[str | Path]) -> int:
    """Verify each language-model GGUF in ``paths`` against ``model`` with the parsed options; print the reports.

    Returns:
        0 when every file passed, 1 otherwise.
    """
    images = args.verify_images if args.verify_images else [drawn_picture()]
    status = 0
    for path in paths:
        report = verify_language_model(
            model,
            path,
            prompts=args.verify_prompts or DEFAULT_PROMPTS,
            images=images,
            steps=args.steps,
            threads=getattr(args, "threads", None),
            max_relative_logit_error=args.max_logit_error,
            min_agreement=args.min_agreement,
        )
        print(report.describe())
        status = status or (0 if report.passed else 1)
    return status


def verify_after_export(args: Any, model: Any, files: Any) -> int:
    """``mvlm export gguf --verify``: compare the language model just written with the model it came from.

    The reference is the model in float32 (the checkpoint's stored dtype, often bf16, would make the
    reference itself rounded).
    """
    import torch

    return verify_files(args, model.to(torch.float32), [files.language_model])
