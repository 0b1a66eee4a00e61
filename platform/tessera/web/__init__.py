"""The server side of Tessera's UI: routes that render builder-ui's Jinja2 templates.

Pages are thin like API routes: they parse, call one runtime service and render. htmx swaps
fragments, Alpine.js keeps small client state, SortableJS drags; the browser never
re-implements an engine (a form asks the server which fields to show).
"""
