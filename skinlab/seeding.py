"""One seed for Python, NumPy and (when loaded) TensorFlow, so a stage reruns identically."""
from __future__ import annotations

import random
import sys

import numpy as np


def set_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:  # never import TensorFlow just to seed it
        sys.modules["tensorflow"].random.set_seed(seed)
