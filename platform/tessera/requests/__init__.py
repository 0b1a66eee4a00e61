"""What every edge asks of a request: who is asking and the platform serving them, the
session cookie a sign-in sets and a sign-out clears, and the parsed parts of a request (JSON
body, If-Match, comma lists, dashboard filters).

The API (`tessera.api`), the pages (`tessera.web`) and the portal (`tessera.portal`) are
edges that never import each other, yet they must agree on what a signed-in request is:
the same bearer token or session cookie, the same CSRF check, the same cookie flags. That
shared part lives here, one step below the edges and one above the wiring:

    layer 5   tessera.runtime (the Platform)       <- tessera.requests reads it from
                                                      `request.app.state.runtime`
    layer 5½  tessera.requests                     <- imported by every edge
    layer 6   tessera.api, tessera.web, tessera.portal, tessera.cli
    layer 7   tessera.app (mounts the edges)

So `tessera.requests` may import runtime, auth, data and errors, and never an edge or
`tessera.app`; nothing below layer 6 imports it.

- `deps`: the FastAPI dependencies routes put in `Depends(...)` and the request parsers.
- `cookies`: the signed session cookie of the web UI (and later the portal).
- `middleware`, `guards`, `headers`, `limits`, `retries`: what wraps every HTTP request —
  refusing a NUL in the address, the security headers, the statements' time limit, and a
  request the database undid for a conflict run again.
"""
