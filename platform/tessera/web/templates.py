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
from jinja2 import pass_context
from jinja2.runtime import Context

from tessera.meta.percents import percent_text
from tessera.meta.times import parse_instant, readable, time_zone

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
    env.env.filters["when"] = _when
    # Percentages in the house style fields use too: {{ 0.857|percent(1, share=True) }} → 85.7 %.
    env.env.filters["percent"] = percent_text
    return env


@pass_context
def _when(context: Context, value: Any, seconds: bool = False) -> str:
    """An instant (a datetime, or ISO 8601 as services give it) in the reader's time zone:
    `2026-12-06 14:30 CET`. Anything else is shown as it is."""
    moment = parse_instant(value)
    if moment is None:
        return "" if value is None else str(value)
    me = context.get("me")
    return readable(moment, time_zone(getattr(me, "time_zone", None)), seconds=seconds)


def _plural(obj: Any) -> str:
    return str(obj.plural_label)
