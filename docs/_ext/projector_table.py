"""Sphinx directive ``.. projector-table::``: the table of registered projectors, computed at build time.

The numbers come from the library itself (:func:`mvlm.projectors.summarize_projectors`), so the
table cannot drift from the code.
"""

from __future__ import annotations

from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

from mvlm.projectors import summarize_projectors


class ProjectorTable(Directive):
    option_spec: ClassVar[dict[str, Any]] = {
        "in-dim": directives.positive_int,
        "out-dim": directives.positive_int,
        "tokens": directives.positive_int,
    }

    def run(self) -> list[nodes.Node]:
        in_dim = self.options.get("in-dim", 1024)
        out_dim = self.options.get("out-dim", 2048)
        tokens = self.options.get("tokens", 576)
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - name",
            "     - class",
            f"     - output tokens for {tokens} inputs",
            f"     - parameters at {in_dim} -> {out_dim}",
            "     - source",
        ]
        for summary in summarize_projectors(in_dim, out_dim, tokens):
            if summary.parameters is None:
                continue
            lines += [
                f"   * - ``{summary.name}``",
                f"     - :class:`~mvlm.projectors.{summary.class_name}`",
                f"     - {summary.output_tokens}",
                f"     - {summary.parameters:,}",
                f"     - {summary.paper}",
            ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="projector-table"), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("projector-table", ProjectorTable)
    return {"parallel_read_safe": True, "version": "1"}
