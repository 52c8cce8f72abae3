#!/usr/bin/env bash
# A read-only login for the postgres exporter (monitoring profile): member of pg_monitor, which
# reads statistics but no table of the app. The official postgres image runs every script in
# /docker-entrypoint-initdb.d once, on the first start with an empty data directory; on an
# existing installation run it by hand (docs/observability.md).
#
#   POSTGRES_USER, POSTGRES_DB        the image's variables (the owner connects)
#   MONITOR_USER                      default booking_monitor
#   MONITOR_PASSWORD_FILE             default /run/secrets/postgres_monitor_password
set -euo pipefail

# The exporter (0.11) holds 3 connections; the limit keeps it from crowding out the app.

user="${MONITOR_USER:-booking_monitor}"
password_file="${MONITOR_PASSWORD_FILE:-/run/secrets/postgres_monitor_password}"
case "$user" in
    *[!a-z0-9_]* | [!a-z_]*)
        echo "10-monitor-role: MONITOR_USER must be a plain lower-case identifier" >&2
        exit 2
        ;;
esac
if [ ! -s "$password_file" ]; then
    echo "10-monitor-role: $password_file is missing or empty; no monitoring role created" >&2
    exit 0
fi

# The password travels as a psql variable (:'password' quotes it as a literal), never on the
# command line, where `ps` would show it.
password="$(cat "$password_file")"
export password
psql -v ON_ERROR_STOP=1 -v user="$user" --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
\getenv password password
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L CONNECTION LIMIT 4 IN ROLE pg_monitor',
              :'user', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'user', :'password')
WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SQL
