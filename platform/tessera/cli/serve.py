"""`tessera serve`: the API and UI on TESSERA_HOST:TESSERA_PORT (127.0.0.1:8000), after
bringing the database up to date.

uvicorn is handed the import string "tessera.app:create_app" (a factory, called in each
worker process, which reads the settings from the environment again), so this edge never
imports `tessera.app`, the layer above it.
"""

from __future__ import annotations

import argparse
from typing import Any

from tessera.cli import common


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the API and UI (upgrades the database first)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = common.settings()
    common.prepare(settings)
    print(f"Tessera on http://{settings.host}:{args.port or settings.port} "
          f"(database {settings.backend}, jobs {'Celery' if settings.redis_url else 'in-process'})")
    uvicorn.run("tessera.app:create_app", factory=True, host=settings.host,
                port=args.port or settings.port, workers=args.workers, log_level="info")
    return 0
