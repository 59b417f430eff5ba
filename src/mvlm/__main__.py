"""``python -m mvlm`` runs the ``mvlm`` command (so ``torchrun -m mvlm ...`` works too)."""

import sys

from mvlm.cli import main

sys.exit(main())
