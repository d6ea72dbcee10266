"""Every API route needs authentication, except the ones declared public here (reference data and login).

The list of routes comes from the OpenAPI document, so a new route is checked without anyone listing it: it
either answers 401 to an anonymous caller or must be added to PUBLIC with a reason.
"""

from __future__ import annotations

import re

# Public on purpose: liveness, point lookup and the read-only reference data (boundaries, catalogue) that
# citizen-facing clients need, and the login itself.
PUBLIC_PREFIXES = (
    "/healthz",
    "/api/v1/locate",
    "/api/v1/areas",
    "/api/v1/catalog",
    "/api/v1/auth/login",
    # Citizen reports (随手拍) need no login: report, photo upload, status and rating by tracking code. They are
    # rate-limited per address (and phone) and show only cases.public.public_view (domains/snapshot).
    "/api/v1/public",
)


def test_every_non_public_api_route_refuses_anonymous_callers(app, client):
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/") or path.startswith(PUBLIC_PREFIXES):
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations:
            response = client.request(method.upper(), url, json={})
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            checked += 1
    assert checked >= 30  # cases, media, auth, users, audit ...
