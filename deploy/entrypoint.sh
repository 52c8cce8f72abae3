#!/usr/bin/env bash
# Container entry point of the booking image.
#
# Without arguments: export the static files for nginx (when STATIC_EXPORT_DIR is set), bring
# the database schema up to date (`booking migrate`), then replace this shell by
# `booking serve`, the one process of the container.
# With arguments: run them instead (e.g. `booking backup`, `booking create-admin ...`).
#
# Variables (not BOOKING_*: the app refuses unknown BOOKING_* settings):
#   PORT                 port inside the container (8000)
#   FORWARDED_ALLOW_IPS  addresses whose X-Forwarded-* headers are trusted: nginx's (required)
#   STATIC_EXPORT_DIR    copy booking/web/static here for nginx (a volume shared read-only
#                        with nginx); old hashed files stay, so pages of the previous version
#                        still find theirs during a blue-green switch
set -euo pipefail

if [[ $# -gt 0 ]]; then
    exec "$@"
fi

if [[ -n "${STATIC_EXPORT_DIR:-}" ]]; then
    static_src="$(python -c 'import pathlib, booking; print(pathlib.Path(booking.__file__).parent / "web" / "static")')"
    if [[ -d "$static_src" ]]; then
        cp -R --no-preserve=mode,ownership "$static_src"/. "$STATIC_EXPORT_DIR"/
    fi
fi

if [[ -z "${FORWARDED_ALLOW_IPS:-}" ]]; then
    echo "entrypoint: FORWARDED_ALLOW_IPS must name the reverse proxy (nginx) address" >&2
    exit 2
fi

booking migrate
exec booking serve --host 0.0.0.0 --port "${PORT:-8000}" --forwarded-allow-ips "$FORWARDED_ALLOW_IPS"
