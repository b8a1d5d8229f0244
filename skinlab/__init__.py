"""skinlab: the library behind the skin-lesion DVC pipeline (research and teaching only)."""

__version__ = "0.1.0"
# Where the project lives; sent in the User-Agent of every download so a data host can see who
# asks. The repository has no public address yet: replace this placeholder when it gets one.
PROJECT_URL = "https://skinlab.invalid/"

DISCLAIMER = (
    "Not a medical device: for research and teaching only. "
    "Do not use it to diagnose, treat or decide on care."
)
