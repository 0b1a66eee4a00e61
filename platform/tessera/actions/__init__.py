"""What flows and rules can do: one registry of actions that both engines share.

An action is a step of a flow or a rule written as `{"action": "<name>", ...params}`:
update the record or related records, create a record, send an e-mail, notify in the app,
call a webhook, or a plugin's own. Each action type checks its parameters against the
metadata when the flow or rule is saved (so publishing refuses a missing field), and runs
with an `ActionContext` the runtime hands it — the transaction, the record, and the
services it may use — so this layer never imports the runtime above it.
"""

from tessera.actions.context import ActionContext, ActionError
from tessera.actions.registry import ActionType, action_type, action_types, check_actions, register

# The built-in actions register themselves.
from tessera.actions import conversions, messages, records  # noqa: F401  isort: skip

__all__ = ["ActionContext", "ActionError", "ActionType", "action_type", "action_types", "check_actions",
           "register"]
