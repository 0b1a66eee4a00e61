"""The metadata model: objects, fields, field types and the JSON Schemas of every kind.

Pure: nothing here talks to a database or the web. SQLAlchemy appears only as the
vocabulary of column types a field type declares.
"""
