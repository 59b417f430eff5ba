"""Language models: MobileLLaMA presets (LLaMA architecture) and tokenizer loading.

The language model of a MobileVLM is any transformers causal LM; MobileLLaMA-1.4B / 2.7B are
LLaMA configs, not a fork of LLaMA.
"""

from mvlm.language.decoding import SentencePieceDecoder, text_decoder
from mvlm.language.mobilellama import (
    LANGUAGE_MODEL_PRESETS,
    MobileLLaMAConfig,
    create_language_model,
    get_language_model_preset,
    list_language_model_presets,
    register_language_model_preset,
)
from mvlm.language.tokenizer import load_tokenizer
from mvlm.language.tokenizer_training import train_llama_tokenizer

__all__ = [
    "LANGUAGE_MODEL_PRESETS",
    "MobileLLaMAConfig",
    "SentencePieceDecoder",
    "create_language_model",
    "get_language_model_preset",
    "list_language_model_presets",
    "load_tokenizer",
    "register_language_model_preset",
    "text_decoder",
    "train_llama_tokenizer",
]
