"""Conversation templates: the :class:`Conversation` record, its rendering, and the template registry.

A template is plain data (a system prompt, two role names, separators and a separator style) that
renders a list of messages into the prompt text the language model was trained on. Rendering
reproduces the MobileVLM reference character for character, including its corner cases: a message
that is ``None`` (or empty) renders as ``role + ":"`` (the slot the model answers into), and a first
message given as a tuple ``(text, image, image_process_mode)`` has its ``<image>`` tag moved to the
front as ``"<image>\\n" + text``.

Example:
    >>> from mvlm.prompting import get_conversation
    >>> conv = get_conversation("v1")
    >>> conv.append_message(conv.roles[0], "<image>\\nWhat is this?")
    >>> conv.append_message(conv.roles[1], None)
    >>> conv.get_prompt().split("questions. ")[1]
    'USER: <image>\\nWhat is this? ASSISTANT:'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from mvlm.errors import ConfigError, PromptError
from mvlm.prompting.constants import DEFAULT_IMAGE_TOKEN
from mvlm.prompting.image_tags import check_image_count, count_image_tokens, ensure_image_token
from mvlm.registry import Registry

__all__ = [
    "CONVERSATIONS",
    "Conversation",
    "Message",
    "SeparatorStyle",
    "build_chat_prompt",
    "build_prompt",
    "get_conversation",
    "list_conversations",
    "register_conversation",
]

Message = str | tuple[Any, ...] | None
"""One message: text, ``None`` (an empty slot to be answered), or ``(text, image, image_process_mode)``."""


class SeparatorStyle(Enum):
    """How a template joins the system prompt, the roles and the messages.

    * ``SINGLE``: ``system + sep``, then ``role + ": " + message + sep`` per message (vicuna v0, ``###``).
    * ``TWO``: like ``SINGLE`` but user messages end in ``sep`` and assistant messages in ``sep2``
      (vicuna v1: ``" "`` and ``"</s>"``).
    * ``MPT``: ``role + message + sep`` with no ``": "`` (ChatML-like roles carry their own markup).
    * ``PLAIN``: the messages alone, each followed by its separator (stage-1 pretraining).
    * ``LLAMA_2``: ``[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST] {answer} </s><s>[INST] ...``.
    """

    SINGLE = "single"
    TWO = "two"
    MPT = "mpt"
    PLAIN = "plain"
    LLAMA_2 = "llama_2"

    @classmethod
    def parse(cls, value: SeparatorStyle | str) -> SeparatorStyle:
        """The style named ``value`` (``"TWO"``, ``"two"`` or the member itself).

        Raises:
            ConfigError: ``value`` names no style.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if value.lower() in (member.name.lower(), member.value):
                    return member
        raise ConfigError(f"unknown separator style {value!r}; known styles: {', '.join(m.name for m in cls)}")


def _text(message: Message) -> str:
    """The text of a message that may be a ``(text, image, image_process_mode)`` tuple."""
    if isinstance(message, tuple):
        return str(message[0])
    return str(message)


@dataclass
class Conversation:
    """A conversation template and the messages of one conversation.

    Args:
        system: The system prompt, rendered first.
        roles: The user role and the assistant role, in that order (``("USER", "ASSISTANT")``).
        messages: ``[role, message]`` pairs, oldest first (see :data:`Message`).
        offset: How many leading messages are built-in examples rather than the user's conversation
            (the ``default`` template carries two).
        sep_style: How the parts are joined (:class:`SeparatorStyle`; a name such as ``"TWO"`` is accepted).
        sep: The first separator (after the system prompt and, in ``TWO``, after user messages).
        sep2: The second separator (after assistant messages in ``TWO`` and ``PLAIN``, the end of a
            round in ``LLAMA_2``).
        version: A free-form tag; the reference's training code dispatches on it (``"v1"``...), and a
            version containing ``"mmtag"`` wraps the image as ``<Image><image></Image>``.

    Raises:
        ConfigError: A field has the wrong type, or the style needs a ``sep2`` that is missing.
    """

    system: str
    roles: tuple[str, str]
    messages: list[list[Any]] = field(default_factory=list)
    offset: int = 0
    sep_style: SeparatorStyle = SeparatorStyle.SINGLE
    sep: str = "###"
    sep2: str | None = None
    version: str = "Unknown"

    def __post_init__(self) -> None:
        if not isinstance(self.system, str):
            raise ConfigError(f"Conversation.system must be a string, got {type(self.system).__name__}")
        roles = tuple(self.roles) if isinstance(self.roles, Sequence) and not isinstance(self.roles, str) else ()
        if len(roles) != 2 or not all(isinstance(role, str) for role in roles):
            raise ConfigError(f"Conversation.roles must be two strings (user, assistant), got {self.roles!r}")
        self.roles = (roles[0], roles[1])
        self.sep_style = SeparatorStyle.parse(self.sep_style)
        if not isinstance(self.sep, str):
            raise ConfigError(f"Conversation.sep must be a string, got {self.sep!r}")
        if self.sep2 is not None and not isinstance(self.sep2, str):
            raise ConfigError(f"Conversation.sep2 must be a string or None, got {self.sep2!r}")
        if self.sep_style in (SeparatorStyle.TWO, SeparatorStyle.LLAMA_2) and self.sep2 is None:
            raise ConfigError(f"separator style {self.sep_style.name} needs sep2 (the end-of-answer separator)")
        if not isinstance(self.version, str):
            raise ConfigError(f"Conversation.version must be a string, got {self.version!r}")
        messages = []
        for item in self.messages:
            if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 2:
                raise ConfigError(f"each message must be a [role, message] pair, got {item!r}")
            messages.append([item[0], item[1]])
        self.messages = messages
        if not isinstance(self.offset, int) or isinstance(self.offset, bool) or not 0 <= self.offset <= len(messages):
            raise ConfigError(f"Conversation.offset must be an int in [0, {len(messages)}], got {self.offset!r}")

    # ------------------------------------------------------------------------------- editing
    def append_message(self, role: str, message: Message) -> None:
        """Append ``message`` from ``role``; ``None`` leaves an empty slot for the model to answer."""
        self.messages.append([role, message])

    def update_last_message(self, message: Message) -> None:
        """Replace the last message (fill the assistant slot with the generated answer).

        Raises:
            PromptError: The conversation has no messages.
        """
        if not self.messages:
            raise PromptError("the conversation has no message to update; append one first")
        self.messages[-1][1] = message

    def copy(self) -> Conversation:
        """A copy with its own message list (message objects themselves are shared)."""
        return Conversation(
            system=self.system,
            roles=self.roles,
            messages=[[role, message] for role, message in self.messages],
            offset=self.offset,
            sep_style=self.sep_style,
            sep=self.sep,
            sep2=self.sep2,
            version=self.version,
        )

    # ------------------------------------------------------------------------------- reading
    @property
    def user_role(self) -> str:
        """The first role (the one that asks)."""
        return self.roles[0]

    @property
    def assistant_role(self) -> str:
        """The second role (the one that answers)."""
        return self.roles[1]

    @property
    def stop_string(self) -> str:
        """The text that ends an answer: ``sep2`` for style ``TWO``, ``sep`` otherwise (as the reference)."""
        if self.sep_style is SeparatorStyle.TWO and self.sep2 is not None:
            return self.sep2
        return self.sep

    def get_prompt(self) -> str:
        """Render the system prompt and every message into one string, exactly as the reference.

        Raises:
            PromptError: A ``LLAMA_2`` conversation whose first message is empty or not the user's.
        """
        messages = self._messages_for_rendering()
        style = self.sep_style
        if style is SeparatorStyle.SINGLE:
            return self._render_single(messages)
        if style is SeparatorStyle.TWO:
            return self._render_two(messages)
        if style is SeparatorStyle.MPT:
            return self._render_mpt(messages)
        if style is SeparatorStyle.LLAMA_2:
            return self._render_llama_2(messages)
        return self._render_plain(messages)

    def _messages_for_rendering(self) -> list[tuple[str, Message]]:
        messages: list[tuple[str, Message]] = [(role, message) for role, message in self.messages]
        if messages and isinstance(messages[0][1], tuple):
            role, first = messages[0]
            text = _text(first).replace(DEFAULT_IMAGE_TOKEN, "").strip()
            if "mmtag" in self.version:
                messages[0] = (role, text)
                messages.insert(0, (self.roles[0], "<Image><image></Image>"))
                messages.insert(1, (self.roles[1], "Received."))
            else:
                messages[0] = (role, DEFAULT_IMAGE_TOKEN + "\n" + text)
        return messages

    def _render_single(self, messages: list[tuple[str, Message]]) -> str:
        out = self.system + self.sep
        for role, message in messages:
            out += f"{role}: {_text(message)}{self.sep}" if message else f"{role}:"
        return out

    def _render_two(self, messages: list[tuple[str, Message]]) -> str:
        seps = (self.sep, self.sep2 or "")
        out = self.system + seps[0]
        for i, (role, message) in enumerate(messages):
            out += f"{role}: {_text(message)}{seps[i % 2]}" if message else f"{role}:"
        return out

    def _render_mpt(self, messages: list[tuple[str, Message]]) -> str:
        out = self.system + self.sep
        for role, message in messages:
            out += f"{role}{_text(message)}{self.sep}" if message else role
        return out

    def _render_llama_2(self, messages: list[tuple[str, Message]]) -> str:
        out = ""
        for i, (role, message) in enumerate(messages):
            if i == 0 and not message:
                raise PromptError("a LLAMA_2-style conversation cannot start with an empty message")
            if i == 0 and role != self.roles[0]:
                raise PromptError(
                    f"a LLAMA_2-style conversation must start with the user role '{self.roles[0]}', got '{role}'"
                )
            if not message:
                continue
            text = _text(message)
            if i == 0:
                text = f"<<SYS>>\n{self.system}\n<</SYS>>\n\n{text}"
            if i % 2 == 0:
                out += f"{self.sep}[INST] {text} [/INST]"
            else:
                out += f" {text} {self.sep2}"
        # The reference strips with str.lstrip (a character set), which removes the leading sep.
        return out.lstrip(self.sep)

    def _render_plain(self, messages: list[tuple[str, Message]]) -> str:
        # The reference has no sep2 for `plain` and fails on an answer (str + None); we end it with sep.
        seps = (self.sep, self.sep if self.sep2 is None else self.sep2)
        out = self.system
        for i, (_role, message) in enumerate(messages):
            if message:
                out += _text(message) + seps[i % 2]
        return out

    # ------------------------------------------------------------------------------- data form
    def to_dict(self) -> dict[str, Any]:
        """The template as plain JSON-able data (image tuples reduced to their text)."""
        return {
            "system": self.system,
            "roles": list(self.roles),
            "messages": [[role, _text(m) if isinstance(m, tuple) else m] for role, m in self.messages],
            "offset": self.offset,
            "sep_style": self.sep_style.name,
            "sep": self.sep,
            "sep2": self.sep2,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        """Build a template from :meth:`to_dict`'s form (for templates kept as JSON).

        Raises:
            ConfigError: A required key (``system``, ``roles``) is missing or a key is unknown.
        """
        known = {"system", "roles", "messages", "offset", "sep_style", "sep", "sep2", "version"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown conversation template keys {unknown}; known keys: {sorted(known)}")
        for key in ("system", "roles"):
            if key not in data:
                raise ConfigError(f"a conversation template needs '{key}'")
        return cls(**dict(data))


CONVERSATIONS: Registry[Conversation] = Registry("conversation template")
"""The template registry. Prefer :func:`register_conversation` and :func:`get_conversation`."""


def register_conversation(
    name: str,
    conversation: Conversation | Mapping[str, Any],
    *,
    aliases: tuple[str, ...] | list[str] = (),
    overwrite: bool = False,
) -> Conversation:
    """Register a template under ``name`` (and ``aliases``) so that configs and ``conv_mode`` can name it.

    The registry keeps its own copy; later changes to ``conversation`` do not leak into it.

    Args:
        name: The template name (``conv_mode``).
        conversation: The template, or its :meth:`Conversation.to_dict` form.
        aliases: Other names for the same template.
        overwrite: Replace a template already registered under ``name``.

    Returns:
        The registered copy.

    Raises:
        DuplicateNameError: ``name`` or an alias is taken (and ``overwrite`` is false).
        ConfigError: ``conversation`` is not a valid template.

    Example:
        >>> from mvlm.prompting import CONVERSATIONS, get_conversation, register_conversation
        >>> _ = register_conversation("doc_qa", {"system": "Answer briefly.", "roles": ["Q", "A"],
        ...                                      "sep_style": "TWO", "sep": " ", "sep2": "</s>"})
        >>> conv = get_conversation("doc_qa")
        >>> conv.append_message("Q", "Hi?"); conv.append_message("A", None)
        >>> conv.get_prompt()
        'Answer briefly. Q: Hi? A:'
        >>> _ = CONVERSATIONS.unregister("doc_qa")
    """
    if isinstance(conversation, Mapping):
        conversation = Conversation.from_dict(conversation)
    if not isinstance(conversation, Conversation):
        raise ConfigError(f"register_conversation('{name}') expects a Conversation, got {type(conversation).__name__}")
    if overwrite and name in CONVERSATIONS.names():
        CONVERSATIONS.unregister(name)
    return CONVERSATIONS.register(name, conversation.copy(), aliases=tuple(aliases))


def get_conversation(template: str | Conversation) -> Conversation:
    """A fresh, independent copy of the template registered as ``template`` (a name or alias).

    A :class:`Conversation` passed in is copied too, so callers can accept either.

    Raises:
        UnknownNameError: No template has that name; the message lists the close ones.
    """
    if isinstance(template, Conversation):
        return template.copy()
    return CONVERSATIONS.get(template).copy()


def list_conversations(include_aliases: bool = False) -> list[str]:
    """Names of the registered templates, sorted (canonical names, plus aliases if asked)."""
    names = CONVERSATIONS.names()
    if include_aliases:
        names = sorted([*names, *CONVERSATIONS.aliases()])
    return names


def build_prompt(question: str, template: str | Conversation = "v1", *, num_images: int = 1) -> str:
    """The single-turn prompt the reference builds for ``question``: user message, then an empty answer slot.

    A question without ``<image>`` gets ``"<image>\\n"`` prepended for each image, as the reference's
    inference and evaluation scripts do (see :func:`~mvlm.prompting.ensure_image_token`).

    Example:
        >>> from mvlm.prompting import build_prompt
        >>> build_prompt("Who wrote it?", "plain")
        '<image>\\nWho wrote it?\\n'
    """
    conv = get_conversation(template)
    conv.append_message(conv.roles[0], ensure_image_token(question, num_images))
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def build_chat_prompt(
    message: str,
    template: str | Conversation = "v1",
    *,
    history: Sequence[tuple[str, str]] = (),
    num_images: int = 0,
) -> str:
    """The prompt of a conversation: earlier ``(user, answer)`` turns, the new message, an empty answer slot.

    When no user message has an ``<image>`` tag, the first one gets ``"<image>\\n"`` per image in
    front (as the reference's inference script builds ``"<image>\\n" + prompt``); tags the user wrote
    stay where they are, and their number must match ``num_images``.

    Raises:
        PromptError: The tags and the images differ in number.
        UnknownNameError: ``template`` names no template.

    Example:
        >>> from mvlm.prompting import build_chat_prompt
        >>> build_chat_prompt("And now?", "v1", history=[("<image>\\nWhat is it?", "A cat.")], num_images=1)[-60:]
        "USER: <image>\\nWhat is it? ASSISTANT: A cat.</s>USER: And now? ASSISTANT:"
    """
    conv = get_conversation(template)
    turns: list[tuple[str, str | None]] = [*history, (message, None)]
    if num_images and not any(count_image_tokens(user) for user, _ in turns):
        turns[0] = (ensure_image_token(turns[0][0], num_images), turns[0][1])
    check_image_count("\n".join(user for user, _ in turns), num_images)
    for user, answer in turns:
        conv.append_message(conv.roles[0], user)
        conv.append_message(conv.roles[1], answer)
    return conv.get_prompt()
