"""``python -m neuralscope``: the same command as the ``neuralscope`` console script."""
import sys

from .cli import main

sys.exit(main())
