"""skinlab: the library behind the skin-lesion DVC pipeline (research and teaching only)."""

__version__ = "0.1.0"

DISCLAIMER = (
    "Not a medical device: for research and teaching only. "
    "Do not use it to diagnose, treat or decide on care."
)
