"""Tests of the engines on their own: no database, no web."""
