"""An example Tessera plugin: what docs/plugins.md builds, step by step.

Tessera finds it by its entry point (group `tessera.plugins`, in pyproject.toml) and calls
`install(platform)` at start, once per platform, after its own packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The plugin API this plugin is written for; Tessera refuses it if it offers another.
PLUGIN_API = 1


def install(platform: Any) -> None:
    """Register what the plugin brings. Everything registered here is the plugin's: if it
    fails half-way, Tessera takes it all out again and starts without it."""
    from tessera.actions import register as register_action
    from tessera.formula import register as register_function
    from tessera.meta.fieldtypes import register as register_type
    from tessera_example.actions import MaskIban
    from tessera_example.fieldtype import IbanField
    from tessera_example.functions import IBAN_COUNTRY
    from tessera_example.routes import router

    register_type(IbanField)
    register_function(IBAN_COUNTRY)
    register_action(MaskIban())
    platform.plugin_host.add_api_routes(router)
    platform.plugin_host.add_template(Path(__file__).parent / "templates" / "bank_accounts")
