"""Running a parsed sub-command: the one place that turns an :class:`~mvlm.errors.MvlmError` into an exit status.

Both ``mvlm`` (:mod:`mvlm.cli`) and ``python -m mvlm.train_lm`` build an ``argparse`` parser whose
sub-commands set ``handler`` (a function of the parsed arguments returning the exit status) and run
it here. It sits low in the package (it needs only :mod:`mvlm.errors`), so library modules that offer
a command line of their own never import the ``mvlm`` command itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mvlm.errors import MvlmError

__all__ = ["run_command"]


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run the chosen sub-command's handler.

    Returns the handler's exit status; 2 with the help text when no command is given; 1 with a
    one-line message (``mvlm <command>: error: ...`` on stderr) when the command raises an
    :class:`~mvlm.errors.MvlmError`.
    """
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except MvlmError as error:
        print(f"mvlm {args.command}: error: {error}", file=sys.stderr)
        return 1
