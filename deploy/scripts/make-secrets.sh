#!/usr/bin/env bash
# Create the secret files of deploy/compose.prod.yml with random values.
#
#   sudo deploy/scripts/make-secrets.sh [DIR]      (default: deploy/secrets, or $SECRETS_DIR)
#
# Files (one value each, no trailing newline):
#   postgres_password  PostgreSQL password of $POSTGRES_USER (read by the db container, uid 70)
#   database_url       postgresql://$POSTGRES_USER:<password>@db:5432/$POSTGRES_DB (app, uid 1001)
#   secret_key         BOOKING_SECRET_KEY, 64 random URL-safe characters (app, uid 1001)
#   smtp_password      BOOKING_SMTP_PASSWORD: empty; write your SMTP password into it (app)
#   postgres_monitor_password  the postgres exporter's pg_monitor login (db creates the role at
#                      its first start; the exporter, uid 65534, reads it through its group)
#
# Never overwrites: if any file exists the script stops before writing anything (rotate a
# secret by hand, knowing what it breaks). Everything is created under umask 077. Compose
# bind-mounts file secrets with their host owner and mode, so as root the script gives each file
# to the uid of the container that reads it (mode 0400); otherwise files stay 0600 and owned by
# you, and the script prints the chown commands to run.
set -euo pipefail
umask 077

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-${SECRETS_DIR:-$script_dir/../secrets}}"
db_user="${POSTGRES_USER:-booking}"
db_name="${POSTGRES_DB:-booking}"
db_host="${POSTGRES_HOST:-db}"
app_uid="${APP_UID:-1001}"
postgres_uid="${POSTGRES_UID:-70}"
exporter_gid="${EXPORTER_GID:-65534}"

files=(postgres_password database_url secret_key smtp_password postgres_monitor_password)
for name in "${files[@]}"; do
    if [[ -e "$dir/$name" ]]; then
        echo "make-secrets: $dir/$name exists; refusing to overwrite any secret" >&2
        exit 1
    fi
done
if [[ ! "$db_user" =~ ^[a-z_][a-z0-9_]*$ || ! "$db_name" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    echo "make-secrets: POSTGRES_USER and POSTGRES_DB must be plain lower-case identifiers" >&2
    exit 2
fi

# URL-safe random text from the kernel's CSPRNG (head ends first: no SIGPIPE under pipefail).
random_text() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

mkdir -p "$dir"
chmod 0700 "$dir"
password="$(random_text 32)"
# noclobber: a file that appeared meanwhile is not overwritten either.
set -o noclobber
printf '%s' "$password" >"$dir/postgres_password"
printf 'postgresql://%s:%s@%s:5432/%s' "$db_user" "$password" "$db_host" "$db_name" >"$dir/database_url"
printf '%s' "$(random_text 48)" >"$dir/secret_key"
: >"$dir/smtp_password"
printf '%s' "$(random_text 32)" >"$dir/postgres_monitor_password"
set +o noclobber

owner_of() {
    case "$1" in
        postgres_password) echo "$postgres_uid:$postgres_uid" ;;
        postgres_monitor_password) echo "$postgres_uid:$exporter_gid" ;;
        *) echo "$app_uid:$app_uid" ;;
    esac
}
mode_of() { if [[ "$1" == postgres_monitor_password ]]; then echo 0440; else echo 0400; fi; }
if [[ "$(id -u)" == 0 ]]; then
    for name in "${files[@]}"; do
        chown "$(owner_of "$name")" "$dir/$name"
        chmod "$(mode_of "$name")" "$dir/$name"
    done
    echo "make-secrets: wrote ${files[*]} to $dir (mode 0400/0440, owned by the container users)"
else
    echo "make-secrets: wrote ${files[*]} to $dir (mode 0600, owned by you)."
    echo "The containers cannot read them yet; run as root:"
    for name in "${files[@]}"; do
        echo "  chown $(owner_of "$name") $dir/$name && chmod $(mode_of "$name") $dir/$name"
    done
fi
