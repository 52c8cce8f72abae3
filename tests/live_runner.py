"""Start the app for tests: ``python -m tests.live_runner --port N [--unsafe-no-lock]``.

Like ``booking serve``, with one switch the real server does not have: ``--unsafe-no-lock`` sets
``booking.domain.bookings.LOCK_BOOKINGS = False``, so the capacity check runs outside the write
transaction. The concurrency tests use it to prove that they can see a race.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.live_runner")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--unsafe-no-lock",
        action="store_true",
        help="set booking.domain.bookings.LOCK_BOOKINGS = False (capacity check unlocked)",
    )
    args = parser.parse_args(argv)

    import uvicorn

    from booking.app import create_app
    from booking.config import load_settings
    from booking.domain import bookings

    settings = load_settings()
    if args.unsafe_no_lock:
        bookings.LOCK_BOOKINGS = False
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        ws="none",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
