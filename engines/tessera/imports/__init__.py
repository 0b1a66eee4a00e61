"""Imports from spreadsheets and CSV — the pure part: reading a file's table (`files`)."""
