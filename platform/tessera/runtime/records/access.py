"""What the acting user may see and do with records, as SQL and as sets of fields.

Roles grant, per object, `create` and a scope for `read`, `edit` and `delete` (none, own,
team, all), and a level per field (hidden, read, edit); an object's sharing rules add the
records matching a formula for some roles or teams. Here those grants become the WHERE
clause of every record query — the database never returns a row the user may not see —
and the sets of fields a user may not see or may not write. A formula field that reads a
hidden field (here or through a lookup) is hidden too: its value would tell. What a user
writes (a filter, a report) reaches other objects' records through the same clause
(`viewer_context`): a lookup or related list never leads to a record they may not read.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.auth.permissions import permissions_for
from tessera.data.tables import team_members
from tessera.errors import FieldProblem, Forbidden, InvalidInput
from tessera.formula import USER_OBJECT, FormulaError, reads
from tessera.meta.model import ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.formulas import FormulaService, expression_of, formula_problem

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from tessera.formula import EvalContext, RowScope
    from tessera.runtime.records.save import SaveBatch

OPERATIONS = ("read", "edit", "delete")
SCOPES = ("none", "own", "team", "all")


@dataclass(frozen=True)
class ObjectAccess:
    """One user's access to one object's records."""

    obj: ObjectDef
    actor: Actor
    #: Admins and the platform itself: everything, no clause.
    unrestricted: bool
    create: bool
    scopes: dict[str, str]
    #: Fields the user may not see (formula fields that would reveal them included).
    hidden: frozenset[str]
    #: Fields the user may see but not write.
    read_only: frozenset[str]
    #: (access, condition) of the sharing rules that apply to this user.
    sharing: tuple[tuple[str, str], ...]
    #: For a child object (line items): the access to the parent object, its table and the
    #: lines' link to it. Access to a line is access to its parent record.
    parent: ObjectAccess | None = None
    parent_table: Any = None
    link: str | None = None

    def may(self, operation: str) -> bool:
        """Whether the user may read/edit/delete any record at all (or create one)."""
        if self.unrestricted:
            return True
        if operation == "create":
            return self.create
        return self.scopes.get(operation, "none") != "none" or bool(self._rules(operation))

    def _rules(self, operation: str) -> list[str]:
        if operation == "read":
            return [condition for _access, condition in self.sharing]
        if operation == "edit":
            return [condition for access, condition in self.sharing if access == "edit"]
        return []

    def where(self, operation: str, table: Any, condition: Any) -> Any | None:
        """The rows of `table` the user may `operation` (None: all of them). `condition(text)`
        compiles a sharing rule's formula to SQL over `table`."""
        if self.unrestricted:
            return None
        if self.parent is not None and self.link is not None:
            # The parent's own rule over an alias of its table, so a query that also reads
            # the parent table (a report of lines by quote) keeps the two apart.
            parents = self.parent_table.alias()
            inner = self.parent.where(operation, parents, lambda text: condition(text, parents))
            return None if inner is None else table.c[self.link].in_(sa.select(parents.c.id).where(inner))
        scope = self.scopes.get(operation, "none")
        if scope == "all":
            return None
        me = self.actor.user_id
        parts: list[Any] = []
        if scope == "own" and me is not None:
            parts.append(table.c.owner == me)
        elif scope == "team" and me is not None:
            teams = tuple(self.actor.team_ids)
            if teams:
                members = sa.select(team_members.c.user_id).where(team_members.c.team_id.in_(teams))
                parts.append(sa.or_(table.c.owner == me, table.c.owner.in_(members)))
            else:
                parts.append(table.c.owner == me)
        parts += [condition(text) for text in self._rules(operation)]
        return sa.or_(*parts) if parts else sa.false()

    def refuse_unwritable(self, names: list[str]) -> None:
        """Writes to fields the user may not change: 403, naming them."""
        blocked = sorted(n for n in names if n in self.read_only or n in self.hidden)
        if blocked:
            raise Forbidden(f"You may not change {', '.join(blocked)} of {self.obj.label} records.",
                            [FieldProblem(n, "you may not change this field", "forbidden_field") for n in blocked])

    def refuse(self, operation: str) -> None:
        if not self.may(operation):
            verb = {"create": "create", "read": "see", "edit": "change", "delete": "delete"}[operation]
            raise Forbidden(f"You may not {verb} {self.obj.label} records.")


