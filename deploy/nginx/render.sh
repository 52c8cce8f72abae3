#!/usr/bin/env bash
# Render the nginx configuration of deploy/nginx for a place other than the Compose container.
#
#   deploy/nginx/render.sh OUTPUT_DIR
#
# Copies nginx.conf and its includes into OUTPUT_DIR, replacing the Compose values written
# literally in them by the values below (environment variables; the defaults are the Compose
# values, so with no variables set the output equals the input). nginx.conf stays the one source
# of truth: this script only changes addresses and paths, never behaviour.
#
#   NGINX_HTTP_LISTEN    "8080"                 e.g. "80" or "127.0.0.1:18080"
#   NGINX_HTTPS_LISTEN   "8443"                 e.g. "443" or "127.0.0.1:18443"
#   NGINX_REDIRECT_PORT  ""                     HTTPS port in the redirect when it is not 443
#   NGINX_CONF_DIR       "/etc/nginx/booking"   where the includes (and upstream.conf) live
#   NGINX_RUN_DIR        "/tmp"                 pid file and temporary files
#   NGINX_STATIC_ROOT    "/srv/booking/static"  served at /static/
#   NGINX_ACME_ROOT      "/srv/booking/acme"    webroot for Let's Encrypt HTTP-01 challenges
#   NGINX_TLS_DIR        "/etc/nginx/tls"       fullchain.pem + privkey.pem
#   NGINX_ACCESS_LOG     "/dev/stdout"          or a file, or "off"
#   NGINX_UPSTREAM       ""                     e.g. "127.0.0.1:8000": also write upstream.conf
#                                               (otherwise the shipped one, app:8000, is copied)
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$1"
mkdir -p "$out"

http_listen="${NGINX_HTTP_LISTEN:-8080}"
https_listen="${NGINX_HTTPS_LISTEN:-8443}"
redirect_port="${NGINX_REDIRECT_PORT:-}"
conf_dir="${NGINX_CONF_DIR:-/etc/nginx/booking}"
run_dir="${NGINX_RUN_DIR:-/tmp}"
static_root="${NGINX_STATIC_ROOT:-/srv/booking/static}"
acme_root="${NGINX_ACME_ROOT:-/srv/booking/acme}"
tls_dir="${NGINX_TLS_DIR:-/etc/nginx/tls}"
access_log="${NGINX_ACCESS_LOG:-/dev/stdout}"
upstream="${NGINX_UPSTREAM:-}"

for value in "$http_listen" "$https_listen" "$redirect_port" "$conf_dir" "$run_dir" \
    "$static_root" "$acme_root" "$tls_dir" "$access_log" "$upstream"; do
    if [[ "$value" == *[\|\;\&\ ]* ]]; then
        echo "render.sh: refusing a value with '|', ';', '&' or a space: $value" >&2
        exit 2
    fi
done

# shellcheck disable=SC2016  # nginx variables, not shell ones
redirect='https://$host$request_uri'
if [[ -n "$redirect_port" && "$redirect_port" != 443 ]]; then
    redirect="https://\$host:$redirect_port\$request_uri"
fi
if [[ "$access_log" == off ]]; then
    access_rule='access_log off;'
else
    access_rule="access_log $access_log booking;"
fi

for file in "$src"/*.conf; do
    name="$(basename "$file")"
    if [[ "$name" == upstream.conf && -n "$upstream" ]]; then
        printf '# Rendered by deploy/nginx/render.sh\nupstream booking_app {\n    server %s;\n    keepalive 8;\n}\n' \
            "$upstream" >"$out/$name"
        continue
    fi
    sed -e "s|listen 8080 |listen $http_listen |" \
        -e "s|listen 8443 |listen $https_listen |" \
        -e "s|/etc/nginx/booking/|$conf_dir/|g" \
        -e "s|/tmp/nginx|$run_dir/nginx|g" \
        -e "s|/srv/booking/static/|$static_root/|g" \
        -e "s|/srv/booking/acme|$acme_root|g" \
        -e "s|/etc/nginx/tls/|$tls_dir/|g" \
        -e "s|access_log /dev/stdout booking;|$access_rule|" \
        -e "s|https://\$host\$request_uri|$redirect|" \
        "$file" >"$out/$name"
done
