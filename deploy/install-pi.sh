#!/usr/bin/env bash
# Install booking without Docker on Raspberry Pi OS / Debian 12 "bookworm" (arm64 or amd64):
# nginx in front, the app as the hardened systemd units booking@blue / booking@green (blue-green
# deploys with deploy/bluegreen.sh), PostgreSQL (default) or SQLite, and the backup timer.
#
#   sudo deploy/install-pi.sh [--db postgresql|sqlite] [--site-url https://booking.example.org]
#                             [--dry-run]
#
# Run it from a checkout of the release to install (the checkout becomes /opt/booking/src, the
# source of later `bluegreen.sh deploy <tag>` runs). Idempotent: a second run changes nothing that
# exists (secrets, database, the live colour) and only brings files and packages up to date.
# --dry-run prints every step and command without changing anything (no root needed).
#
# Layout:
#   /opt/booking/releases/<name>/venv   one venv per release; /opt/booking/{blue,green} point at one
#   /opt/booking/current                -> the live colour (CLI wrapper /usr/local/bin/booking)
#   /etc/booking/booking.env            settings (no secrets), /etc/booking/slot-<colour>.env ports
#   /etc/booking/secrets/               secret_key, database_url, smtp_password (root, 0600),
#                                       handed to the units as systemd credentials
#   /var/lib/booking                    data (SQLite file, backups), owned by the `booking` user
#   /etc/nginx/booking/                 deploy/nginx rendered for this host; upstream.conf is
#                                       swapped by bluegreen.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB=postgresql
SITE_URL=""
DRY_RUN=0
PREFIX=/opt/booking
ETC=/etc/booking
DATA=/var/lib/booking
NGINX_DIR=/etc/nginx/booking
BLUE_PORT=8001
GREEN_PORT=8002
UV_VERSION=0.13.9

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --db)
            DB="${2:-}"
            shift 2
            ;;
        --site-url)
            SITE_URL="${2:-}"
            shift 2
            ;;
        --dry-run) DRY_RUN=1 && shift ;;
        -h | --help) usage ;;
        *)
            echo "install-pi: unknown option $1" >&2
            usage
            ;;
    esac
done
[[ "$DB" == postgresql || "$DB" == sqlite ]] || {
    echo "install-pi: --db must be postgresql or sqlite" >&2
    exit 2
}
if [[ -z "$SITE_URL" ]]; then
    SITE_URL="https://$(hostname -f 2>/dev/null || hostname)"
