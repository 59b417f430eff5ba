"""Turn a suite report's markdown (``benchmarks/results/suite-<shape>.json``) into reStructuredText for the docs.

    python benchmarks/report_to_rst.py benchmarks/results/suite-mobilevlm-1.7b.json > measured.rst

Markdown tables become ``list-table`` directives; other lines pass through as paragraphs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown_to_rst(markdown: str) -> str:
    """Markdown tables -> ``list-table``; a ``## heading`` -> a bold line; the rest unchanged."""
    out: list[str] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("|") and index + 1 < len(lines) and set(lines[index + 1].replace("|", "")) <= {"-", " "}:
            header = _cells(line)
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                rows.append(_cells(lines[index]))
                index += 1
            out += [".. list-table::", "   :header-rows: 1", ""]
            for row in [header, *rows]:
                out.append(f"   * - {row[0] or ' '}")
                out += [f"     - {cell or ' '}" for cell in row[1:]]
            out.append("")
            continue
        out.append(f"**{line[3:]}**" if line.startswith("## ") else line)
        index += 1
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, help="a suite JSON written by benchmarks/run.py")
    args = parser.parse_args(argv)
    sys.stdout.write(markdown_to_rst(json.loads(args.report.read_text())["markdown"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
