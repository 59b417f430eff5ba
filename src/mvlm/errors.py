"""The one exception hierarchy of mvlm.

Every error the library raises on purpose derives from :class:`MvlmError`, so a caller can catch
everything mvlm reports with one ``except`` clause. Each subclass also derives from the closest
built-in exception (``ValueError``, ``LookupError``, ``ImportError``...) so code written against
the standard exceptions keeps working.

Messages say what was wrong, where (file, key, input), and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DuplicateNameError",
    "ImageError",
    "MissingDependencyError",
    "MvlmError",
    "PromptError",
    "RegistryError",
    "RequestError",
    "ShapeError",
    "UnknownNameError",
]


class MvlmError(Exception):
    """Base class of every error raised by mvlm."""


class ConfigError(MvlmError, ValueError):
    """A configuration value is missing, of the wrong type, or out of range."""


class ShapeError(MvlmError, ValueError):
    """A tensor has a shape (rank, width, token grid) that a component cannot take."""


class RegistryError(MvlmError):
    """Base class of the registry errors."""


class UnknownNameError(RegistryError, LookupError):
    """A name was looked up in a registry that holds no component of that name."""

    def __str__(self) -> str:  # LookupError/KeyError would quote the message; keep it readable.
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(RegistryError, ValueError):
    """A component was registered under a name (or alias) that is already taken."""


class CheckpointError(MvlmError, ValueError):
    """A checkpoint file or folder is missing, truncated, or has missing / unexpected tensors."""


class ImageError(MvlmError, ValueError):
    """An image input cannot be read or converted (missing file, not an image, truncated, too big)."""


class PromptError(MvlmError, ValueError):
    """A prompt does not fit its images, its template, or the model's context length."""


class DataError(MvlmError, ValueError):
    """A data-set file or record is malformed."""


class RequestError(MvlmError, ValueError):
    """A request to ``mvlm serve`` is malformed, names an unknown model, or is too large.

    Args:
        message: What was wrong, where in the request, and what to do.
        status: The HTTP status the server answers with (400, 404, 413...).
        param: The request field at fault (OpenAI's ``param``: ``"messages"``, ``"model"``...), if one is.
        code: A short machine-readable code (OpenAI's ``code``: ``"model_not_found"``...), if there is one.
    """

    def __init__(self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


class MissingDependencyError(MvlmError, ImportError):
    """An optional dependency needed by the requested feature is not installed."""

    @classmethod
    def for_package(cls, package: str, feature: str, extra: str | None = None) -> MissingDependencyError:
        """Build the error for a missing ``package`` needed by ``feature``.

        Args:
            package: The import name of the missing package.
            feature: What the user asked for that needs it.
            extra: The ``mvlm`` extra that installs it, if there is one.
        """
        how = f'pip install "mvlm[{extra}]"' if extra else f"pip install {package}"
        return cls(f"{feature} needs the optional package '{package}', which is not installed; run: {how}")
