"""Records: the save pipeline and its plan, the record service, list views, access, formulas
and stored formulas, and the runner of flows' and rules' actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.kernel.hooks import SaveHooks
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.formulas import FormulaService
    from tessera.runtime.records.stored import StoredFormulas


class Host(Protocol):
    hooks: SaveHooks
    jobs: JobService
    formulas: FormulaService
    access: AccessService
    stored_formulas: StoredFormulas


def install(platform: Host) -> None:
    from tessera.runtime.records.lines import owner_follows

    # The kernel's own formulas run at the pipeline's hook points like any engine's.
    platform.hooks.add("before_validate", platform.formulas.apply_defaults)
    platform.hooks.add("validate", platform.formulas.check_rules)
    platform.hooks.add("validate", platform.access.check_references)
    platform.hooks.add("after_write", platform.stored_formulas.after_write)
    platform.hooks.add("after_write", owner_follows)
    platform.jobs.register("formula.recompute", platform.stored_formulas.recompute_all)
