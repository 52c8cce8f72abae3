"""booking: a self-hosted booking system for a family's shared house."""

import sys

__version__ = "0.1.0"

# FastAPI probes every route annotation for a pydantic v1 model by importing `pydantic.v1`,
# which no code of ours uses: 1.6 MB of RSS for a `False`. A None entry makes that import fail,
# and FastAPI treats the failure as "no v1 models" (fastapi/_compat/shared.py).
sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]
