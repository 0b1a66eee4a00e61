"""What a formula box suggests at the cursor, for one person: the formula engine's
completions (fields by label or name, a select's options after `=`, functions with their
signatures) over the objects they may read, never naming a field hidden from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.formula import complete
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.records.formulas import SnapshotSchema

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.access import AccessService


class FormulaCompletions:
    def __init__(self, kernel: Kernel, access: AccessService) -> None:
        self.kernel = kernel
        self.access = access

    def complete(self, actor: Actor, object_name: str, source: Any, cursor: Any) -> list[dict[str, Any]]:
        """The suggestions at `cursor` of a formula about `object_name`, best first: each
        with the `label` people read, its `kind`, a `detail` (the name and type, the stored
        value, the signature), what to `insert` and how many characters before the cursor
        it `replace`s."""
        if not isinstance(source, str):
            raise InvalidInput("Send the formula as text.", [FieldProblem("expression", "must be text")])
        if isinstance(cursor, bool) or not isinstance(cursor, int) or not 0 <= cursor <= len(source):
            raise InvalidInput("The cursor must be a position in the formula.",
                               [FieldProblem("cursor", f"must be a whole number from 0 to {len(source)}")])
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
        obj = snap.object(object_name)
        self.access.object(actor, snap, obj).refuse("read")

        def visible(holder: ObjectDef, field: FieldDef) -> bool:
            if holder.api_name not in snap.objects:  # the users' fields formulas read ($user, owner.email)
                return True
            found = self.access.object(actor, snap, holder)
            if field.type == "lookup" and holder is not obj and field.props.get("target") == obj.api_name:
                return found.may("read") and field.api_name not in found.hidden  # a child list
            return field.api_name not in found.hidden

        return [{"label": c.label, "kind": c.kind, "detail": c.detail, "insert": c.insert, "replace": c.replace}
                for c in complete(source, cursor, obj, SnapshotSchema(snap), visible=visible)]
