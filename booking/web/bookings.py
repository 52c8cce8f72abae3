"""Pages: bookings."""

from __future__ import annotations

from booking.web.core import page_router

router = page_router()
