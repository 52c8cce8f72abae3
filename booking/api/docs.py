"""The API's documentation: ``GET /api/openapi.json`` and ``GET /api/docs`` (Swagger UI).

The OpenAPI document is a reviewed file, ``openapi.json`` beside this module, not generated
from the code: the API's routes build no response models, and the document says what the
clients of the predecessor rely on (reference/predecessor.md). tests/test_openapi_doc.py keeps
it in step with the app's routes and request models, and tests/test_api_fuzz.py checks every
live answer against it. A new endpoint is documented there in the same change.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from booking import __version__

DOCUMENT = Path(__file__).with_name("openapi.json")
OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"

# Swagger UI from the CDN (booking/headers.py gives this one page the policy that allows it).
SWAGGER_UI = f"""<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
<title>Booking API - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({{
  url: "{OPENAPI_URL}",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
</script>
</body>
</html>
"""


@cache
def document() -> bytes:
    """Read on the first request, then kept (about 50 KB): a process nobody asks pays nothing.
    The version is the running code's, so the file need not change with each release."""
    doc = json.loads(DOCUMENT.read_bytes())
    doc["info"]["version"] = __version__
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


async def openapi_json(_request: Request) -> Response:
    return Response(document(), media_type="application/json")


async def swagger_ui(_request: Request) -> HTMLResponse:
    return HTMLResponse(SWAGGER_UI)


routes: list[BaseRoute] = [
    Route(OPENAPI_URL, openapi_json, methods=["GET"]),
    Route(DOCS_URL, swagger_ui, methods=["GET"]),
]
