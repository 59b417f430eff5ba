"""``python -m mvlm.train_lm pretrain-lm|sft-lm ...`` (so ``torchrun -m mvlm.train_lm ...`` works too)."""

import sys

from mvlm.train_lm.cli import main

sys.exit(main())
