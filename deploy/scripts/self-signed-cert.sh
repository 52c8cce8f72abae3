#!/usr/bin/env bash
# A self-signed TLS certificate so nginx can start before Let's Encrypt has issued one.
#
#   sudo deploy/scripts/self-signed-cert.sh [DIR] [HOSTNAME]
#       DIR       default: deploy/tls (or $TLS_DIR); gets fullchain.pem and privkey.pem,
#                 the names certbot uses, so a real certificate later replaces them 1:1
#       HOSTNAME  default: the host part of $BOOKING_SITE_URL, else `hostname -f`
#
# ECDSA P-256 (fast handshakes on the Pi), valid 30 days (it is meant to be replaced), with
# subjectAltName for the host name, localhost and 127.0.0.1. Refuses to overwrite an existing
# certificate. The key is created under umask 077; as root it is given to nginx's uid
# ($NGINX_UID/$NGINX_GID, default 101) with mode 0400, because Compose mounts it with the host owner.
set -euo pipefail
umask 077

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-${TLS_DIR:-$script_dir/../tls}}"
host="${2:-}"
if [[ -z "$host" && -n "${BOOKING_SITE_URL:-}" ]]; then
    host="${BOOKING_SITE_URL#*://}"
    host="${host%%/*}"
    host="${host%%:*}"
fi
if [[ -z "$host" ]]; then
    host="$(hostname -f 2>/dev/null || hostname)"
fi
if [[ ! "$host" =~ ^[A-Za-z0-9.-]+$ ]]; then
    echo "self-signed-cert: not a host name: $host" >&2
    exit 2
fi
nginx_uid="${NGINX_UID:-101}"
nginx_gid="${NGINX_GID:-$nginx_uid}"
days="${CERT_DAYS:-30}"

if [[ -e "$dir/fullchain.pem" || -e "$dir/privkey.pem" ]]; then
    echo "self-signed-cert: $dir already holds a certificate; refusing to overwrite it" >&2
    exit 1
fi
mkdir -p "$dir"
openssl req -x509 -new -nodes -sha256 -days "$days" \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" \
    -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
chmod 0444 "$dir/fullchain.pem"
chmod 0400 "$dir/privkey.pem"
if [[ "$(id -u)" == 0 ]]; then
    chown "$nginx_uid:$nginx_gid" "$dir/privkey.pem"
fi
echo "self-signed-cert: $dir/fullchain.pem for $host, valid $days days (replace it with Let's Encrypt)"
