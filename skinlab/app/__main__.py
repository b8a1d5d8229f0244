"""python -m skinlab.app [--host 127.0.0.1] [--port 8000] [--cnn models/cnn] [--segment models/segment]

Serves the page and the JSON API on loopback by default; loads the models once before it listens.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--cnn", type=Path, default=Path("models/cnn"), help="model.tflite, model.keras, model_card.json")
    parser.add_argument("--segment", type=Path, default=Path("models/segment"), help="card.json (and unet.keras)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="skin-tone and segmentation settings")
    parser.add_argument("--max-upload-mb", type=float, default=10.0)
    parser.add_argument("--max-megapixels", type=float, default=40.0)
    args = parser.parse_args(argv)

    import uvicorn

    from skinlab.app.api import create_app
    from skinlab.app.model import Bundle, ModelMissing, Paths
    from skinlab.app.upload import UploadLimits

    try:
        bundle = Bundle(Paths(args.cnn, args.segment, args.params))
    except ModelMissing as error:
        print(f"skinlab.app: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    limits = UploadLimits(int(args.max_upload_mb * 1024 * 1024), int(args.max_megapixels * 1e6))
    uvicorn.run(create_app(bundle, limits), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
