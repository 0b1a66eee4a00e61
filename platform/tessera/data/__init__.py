"""The shared data layer: platform tables, physical object tables, records and history."""
