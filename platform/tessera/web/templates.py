"""Where the UI's templates and browser files are, and the Jinja2 environment pages use.

builder-ui/ sits beside the Python packages in the repository (`make` installs its npm
libraries into builder-ui/node_modules); `TESSERA_UI_DIR` points elsewhere for an
installed copy.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

#: The browser libraries the pages load, as files inside builder-ui/node_modules.
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "alpine.min.js": "alpinejs/dist/cdn.min.js",
    "sortable.min.js": "sortablejs/Sortable.min.js",
    "echarts.min.js": "echarts/dist/echarts.min.js",
}


def ui_dir() -> Path:
    configured = os.environ.get("TESSERA_UI_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "builder-ui"


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    env = Jinja2Templates(directory=str(ui_dir() / "templates"))
    env.env.trim_blocks = True
    env.env.lstrip_blocks = True
    env.env.globals["vendor"] = lambda name: f"/static/vendor/{name}"
    env.env.filters["plural"] = _plural
    return env


def _plural(obj: Any) -> str:
    return str(obj.plural_label)
