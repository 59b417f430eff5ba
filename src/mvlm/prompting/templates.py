"""The built-in conversation templates, with the reference's exact text (registered on import).

=================  =================  ==========  =====================================================
name (aliases)     roles              style       used for
=================  =================  ==========  =====================================================
``v1``             USER / ASSISTANT   TWO         every MobileVLM fine-tune, inference and evaluation;
(``vicuna_v1``)                                   the MobileLLaMA chat models (FastChat's vicuna v1.1)
``plain``          (none)             PLAIN       stage-1 pre-training: ``<image>caption\\n``
``default``        Human / Assistant  SINGLE      vicuna v0 with two built-in example turns
(``vicuna_v0``)
``llama_2``        USER / ASSISTANT   LLAMA_2     LLaMA-2 chat with its safety system prompt
``llava_llama_2``  USER / ASSISTANT   LLAMA_2     LLaVA's LLaMA-2 vision-assistant prompt
=================  =================  ==========  =====================================================
"""

from __future__ import annotations

from mvlm.prompting.conversation import Conversation, SeparatorStyle, register_conversation

__all__ = ["DEFAULT", "LLAMA_2", "LLAVA_LLAMA_2", "PLAIN", "VICUNA_V1"]

VICUNA_V1 = Conversation(
    system="A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)
"""``v1`` / ``vicuna_v1``: ``"<system> USER: <image>\\n{question} ASSISTANT:"``."""

PLAIN = Conversation(system="", roles=("", ""), sep_style=SeparatorStyle.PLAIN, sep="\n")
"""``plain``: the messages alone, each followed by ``"\\n"``."""

_ENERGY_ANSWER = (
    "Renewable energy sources are those that can be replenished naturally in a relatively "
    "short amount of time, such as solar, wind, hydro, geothermal, and biomass. "
    "Non-renewable energy sources, on the other hand, are finite and will eventually be "
    "depleted, such as coal, oil, and natural gas. Here are some key differences between "
    "renewable and non-renewable energy sources:\n"
    "1. Availability: Renewable energy sources are virtually inexhaustible, while non-renewable "
    "energy sources are finite and will eventually run out.\n"
    "2. Environmental impact: Renewable energy sources have a much lower environmental impact "
    "than non-renewable sources, which can lead to air and water pollution, greenhouse gas emissions, "
    "and other negative effects.\n"
    "3. Cost: Renewable energy sources can be more expensive to initially set up, but they typically "
    "have lower operational costs than non-renewable sources.\n"
    "4. Reliability: Renewable energy sources are often more reliable and can be used in more remote "
    "locations than non-renewable sources.\n"
    "5. Flexibility: Renewable energy sources are often more flexible and can be adapted to different "
    "situations and needs, while non-renewable sources are more rigid and inflexible.\n"
    "6. Sustainability: Renewable energy sources are more sustainable over the long term, while "
    "non-renewable sources are not, and their depletion can lead to economic and social instability.\n"
)

DEFAULT = Conversation(
    system="A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    roles=("Human", "Assistant"),
    messages=[
        ["Human", "What are the key differences between renewable and non-renewable energy sources?"],
        ["Assistant", _ENERGY_ANSWER],
    ],
    offset=2,
    sep_style=SeparatorStyle.SINGLE,
    sep="###",
)
"""``default`` / ``vicuna_v0``: ``###``-separated, with two example turns (``offset=2``)."""

LLAMA_2 = Conversation(
    system="You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, "
    "while being safe.  Your answers should not include any harmful, unethical, racist, sexist, toxic, "
    "dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive "
    "in nature.\n\nIf a question does not make any sense, or is not factually coherent, explain why instead "
    "of answering something not correct. If you don't know the answer to a question, please don't share "
    "false information.",
    roles=("USER", "ASSISTANT"),
    version="llama_v2",
    sep_style=SeparatorStyle.LLAMA_2,
    sep="<s>",
    sep2="</s>",
)
"""``llama_2``: LLaMA-2 chat format with its default safety system prompt."""

LLAVA_LLAMA_2 = Conversation(
    system="You are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language.",
    roles=("USER", "ASSISTANT"),
    version="llama_v2",
    sep_style=SeparatorStyle.LLAMA_2,
    sep="<s>",
    sep2="</s>",
)
"""``llava_llama_2``: LLaMA-2 chat format with LLaVA's vision-assistant system prompt."""

register_conversation("v1", VICUNA_V1, aliases=("vicuna_v1",))
register_conversation("plain", PLAIN)
register_conversation("default", DEFAULT, aliases=("vicuna_v0",))
register_conversation("llama_2", LLAMA_2)
register_conversation("llava_llama_2", LLAVA_LLAMA_2)
