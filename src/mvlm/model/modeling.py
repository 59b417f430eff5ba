"""``MobileVLMForCausalLM`` (alias ``MobileVLM``): vision tower + projector + causal language model.

Module names follow the published checkpoints, so their state-dict keys load unchanged::

    model.embed_tokens / model.layers.* / model.norm      the language model's body (LLaMA for MobileLLaMA)
    model.vision_tower.vision_tower.vision_model.*        the CLIP tower (all layers kept)
    model.mm_projector.*                                  the projector (LDP: model.mlp..., LDPv2: mlp.mlp...)
    lm_head.weight

The data path (``DESIGN.md``): pixels -> tower (features of the selected layer) -> projector ->
``M`` vectors per image, written into the ``M`` placeholder positions of the expanded prompt
(:func:`~mvlm.model.splicing.splice_image_features`) -> language model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from mvlm.errors import CheckpointError, ConfigError, PromptError
from mvlm.model.configuration import MobileVLMConfig
from mvlm.model.parts import build_language_backbone, build_projector, build_vision_tower
from mvlm.model.splicing import splice_image_features
from mvlm.projectors import Projector
from mvlm.vision import VisionTower

__all__ = ["MobileVLM", "MobileVLMForCausalLM", "MobileVLMPreTrainedModel"]


class MobileVLMPreTrainedModel(PreTrainedModel):
    """transformers plumbing shared by MobileVLM models (config class, weight init, capabilities)."""

    config_class = MobileVLMConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar[list[str]] = ["LlamaDecoderLayer", "CLIPEncoderLayer", "SiglipEncoderLayer"]
    _skip_keys_device_placement: ClassVar[list[str]] = ["past_key_values", "cache"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [r"\.position_ids$", r"rotary_emb\.inv_freq$"]


class MobileVLMForCausalLM(MobileVLMPreTrainedModel, GenerationMixin):
    """A MobileVLM: vision tower, projector and causal language model, in the published layout.

    Build one from a config (``MobileVLMForCausalLM(MobileVLMConfig.from_preset("MobileVLM_V2-1.7B"))``,
    random weights, no download) or load a checkpoint with :meth:`from_pretrained`.

    Args:
        config: The model's configuration.

    Raises:
        ConfigError: The tower's width differs from ``mm_hidden_size``, or the projector cannot
            take the tower's tokens.
    """

    # Applied only when config.tie_word_embeddings is true (never in the published checkpoints).
    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: MobileVLMConfig) -> None:
        super().__init__(config)
        self.model = build_language_backbone(config)
        tower = build_vision_tower(config)
        projector = build_projector(config)
        if tower.hidden_size != projector.in_dim:
            raise ConfigError(
                f"the vision tower gives {tower.hidden_size}-wide features but mm_hidden_size is {projector.in_dim}; "
                "set mm_hidden_size to the tower's hidden size"
            )
        if projector.out_dim != config.hidden_size:
            raise ConfigError(
                f"the projector's out_dim {projector.out_dim} differs from hidden_size {config.hidden_size}"
            )
        self.num_image_tokens = projector.num_output_tokens(tower.num_tokens)
        # Attached to the language body so the keys read model.vision_tower.* / model.mm_projector.*, as published.
        self.model.vision_tower = tower
        self.model.mm_projector = projector
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    # ----------------------------------------------------------------------------- parts
    @property
    def vision_tower(self) -> VisionTower:
        """The vision tower (``model.vision_tower``)."""
        return self.model.vision_tower

    @property
    def mm_projector(self) -> Projector:
        """The projector (``model.mm_projector``)."""
        return self.model.mm_projector

    def get_input_embeddings(self) -> nn.Module:
        """The language model's token embedding table."""
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        """Replace the language model's token embedding table."""
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        """The language-model head."""
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        """Replace the language-model head."""
        self.lm_head = value

    # ----------------------------------------------------------------------------- the data path
    def encode_images(self, pixel_values: Tensor) -> Tensor:
        """Pixels ``[num_images, 3, S, S]`` -> projected features ``[num_images, M, hidden_size]``.

        The tower runs up to its selected layer (frozen towers under ``no_grad``); the projector
        runs in its own dtype.
        """
        features = self.vision_tower(pixel_values)
        projector_dtype = next((p.dtype for p in self.mm_projector.parameters()), features.dtype)
        return self.mm_projector(features.to(projector_dtype))

    def embed_inputs(
        self,
        input_ids: Tensor,
        pixel_values: Tensor | None = None,
        image_features: Tensor | None = None,
        labels: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Token embeddings of ``input_ids`` with the image features written into the image positions.

        Args:
            input_ids: ``[batch, seq]`` expanded prompt ids; image positions hold ``config.image_token_index``.
            pixel_values: ``[num_images, 3, S, S]``, one per image in placeholder order.
            image_features: Already projected features ``[num_images, M, hidden]`` (instead of pixels).
            labels: Optional ``[batch, seq]`` labels; image positions become ``IGNORE_INDEX``.

        Returns:
            ``(inputs_embeds, labels)``.

        Raises:
            PromptError: Images without image positions, or image positions without images.
            ShapeError: The counts of positions and feature vectors differ.
        """
        image_mask = input_ids == self.config.image_token_index
        embeddings = self.get_input_embeddings()(input_ids.masked_fill(image_mask, 0))
        has_positions = bool(image_mask.any())
        if image_features is None and pixel_values is not None:
            if not has_positions:
                raise PromptError(
                    "pixel_values were given but input_ids hold no image positions; put <image> in the prompt and "
                    "expand it with mvlm.prompting.expand_image_tokens"
                )
            image_features = self.encode_images(pixel_values)
        if not has_positions and image_features is None and self.training and self._image_path_trains():
            # A text-only training batch still runs the tower and projector on one blank image, contributing
            # zero: under DDP, FSDP or ZeRO-3 every rank must use the same parameters in every step, or the
            # gradient reduction fails or hangs (the reference feeds a zero image for the same reason).
            size = self.vision_tower.image_size
            blank = embeddings.new_zeros(1, 3, size, size, dtype=torch.float32)
            embeddings = embeddings + 0.0 * self.encode_images(blank).sum().to(embeddings.dtype)
        if has_positions:
            if image_features is None:
                raise PromptError(
                    f"input_ids hold {int(image_mask.sum())} image positions but no pixel_values (or image_features) "
                    "were given"
                )
            return splice_image_features(embeddings, image_mask, image_features, labels)
        return embeddings, labels

    def _image_path_trains(self) -> bool:
        parameters = (*self.mm_projector.parameters(), *self.vision_tower.parameters())
        return any(p.requires_grad for p in parameters)

    def forward(
        self,
        input_ids: Tensor | None = None,
        pixel_values: Tensor | None = None,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        image_features: Tensor | None = None,
        logits_to_keep: int | Tensor = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """The causal-LM forward pass over text with images spliced in.

        Args:
            input_ids: ``[batch, seq]``, image positions holding ``config.image_token_index``.
            pixel_values: ``[num_images, 3, S, S]`` for the image positions (first step only when
                generating with a cache).
            attention_mask: ``[batch, seq]`` (1 = attend).
            position_ids: Optional positions; default ``0..seq-1`` (image tokens occupy ``M``
                consecutive positions, as in the reference).
            inputs_embeds: Ready embeddings instead of ``input_ids`` (already spliced).
            labels: ``[batch, seq]`` targets; image positions are ignored by the loss.
            image_features: Projected image features instead of ``pixel_values``.
            logits_to_keep: Compute logits only for the last ``n`` positions (0 = all).
            **kwargs: Passed to the language model (``cache`` / ``past_key_values``, ``use_cache``...).

        Returns:
            ``CausalLMOutputWithPast`` with ``loss`` (when ``labels`` are given) and ``logits``.
        """
        if inputs_embeds is None:
            if input_ids is None:
                raise PromptError("MobileVLM.forward needs input_ids or inputs_embeds")
            inputs_embeds, labels = self.embed_inputs(input_ids, pixel_values, image_features, labels)
        elif pixel_values is not None or image_features is not None:
            raise PromptError("pass images with input_ids, not with inputs_embeds (splice them with embed_inputs)")
        outputs = self.model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, **kwargs
        )
        hidden_states = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        extras = {key: value for key, value in outputs.items() if key != "last_hidden_state"}
        return CausalLMOutputWithPast(loss=loss, logits=logits, **extras)

    def prepare_inputs_for_generation(
        self,
        input_ids: Tensor,
        *args: Any,
        cache: Any = None,
        inputs_embeds: Tensor | None = None,
        pixel_values: Tensor | None = None,
        image_features: Tensor | None = None,
        is_first_iteration: bool | None = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``generate``'s per-step inputs: the images go with the prompt, later steps get embeddings.

        The first step (the prefill, or every step without a cache) gets ``pixel_values`` /
        ``image_features`` with the prompt. A later step's ids are generated text, which holds no image
        position, so they are embedded here and passed as ``inputs_embeds``: the step itself (compiled
        under ``fast_decode``) then only runs the language model.
        """
        inputs = super().prepare_inputs_for_generation(
            input_ids, *args, cache=cache, inputs_embeds=inputs_embeds, is_first_iteration=is_first_iteration, **kwargs
        )
        if is_first_iteration or inputs.get("cache") is None:
            inputs["pixel_values"], inputs["image_features"] = pixel_values, image_features
        elif inputs.get("input_ids") is not None:
            inputs["inputs_embeds"] = self.get_input_embeddings()(inputs.pop("input_ids"))
        return inputs

    # ----------------------------------------------------------------------------- checkpoints
    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        *model_args: Any,
        vision_weights: str = "checkpoint",
        **kwargs: Any,
    ) -> Any:
        """Load a MobileVLM from a local folder, a hub id, or the local hub cache (``HF_HUB_OFFLINE=1``).

        Reads the published layouts unchanged: ``config.json`` + single or sharded
        ``pytorch_model*.bin`` (with ``pytorch_model.bin.index.json``) or ``model*.safetensors``.
        Every tensor must land: missing or unexpected tensors (other than non-persistent buffers such
        as ``position_ids``) raise :class:`~mvlm.errors.CheckpointError` listing them.

        Args:
            pretrained_model_name_or_path: ``mtgv/MobileVLM_V2-1.7B``, a folder, ...
            *model_args: Passed to transformers.
            vision_weights: Where the tower's weights come from. ``"checkpoint"`` (default): the
                copy stored in the checkpoint. ``"original"``: re-read from ``mm_vision_tower``
                (e.g. ``openai/clip-vit-large-patch14-336``; may download). ``"reference"``: what
                the reference loader does — ``original`` for v1 (``ldpnet``) checkpoints,
                ``checkpoint`` for V2 (``ldpnetv2``); the two differ by bf16 rounding only.
            **kwargs: transformers' options: ``torch_dtype``/``dtype``, ``device_map``,
                ``low_cpu_mem_usage``, ``revision``, ``cache_dir``, ``local_files_only``...

        Raises:
            CheckpointError: Unreadable, truncated or mismatching weights; no checkpoint there.
            ConfigError: ``config.json`` names an unknown projector / tower or an unsupported option.
        """
        from mvlm.model.loading import (
            check_loading_report,
            check_local_source,
            checkpoint_folder,
            describe_source,
            wrap_loading_error,
        )

        if vision_weights not in ("checkpoint", "original", "reference"):
            raise ConfigError(f"vision_weights must be 'checkpoint', 'original' or 'reference', got {vision_weights!r}")
        source = describe_source(pretrained_model_name_or_path)
        check_local_source(pretrained_model_name_or_path)
        want_report = kwargs.pop("output_loading_info", False)
        # transformers only logs shape mismatches before raising; let it report them, then raise our own error.
        allow_mismatch = kwargs.pop("ignore_mismatched_sizes", False)
        kwargs["ignore_mismatched_sizes"] = True
        try:
            model, report = super().from_pretrained(
                pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
            )
        except Exception as error:
            folder = checkpoint_folder(pretrained_model_name_or_path, **kwargs)
            raise wrap_loading_error(error, source, folder) from error
        check_loading_report(report if not allow_mismatch else {**report, "mismatched_keys": []}, source)
        model._checkpoint_source = str(pretrained_model_name_or_path)
        model._hub_kwargs = {
            k: kwargs[k] for k in ("revision", "cache_dir", "local_files_only", "token") if k in kwargs
        }
        if vision_weights == "original" or (
            vision_weights == "reference" and "v2" not in model.config.mm_projector_type
        ):
            model.load_original_vision_weights()
        return (model, report) if want_report else model

    def load_original_vision_weights(self, name_or_path: str | None = None) -> None:
        """Replace the tower's weights by the original ones (``mm_vision_tower`` by default; may download).

        Raises:
            CheckpointError: The original weights cannot be loaded or do not fit the tower.
        """
        from mvlm.model.loading import check_loading_report

        source = name_or_path or self.config.mm_vision_tower
        original = type(self.vision_tower).from_pretrained(source)  # type: ignore[attr-defined]
        target = self.vision_tower.vision_tower
        own = target.state_dict()
        weights = {
            k: v.to(dtype=own[k].dtype) if k in own else v for k, v in original.vision_tower.state_dict().items()
        }
        report = {
            "missing_keys": [k for k in own if k not in weights],
            "unexpected_keys": [k for k in weights if k not in own],
            "mismatched_keys": [
                (k, v.shape, own[k].shape) for k, v in weights.items() if k in own and v.shape != own[k].shape
            ],
        }
        check_loading_report(report, source)
        target.load_state_dict(weights, strict=True)

    def load_projector(self, path: str | os.PathLike[str]) -> None:
        """Load a stage-I projector file (``mm_projector.bin`` with ``model.mm_projector.*`` keys) strictly."""
        from mvlm.model.loading import load_projector_weights

        load_projector_weights(self.mm_projector, path)

    def save_projector(self, path: str | os.PathLike[str]) -> Path:
        """Write the projector alone as stage I does (``model.mm_projector.*`` keys); returns the path."""
        from mvlm.model.loading import save_projector_weights

        return save_projector_weights(self.mm_projector, path)

    def save_pretrained(self, save_directory: str | os.PathLike[str], *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Save weights (safetensors), ``config.json`` (published field names), ``generation_config.json``
        and the tokenizer files, staging them first so a failure leaves ``save_directory`` as it was.

        Files already in the folder that the save does not produce are kept, except stale shards
        of the same weight family. :meth:`push_to_hub` (transformers' ``PushToHubMixin``) saves
        through this method too; ``push_to_hub=True`` (with ``repo_id``) uploads after saving.
        """
        from mvlm.model.saving import save_into_folder

        push = kwargs.pop("push_to_hub", False)
        hub_options = {
            key: kwargs.pop(key) for key in ("repo_id", "commit_message", "private", "token") if key in kwargs
        }
        tokenizer = self._tokenizer if self._tokenizer is not None else self._try_checkpoint_tokenizer()

        def write(folder: Path) -> None:
            super(MobileVLMForCausalLM, self).save_pretrained(folder, *args, **kwargs)
            if tokenizer is not None:
                tokenizer.save_pretrained(folder)

        save_into_folder(save_directory, write)
        if push:  # the same files, uploaded through transformers' PushToHubMixin
            repo_id = hub_options.pop("repo_id", None) or Path(save_directory).name
            self.push_to_hub(repo_id, max_shard_size=kwargs.get("max_shard_size", "50GB"), **hub_options)

    # ----------------------------------------------------------------------------- tokenizer and images
    _tokenizer: Any = None
    _checkpoint_source: str | None = None
    _hub_kwargs: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance

    @property
    def tokenizer(self) -> Any:
        """The checkpoint's tokenizer (loaded on first use; ``legacy`` SentencePiece behaviour, pad = unk).

        Raises:
            CheckpointError: The model was not loaded from a checkpoint with tokenizer files and no
                tokenizer was set (assign ``model.tokenizer = ...``).
        """
        if self._tokenizer is None:
            if self._checkpoint_source is None:
                raise CheckpointError(
                    "this model has no tokenizer: it was not loaded from a checkpoint; set model.tokenizer = "
                    "mvlm.language.load_tokenizer(path)"
                )
            from mvlm.language import load_tokenizer

            self._tokenizer = load_tokenizer(self._checkpoint_source, **self._hub_kwargs)
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        self._tokenizer = value

    def _try_checkpoint_tokenizer(self) -> Any:
        if self._checkpoint_source is None:
            return None
        return self.tokenizer

    @property
    def image_processor(self) -> Any:
        """The :class:`~mvlm.vision.ImageProcessor` for this model's tower and ``image_aspect_ratio``."""
        from mvlm.vision import ImageProcessor

        return ImageProcessor.for_tower(self.vision_tower, pad_to_square=self.config.image_aspect_ratio == "pad")

    @property
    def processor(self) -> Any:
        """Text and images -> this model's inputs: a :class:`~mvlm.model.processing.MobileVLMProcessor`
        with this model's tokenizer (:attr:`tokenizer`), image preprocessing and token count.

        Example:
            >>> batch = model.processor(images="photo.jpg", text="What is it?")  # doctest: +SKIP
            >>> model.processor.batch_decode(model.generate(**batch, max_new_tokens=16))  # doctest: +SKIP
        """
        from mvlm.model.processing import MobileVLMProcessor

        return MobileVLMProcessor.for_model(self)

    # ----------------------------------------------------------------------------- inference
    def chat(self, images: Any, prompts: Any, **options: Any) -> Any:
        """Answer prompts about images: :func:`~mvlm.inference.generation.chat` with this model.

        Args:
            images: ``None``, an image (path, bytes, ``PIL.Image``, array) or a list (see
                :func:`~mvlm.inference.generation.chat`).
            prompts: One prompt (returns a string) or a list of prompts (a batch; returns a list).
            **options: ``conv_mode``, ``temperature``, ``top_p``, ``num_beams``, ``max_new_tokens``,
                ``stream``, ``history``... (see :func:`~mvlm.inference.generation.chat`).

        Example:
            >>> model.chat("photo.jpg", "Who is the author of this book?")  # doctest: +SKIP
            'Susan Wise Bauer'
        """
        from mvlm.inference import chat

        return chat(self, images, prompts, **options)


MobileVLM = MobileVLMForCausalLM
"""The name users reach for: ``MobileVLM.from_pretrained("mtgv/MobileVLM_V2-1.7B")``."""
