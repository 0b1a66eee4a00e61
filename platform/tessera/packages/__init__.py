"""App packages: the templates admins install, change and still upgrade.

`files` reads a package (a folder or a zip), `plan` decides purely what installing or
upgrading does (three-way, by uid), `apply` carries a plan out through the metadata
services in one transaction and loads sample data, `service` is what the edges call
(available, installed, plan, install, upgrade, uninstall, customizations, export).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tessera.runtime.platform import Platform


def install(platform: Platform) -> None:
    from tessera.packages.service import JOB_KIND

    platform.jobs.register(JOB_KIND, platform.packages.run)
    # A template's flows run once installed: each flow it writes is published (as a
    # builder's Publish would; running instances keep the version they started on).
    platform.packages.when_written("flows", platform.flows.publish)
