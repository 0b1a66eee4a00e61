"""The JSON API under /api/v1: thin routes that parse, authorize, call a service, render."""
