"""The report engine's dashboards and periods, checked without a database."""
