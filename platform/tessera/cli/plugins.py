"""`tessera plugins list`: the installed plugins with their versions, status and errors, and
the metadata that needs something no installed plugin provides. Exit status 1 when a
plugin failed or was refused, or metadata needs what is missing."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tessera.auth.actor import Actor
from tessera.cli import common


def add_commands(sub: Any) -> None:
    plugins = sub.add_parser("plugins", help="the installed plugins").add_subparsers(
        dest="plugins_command", required=True)
    listing = plugins.add_parser("list", help="each plugin with its version, status and error")
    listing.add_argument("--json", action="store_true", help="print the answer of GET /api/v1/plugins")
    listing.set_defaults(run=cmd_plugins_list)


def cmd_plugins_list(args: argparse.Namespace) -> int:
    runtime = common.build_platform()
    try:
        answer = runtime.plugins.list(Actor.system())
    finally:
        runtime.dispose()
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(f"plugin API {answer['plugin_api']}")
        if not answer["plugins"]:
            print("no plugins installed")
        for plugin in answer["plugins"]:
            where = f"{plugin['distribution']} {plugin['version']}" if plugin["distribution"] else "(no distribution)"
            print(f"{plugin['name']:<20} {plugin['status']:<8} {where}")
            if plugin["error"]:
                print(f"    {plugin['error']}")
            for item in plugin["provides"]:
                print(f"    provides {item}")
        for problem in answer["problems"]:
            print(f"problem: {problem['where']}: {problem['message']}")
    troubled = answer["problems"] or any(p["status"] != "loaded" for p in answer["plugins"])
    return 1 if troubled else 0
