"""Start the workspace emulator by hand.

    python -m tests.databricks_emulator --port 8765 --root /tmp/ws

The token is read from ``EMULATOR_TOKEN`` (or ``--token``); without one, a random token is
made and printed with the environment to use.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from pathlib import Path

from .app import serve
from .config import EmulatorConfig


def main(argv=None) -> int:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.databricks_emulator",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, type=Path, help="folder holding the workspace")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--token", default=os.environ.get("EMULATOR_TOKEN"),
                        help="accepted bearer token (default: $EMULATOR_TOKEN or a random one)")
    parser.add_argument("--cluster-start-seconds", type=float, default=1.0,
                        help="how long clusters stay PENDING")
    parser.add_argument("--ready-file", type=Path,
                        help="write {host, port, base_url} as JSON here once serving")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    generated = args.token is None
    config = EmulatorConfig(root=args.root.resolve(), token=args.token or f"dapi{secrets.token_hex(16)}",
                            host=args.host, port=args.port,
                            cluster_start_seconds=args.cluster_start_seconds)

    def ready(bound: EmulatorConfig) -> None:
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"host": bound.host, "port": bound.port,
                                       "base_url": bound.base_url, "pid": os.getpid()}))
            tmp.replace(args.ready_file)
        print(f"Databricks workspace emulator serving {bound.base_url} (root {bound.root})",
              file=sys.stderr, flush=True)
        if generated:
            print(f"export DATABRICKS_HOST={bound.base_url}\nexport DATABRICKS_TOKEN={bound.token}",
                  flush=True)

    serve(config, on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
