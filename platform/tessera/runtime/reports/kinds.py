"""The `reports` and `dashboards` kinds of metadata document: their schemas and their checks
against the metadata come from the report engine and the dashboard wiring."""

from __future__ import annotations

from tessera.meta.documents import base_schema
from tessera.runtime.metadata.documents import DocumentKind
from tessera.runtime.reports.dashboards import dashboard_kind
from tessera.runtime.reports.service import report_problems

REPORTS = DocumentKind("reports", "Report", "rpt", lambda: base_schema("reports"), check=report_problems)
DASHBOARDS = dashboard_kind()

KINDS = (REPORTS, DASHBOARDS)
