"""Plugins: Python distributions that extend Tessera through the platform's own door.

A plugin is an installed distribution with an entry point in the group `tessera.plugins`
naming a callable `install(platform)` — the same kind of function every package of Tessera
uses (`runtime/platform.py`). Its module declares the plugin API it was written for
(`PLUGIN_API = 1`). `loader` finds them at start, in a stable order, and installs each
in isolation: a plugin that cannot be imported, needs another plugin API, registers a name
someone else has, or raises while installing is taken out again (what it registered is
unregistered) and reported; Tessera starts without it. `PluginHost` is what a plugin reaches
beyond the platform's services: its API routes, its pages and its app templates.
"""

from __future__ import annotations

#: The plugin API this Tessera offers. A plugin declares the one it needs (`PLUGIN_API`);
#: another number is refused. It changes when something a plugin may rely on changes
#: incompatibly.
PLUGIN_API = 1
#: The entry point group plugins are found by.
GROUP = "tessera.plugins"
