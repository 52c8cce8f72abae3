"""Container health check: GET /health/ready on the app inside the container (stdlib only).

Exit 0 when the app answers 200 (database reachable, schema current), 1 otherwise.
"""

import os
import sys
import urllib.request

PORT = os.environ.get("PORT", "8000")
URL = f"http://127.0.0.1:{PORT}/health/ready"

try:
    with urllib.request.urlopen(URL, timeout=4) as response:  # noqa: S310 (fixed http URL)
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure (refused, 503, timeout) means unhealthy
    print(f"unhealthy: {URL}: {exc}", file=sys.stderr)  # noqa: T201
    sys.exit(1)
