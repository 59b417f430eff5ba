"""The scripts in examples/ run as users would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_custom_projector_example():
    result = run_example("custom_projector.py")
    assert result.returncode == 0, result.stderr
    assert "StridedConvProjector: 576 vision tokens -> 144 LM tokens" in result.stdout
