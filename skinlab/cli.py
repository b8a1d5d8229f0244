"""What every stage script shares: argument parsing, logging and one clear line on bad input."""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import Iterator

from skinlab.data.download_http import DownloadError
from skinlab.data.raw import InputError
from skinlab.io import ImageError
from skinlab.params import ParamsError


def parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return parser


@contextlib.contextmanager
def stage(name: str) -> Iterator[logging.Logger]:
    """Log to stderr; turn our own input errors into a message and exit code 2, not a traceback."""
    logging.basicConfig(level=logging.INFO, format=f"{name}: %(message)s")
    try:
        yield logging.getLogger(name)
    except (ParamsError, InputError, ImageError, DownloadError) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