fi
if [[ ! "$SITE_URL" =~ ^https?://[A-Za-z0-9.:-]+/?$ ]]; then
    echo "install-pi: --site-url must look like https://booking.example.org" >&2
    exit 2
fi
HOST="${SITE_URL#*://}"
HOST="${HOST%%[:/]*}"

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
# run CMD...: run a command, or print it in a dry run.
run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        printf '    + %s\n' "$*"
    else
        "$@"
    fi
}
# put MODE OWNER DEST < content: write a file atomically when its content changed
# (PUT_CHANGED=1 then).
PUT_CHANGED=0
put() {
    local mode="$1" owner="$2" dest="$3" tmp
    PUT_CHANGED=1
    if [[ "$DRY_RUN" == 1 ]]; then
        printf '    + write %s (mode %s, owner %s)\n' "$dest" "$mode" "$owner"
        cat >/dev/null
        return 0
    fi
    tmp="$(mktemp "$dest.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    if [[ -f "$dest" ]] && cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
        PUT_CHANGED=0
    else
        mv -f "$tmp" "$dest"
        note "wrote $dest"
    fi
}
random_text() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

# ---------------------------------------------------------------------------------------------
step "checks"
if [[ "$DRY_RUN" != 1 && "$(id -u)" != 0 ]]; then
    echo "install-pi: run as root (sudo), or with --dry-run" >&2
    exit 1
fi
# shellcheck source=/dev/null
. /etc/os-release
note "system: ${PRETTY_NAME:-unknown}, $(uname -m), $(awk '/MemTotal/ {printf "%d MB", $2/1024}' /proc/meminfo)"
if [[ "${VERSION_CODENAME:-}" != bookworm ]]; then
    note "warning: made for Debian 12 bookworm (Raspberry Pi OS 12); this is ${VERSION_CODENAME:-unknown}"
fi
note "database: $DB; site: $SITE_URL; release: $REPO"
[[ -f "$REPO/pyproject.toml" && -d "$REPO/deploy/nginx" ]] || {
    echo "install-pi: $REPO is not a booking checkout" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
step "Debian packages"
packages=(python3 python3-venv python3-pip nginx curl openssl ca-certificates git util-linux)
if [[ "$DB" == postgresql ]]; then packages+=(postgresql postgresql-client); fi
run apt-get -o DPkg::Lock::Timeout=600 update -q
run env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${packages[@]}"

# ---------------------------------------------------------------------------------------------
step "system user and directories"
if id booking >/dev/null 2>&1; then
    note "user booking exists"
else
    run useradd --system --user-group --home-dir "$DATA" --no-create-home \
        --shell /usr/sbin/nologin --comment "booking web app" booking
fi
run install -d -m 0755 -o root -g root "$PREFIX" "$PREFIX/releases"
run install -d -m 0750 -o booking -g booking "$DATA" "$DATA/backups"
run install -d -m 0700 -o root -g root /var/lib/booking-deploy
run install -d -m 0755 -o root -g root "$ETC"
run install -d -m 0700 -o root -g root "$ETC/secrets"
run install -d -m 0755 -o root -g root "$NGINX_DIR" /srv/booking /srv/booking/acme

# ---------------------------------------------------------------------------------------------
step "secrets in $ETC/secrets (root only, 0600; never overwritten)"
new_secret() { # new_secret NAME VALUE
    if [[ -s "$ETC/secrets/$1" || ("$1" == smtp_password && -e "$ETC/secrets/$1") ]]; then
        note "$ETC/secrets/$1 exists; kept"
    else
        printf '%s' "$2" | put 0600 root:root "$ETC/secrets/$1"
    fi
}
new_secret secret_key "$(random_text 48)"
new_secret smtp_password ""
if [[ "$DB" == postgresql ]]; then
    if [[ "$DRY_RUN" == 1 ]]; then
        db_password="(random)"
    elif [[ -s "$ETC/secrets/postgres_password" ]]; then
        db_password="$(cat "$ETC/secrets/postgres_password")"
    else
        db_password="$(random_text 32)"
    fi
    new_secret postgres_password "$db_password"
    new_secret database_url "postgresql://booking:$db_password@127.0.0.1:5432/booking"
else
    new_secret database_url "sqlite:///$DATA/booking.sqlite3"
fi

# ---------------------------------------------------------------------------------------------
step "settings in $ETC (no secrets in these files)"
if [[ -f "$ETC/booking.env" ]]; then
    note "$ETC/booking.env exists; kept (edit it, then: systemctl restart booking@\$(cat /var/lib/booking-deploy/active | head -1))"
else
    put 0644 root:root "$ETC/booking.env" <<EOF
# booking settings (see README.md, Configuration). Secrets are NOT here: they are systemd
# credentials from $ETC/secrets (BOOKING_*_FILE is set by the unit).
BOOKING_SITE_URL=$SITE_URL
BOOKING_TIMEZONE=Europe/Berlin
BOOKING_BACKUP_DIR=$DATA/backups
BOOKING_MAIL_FROM=booking@$HOST
#BOOKING_SMTP_HOST=smtp.example.org
#BOOKING_SMTP_PORT=587
#BOOKING_SMTP_USERNAME=booking@example.org
BOOKING_LOG_LEVEL=info
EOF
fi
printf 'SLOT_PORT=%s\n' "$BLUE_PORT" | put 0644 root:root "$ETC/slot-blue.env"
printf 'SLOT_PORT=%s\n' "$GREEN_PORT" | put 0644 root:root "$ETC/slot-green.env"
put 0644 root:root "$ETC/bluegreen.env" <<EOF
# Settings of deploy/bluegreen.sh on this host (sourced by the script).
BG_STATE_DIR=/var/lib/booking-deploy
BG_PREFIX=$PREFIX
BG_SRC_REPO=$PREFIX/src
BG_UPSTREAM_FILE=$NGINX_DIR/upstream.conf
BG_BLUE_PORT=$BLUE_PORT
BG_GREEN_PORT=$GREEN_PORT
BG_HEALTH_TIMEOUT=120
BG_DRAIN_SECONDS=10
BG_UV=$PREFIX/tools/bin/uv
EOF

# ---------------------------------------------------------------------------------------------
if [[ "$DB" == postgresql ]]; then
    step "PostgreSQL (deploy/postgres/postgresql.conf: the 128 MB configuration)"
    pg_conf_dir="$(find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -type d 2>/dev/null | sort -V | tail -n1)"
    pg_conf_dir="${pg_conf_dir:-/etc/postgresql/15/main}"
    put 0644 root:root "$pg_conf_dir/conf.d/booking.conf" <"$REPO/deploy/postgres/postgresql.conf"
    note "local connections stay on Debian's pg_hba.conf (peer for the socket, scram-sha-256 over TCP)"
    if [[ "$PUT_CHANGED" == 1 ]]; then run systemctl restart postgresql; fi
    run systemctl enable --now postgresql
    # role and database, idempotently; the password is passed on stdin, never on a command line
    if [[ "$DRY_RUN" == 1 ]]; then
        note "+ psql: CREATE ROLE booking LOGIN PASSWORD '***' (or ALTER ROLE); CREATE DATABASE booking OWNER booking"
    else
        runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -v "pw=$db_password" <<'SQL'
SELECT format('CREATE ROLE booking LOGIN PASSWORD %L', :'pw')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booking') \gexec
SELECT format('ALTER ROLE booking PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE booking OWNER booking ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'booking') \gexec
SQL
        note "role and database booking are ready"
    fi
fi

# ---------------------------------------------------------------------------------------------
step "release: the app in a venv under $PREFIX/releases"
if [[ ! -d "$PREFIX/src/.git" ]]; then
    if [[ -d "$REPO/.git" ]]; then
        run git clone --quiet "$REPO" "$PREFIX/src"
    else
        note "$REPO is not a git checkout: later deploys need a path, not a tag"
    fi
fi
if [[ ! -x "$PREFIX/tools/bin/uv" ]]; then
    run python3 -m venv "$PREFIX/tools"
    run "$PREFIX/tools/bin/pip" install --quiet "uv==$UV_VERSION"
fi
# booking@.service runs with PYTHONOPTIMIZE=2: Debian ships no -OO bytecode of the stdlib, and
# the service may not write any (PYTHONDONTWRITEBYTECODE, read-only /usr).
run python3 -OO -m compileall -q -j 0 "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
release="$(git -C "$REPO" describe --tags --always 2>/dev/null || basename "$REPO")"
run env BG_CONFIG="$ETC/bluegreen.env" "$REPO/deploy/bluegreen.sh" install "$REPO"
note "release $release installed in $PREFIX/releases/$release"

# ---------------------------------------------------------------------------------------------
step "CLI wrapper /usr/local/bin/booking (root only: reads the secrets, runs as user booking)"
put 0750 root:root /usr/local/bin/booking <<'EOF'
#!/usr/bin/env bash
# `sudo booking <command>`: the booking CLI of the live release, with the production settings.
set -euo pipefail
set -a
# shellcheck source=/dev/null
. /etc/booking/booking.env
set +a
export BOOKING_ENV=production BOOKING_DATA_DIR=/var/lib/booking
for name in secret_key database_url smtp_password; do
    var="BOOKING_${name^^}"
    export "$var=$(cat "/etc/booking/secrets/$name")"
done
cd /var/lib/booking
exec runuser -u booking -- /opt/booking/current/venv/bin/booking "$@"
EOF

# ---------------------------------------------------------------------------------------------
step "systemd units (deploy/systemd)"
for unit in "$REPO"/deploy/systemd/*.service "$REPO"/deploy/systemd/*.timer \
    "$REPO"/deploy/systemd/*.slice "$REPO"/deploy/systemd/*.target; do
    [[ -e "$unit" ]] || continue
    run install -m 0644 -o root -g root "$unit" "/etc/systemd/system/$(basename "$unit")"
done
# Memory ceilings for the Debian units of nginx and PostgreSQL (drop-ins): with booking.slice
# (220 MB) the stack's limits add up to 380 MB of the Pi's 512 MB.
run install -d -m 0755 /etc/systemd/system/nginx.service.d /etc/systemd/system/postgresql@.service.d
put 0644 root:root /etc/systemd/system/nginx.service.d/booking-limits.conf <<'EOF'
[Service]
MemoryHigh=24M
MemoryMax=32M
EOF
put 0644 root:root /etc/systemd/system/postgresql@.service.d/booking-limits.conf <<'EOF'
[Service]
# deploy/postgres/postgresql.conf is sized for 128 MB (measured peak 64 MB under pgbench -c 10)
MemoryHigh=112M
MemoryMax=128M
EOF
run systemctl daemon-reload
run systemctl enable booking.target
if [[ -e "$REPO/deploy/systemd/booking-backup.timer" ]]; then
    run systemctl enable --now booking-backup.timer
fi

# ---------------------------------------------------------------------------------------------
step "nginx (deploy/nginx rendered for this host; TLS: self-signed until Let's Encrypt)"
run env NGINX_HTTP_LISTEN=80 NGINX_HTTPS_LISTEN=443 NGINX_CONF_DIR="$NGINX_DIR" \
    NGINX_RUN_DIR=/run NGINX_STATIC_ROOT="$PREFIX/current/static" NGINX_ACME_ROOT=/srv/booking/acme \
    NGINX_TLS_DIR=/etc/nginx/tls NGINX_ACCESS_LOG=/var/log/nginx/booking.access.log \
    "$REPO/deploy/nginx/render.sh" "$NGINX_DIR.new"
if [[ "$DRY_RUN" != 1 ]]; then
    # keep the live upstream (bluegreen.sh owns it); replace everything else
    rm -f "$NGINX_DIR.new/upstream.conf"
    cp -a "$NGINX_DIR.new/." "$NGINX_DIR/"
    rm -rf "$NGINX_DIR.new"
    mv -f "$NGINX_DIR/nginx.conf" /etc/nginx/nginx.conf
fi
if [[ ! -e "$NGINX_DIR/upstream.conf" ]]; then
    run env BG_CONFIG="$ETC/bluegreen.env" "$REPO/deploy/bluegreen.sh" init-upstream blue
fi
if [[ ! -s /etc/nginx/tls/fullchain.pem ]]; then
    run env NGINX_UID=0 "$REPO/deploy/scripts/self-signed-cert.sh" /etc/nginx/tls "$HOST"
fi
run rm -f /etc/nginx/sites-enabled/default
run nginx -t -q

# ---------------------------------------------------------------------------------------------
step "first start: migrate, start blue, switch nginx to it"
if [[ -s /var/lib/booking-deploy/active ]]; then
    note "a colour is live ($(head -n1 /var/lib/booking-deploy/active)); not touched. Upgrade with:"
    note "  sudo $REPO/deploy/bluegreen.sh deploy <tag-or-path>"
else
    run env BG_CONFIG="$ETC/bluegreen.env" BG_SKIP_BACKUP=1 "$REPO/deploy/bluegreen.sh" \
        link blue "$REPO"
    run ln -sfn blue "$PREFIX/current"
    run booking migrate
    run systemctl enable --now booking@blue.service
    run env BG_CONFIG="$ETC/bluegreen.env" "$REPO/deploy/bluegreen.sh" switch blue
    run systemctl reload-or-restart nginx
fi

# ---------------------------------------------------------------------------------------------
step "done"
cat <<EOF
Next steps:
  1. Create the first administrator:
       sudo booking create-admin --email you@example.org --first-name You --last-name Surname
  2. Real TLS certificate (Let's Encrypt, HTTP-01 through nginx's /.well-known/acme-challenge/):
       sudo apt-get install certbot
       sudo certbot certonly --webroot -w /srv/booking/acme -d $HOST \\
            --deploy-hook 'ln -sf /etc/letsencrypt/live/$HOST/fullchain.pem /etc/nginx/tls/fullchain.pem && ln -sf /etc/letsencrypt/live/$HOST/privkey.pem /etc/nginx/tls/privkey.pem && systemctl reload nginx'
  3. SMTP: set BOOKING_SMTP_* in $ETC/booking.env and the password in $ETC/secrets/smtp_password.
  4. Check:  curl -fsS https://$HOST/health/ready   and   sudo $REPO/deploy/bluegreen.sh status
  5. Upgrade without downtime:  sudo $REPO/deploy/bluegreen.sh deploy <git-tag>
See docs/deployment.md.
EOF