class AccessService:
    """Per snapshot and user: the access to each object, worked out once."""

    def __init__(self, formulas: FormulaService) -> None:
        self.formulas = formulas
        self._cache: dict[tuple[int, int | None, Any], ObjectAccess] = {}
        self._lock = threading.Lock()

    def object(self, actor: Actor, snap: Snapshot, obj: ObjectDef) -> ObjectAccess:
        if not actor.is_admin:
            # The sign-in as re-checked by this request's first transaction (roles and teams
            # changed by another process since the request began are taken into account).
            actor = permissions_for(actor, snap).actor
        key = (snap.revision, actor.user_id, _actor_key(actor), obj.uid)
        found = self._cache.get(key)  # type: ignore[arg-type]
        if found is None:
            found = self._build(actor, snap, obj)
            with self._lock:
                if len(self._cache) > 20_000:
                    self._cache.clear()
                self._cache[key] = found  # type: ignore[index]
        return found

    def scope_key(self, actor: Actor, snap: Snapshot) -> Any:
        """What the actor's access to every object follows (their id, roles, teams), as a key
        for what is built from it: two actors with the same key have the same access."""
        if not actor.is_admin:
            actor = permissions_for(actor, snap).actor
        return (actor.user_id, _actor_key(actor))

    def _build(self, actor: Actor, snap: Snapshot, obj: ObjectDef) -> ObjectAccess:
        if actor.is_admin:
            return ObjectAccess(obj, actor, True, True, dict.fromkeys(OPERATIONS, "all"), frozenset(), frozenset(), ())
        link = obj.parent_link if obj.is_child else None
        parent = snap.objects.get(str(link.props.get("target"))) if link is not None else None
        if link is not None and parent is not None:
            return self._line_access(actor, snap, obj, parent, link.column)
        grant = permissions_for(actor, snap).object(obj.api_name)
        levels = {f.api_name: grant.field_level(f.api_name) for f in obj.fields}
        hidden = {name for name, level in levels.items() if level == "hidden"}
        hidden |= self._revealing(actor, snap, obj, hidden)
        read_only = {name for name, level in levels.items() if level == "read"}
        roles, teams = set(actor.roles), set(actor.team_names)
        sharing = tuple(
            (str(rule["access"]), str(rule["condition"]))
            for rule in obj.doc.get("sharing_rules", [])
            if rule.get("active", True) and (roles & set(rule.get("roles", ())) or teams & set(rule.get("teams", ())))
        )
        # Whoever may change or delete a record may see it.
        read = max(grant.read, grant.edit, grant.delete, key=SCOPES.index)
        return ObjectAccess(obj, actor, False, bool(grant.create),
                            {"read": read, "edit": grant.edit, "delete": grant.delete},
                            frozenset(hidden), frozenset(read_only), sharing)

    def _line_access(self, actor: Actor, snap: Snapshot, obj: ObjectDef, parent: ObjectDef,
                     link: str) -> ObjectAccess:
        """Lines are read with their parent and written by changing it: whoever may read
        the parent reads its lines, whoever may change it adds, changes and removes them.
        A role may still hide or lock single fields of the lines."""
        of_parent = self.object(actor, snap, parent)
        levels = permissions_for(actor, snap).line_fields(obj, parent)
        hidden = {name for name, level in levels.items() if level == "hidden"}
        hidden |= self._revealing(actor, snap, obj, hidden)
        read_only = {name for name, level in levels.items() if level == "read"}
        edit = of_parent.scopes.get("edit", "none")
        return ObjectAccess(obj, actor, False, of_parent.may("edit"),
                            {"read": of_parent.scopes.get("read", "none"), "edit": edit, "delete": edit},
                            frozenset(hidden), frozenset(read_only), of_parent.sharing,
                            parent=of_parent, parent_table=snap.table(parent), link=link)

    def _revealing(self, actor: Actor, snap: Snapshot, obj: ObjectDef, hidden: set[str]) -> set[str]:
        """Formula fields whose value depends on a field the user may not see."""
        out: set[str] = set()
        formulas = self.formulas
        for fdef in obj.fields:
            if not fdef.computed or fdef.api_name in hidden:
                continue
            try:
                checked = formulas.checked(snap, obj, expression_of(fdef))
            except FormulaError:
                continue
            for read in reads(checked):
                if read.field is None:
                    continue
                if read.object.uid == obj.uid:
                    if read.field.api_name in hidden:
                        out.add(fdef.api_name)
                        break
                elif read.object.api_name in snap.objects:
                    granted = permissions_for(actor, snap)
                    # A line's fields are as visible as its parent unless a role names them
                    # (a quote's SUM(lines.net) is no secret to who reads the quote's lines).
                    link = read.object.parent_link if read.object.is_child else None
                    parent = snap.objects.get(str(link.props.get("target"))) if link is not None else None
                    level = (granted.line_fields(read.object, parent).get(read.field.api_name) if parent is not None
                             else granted.object(read.object.api_name).field_level(read.field.api_name))
                    if level == "hidden":
                        out.add(fdef.api_name)
                        break
        return out

    def check_references(self, batch: SaveBatch) -> None:
        """validate hook: a lookup may only point at records the user may see (the record
        they cannot see is, to them, not there)."""
        actor = batch.actor
        if actor.is_admin:
            return
        snap, conn = batch.snapshot, batch.conn
        for fdef in batch.obj.stored_fields:
            if fdef.type != "lookup" or fdef.props.get("target") not in snap.objects:
                continue
            wanted = {c.values[fdef.api_name] for c in batch.changes if c.values.get(fdef.api_name) is not None}
            if not wanted:
                continue
            target = snap.objects[fdef.props["target"]]
            access = self.object(actor, snap, target)
            ctx = self.formulas.context(conn, snap, actor) if access.sharing else None
            allowed = access.where("read", snap.table(target), self.condition(snap, target, conn.dialect.name, ctx))
            if allowed is None:
                continue
            table = snap.table(target)
            seen = set(conn.execute(sa.select(table.c.id).where(table.c.id.in_(sorted(wanted)), allowed)).scalars())
            for change in batch.changes:
                value = change.values.get(fdef.api_name)
                if value is not None and value not in seen and not any(
                        p.field == fdef.api_name for p in change.problems):
                    change.problem(fdef.api_name, f"no {target.api_name} record with id {value!r}",
                                   "unknown_reference")

    def filter_reads_hidden(self, access: ObjectAccess, snap: Snapshot, source: str) -> None:
        """A list filter may not read a field the user cannot see (it would tell its values):
        such a field is reported exactly as one that does not exist."""
        if access.unrestricted:
            return
        try:
            checked = self.formulas.checked(snap, access.obj, source, "boolean")
        except FormulaError:
            return  # reported by the filter's own compilation
        for ref in checked.references:
            if ref.object.api_name not in snap.objects:
                continue
            if ref.field.api_name in self.object(access.actor, snap, ref.object).hidden:
                where = "" if ref.object is access.obj else f" on {ref.object.label}"
                error = FormulaError(f'unknown field "{ref.field.api_name}"{where}', source, ref.start, ref.end)
                raise InvalidInput("The filter is not a valid formula.", [formula_problem("filter", error)])

    def condition(self, snap: Snapshot, obj: ObjectDef, dialect: str, ctx: EvalContext | None,
                  table: Any = None) -> Any:
        """Compiles sharing-rule conditions over the object's table (or `table`, an alias of
        it). A sharing rule is the builder's: it sees every record, whoever is asking."""
        everything = ctx.unscoped() if ctx is not None else None
        link = obj.parent_link if obj.is_child else None
        # A child object's rules are its parent's, compiled over the parent table `over`.
        rules_of = snap.objects.get(str(link.props.get("target")), obj) if link is not None else obj

        def compile_rule(text: str, over: Any = None) -> Any:
            over = over if over is not None else table
            if over is None:
                return self.formulas.filter_clause(snap, rules_of, text, dialect, everything)
            return self.formulas.filter_on(snap, rules_of, text, dialect, everything, over)
        return compile_rule

    def viewer_context(self, conn: Connection, snap: Snapshot, actor: Actor,
                       prior: Mapping[str, Any] | None = None) -> EvalContext:
        """The context for compiling what `actor` wrote or is shown (list filters, reports,
        computed fields that follow the viewer): every record reached through a lookup or a
        related list must be one they may read, in the SQL itself and in the loaders."""
        everything = self.formulas.context(conn, snap, actor, prior)
        if actor.is_admin:
            return everything
        scope = self.row_scope(snap, actor, conn.dialect.name, everything)
        return self.formulas.context(conn, snap, actor, prior, scope=scope, everything=everything)

    def readable(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef, table: Any,
                 contexts: dict[str, EvalContext]) -> Any | None:
        """The condition on `table` (the object's table or an alias) of the records `actor`
        may read (None: all). `contexts`: the formula contexts compiled so far in this
        statement, shared between the objects it reads."""
        rights = self.object(actor, snap, obj)
        sharing = None
        if rights.sharing:
            sharing = contexts.setdefault("sharing", self.formulas.context(conn, snap, actor))
        return rights.where("read", table, self.condition(snap, obj, conn.dialect.name, sharing))

    def name_column(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef, table: Any,
                    contexts: dict[str, EvalContext]) -> Any:
        """The SQL of a record's name as `actor` may read it (NULL when the object has no name
        field or it is hidden from them); a computed name follows the viewer's scope."""
        named = obj.name_field
        if named is None or named.api_name in self.object(actor, snap, obj).hidden:
            return sa.null()
        if named.stored:
            return table.c[named.api_name]
        viewer = contexts.setdefault("viewer", self.viewer_context(conn, snap, actor))
        column = self.formulas.computed_columns(snap, obj, [named], conn.dialect.name, viewer)[0]
        return getattr(column, "element", column)

    def row_scope(self, snap: Snapshot, actor: Actor, dialect: str, ctx: EvalContext) -> RowScope:
        """(object, table or alias) → the condition on its rows `actor` may read (None: all)."""

        def readable(obj: ObjectDef, table: Any) -> Any:
            if obj is USER_OBJECT or obj.api_name not in snap.objects:
                return None  # the users directory: everyone may read names and e-mails
            access = self.object(actor, snap, obj)
            if not access.may("read"):
                return sa.false()
            condition = self.condition(snap, obj, dialect, ctx if access.sharing else None, table)
            return access.where("read", table, condition)
        return readable


def _actor_key(actor: Actor) -> Any:
    return (actor.is_admin, actor.roles, actor.team_ids, actor.team_names, actor.verified_at, id(actor.grants))
