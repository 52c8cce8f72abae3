#!/usr/bin/env bash
# Zero-downtime blue-green deploys for booking, for the systemd install and for Compose.
#
#   deploy/bluegreen.sh [--compose] deploy <version-or-path>   deploy to the idle colour
#   deploy/bluegreen.sh [--compose] switch <blue|green>        point nginx at a running colour
#   deploy/bluegreen.sh [--compose] status                     active colour, ports, versions
#   deploy/bluegreen.sh install <version-or-path>              only install a release (systemd)
#   deploy/bluegreen.sh upstream|init-upstream <blue|green>    print / write the upstream file
#
# A deploy: pre-flight (free memory and disk) -> backup -> install the release for the idle colour
# -> start it beside the active one -> wait for GET /health/ready -> write the idle colour's nginx
# upstream file, swap it in atomically, `nginx -t`, `nginx -s reload` -> drain -> stop the old
# colour -> record the new colour in the state file. If the new colour does not get ready in time
# (or nginx rejects the new configuration), the new colour is stopped, nginx keeps (or gets back)
# the old upstream, the reason is printed and the exit status is 1. The old colour never stops
# before the new one is serving.
#
# Everything that touches the host is a command in an environment variable, so the same logic
# drives systemd units, Compose services or (in the tests) plain processes:
#   BG_START_CMD, BG_STOP_CMD, BG_HEALTH_CMD, BG_INSTALL_CMD, BG_BACKUP_CMD,
#   BG_NGINX_TEST_CMD, BG_NGINX_RELOAD_CMD
# Each runs as `bash -c "$CMD" bluegreen <colour> <port> <version>`, so the command can use $1, $2
# and $3 (or the exported BG_COLOR, BG_PORT, BG_VERSION, BG_ADDR). Settings may also come from
# the file named by BG_CONFIG (default /etc/booking/bluegreen.env; ignored when missing).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE=native
if [[ "${1:-}" == "--compose" ]]; then
    MODE=compose
    shift
fi

BG_CONFIG="${BG_CONFIG:-/etc/booking/bluegreen.env}"
if [[ -r "$BG_CONFIG" ]]; then
    # shellcheck source=/dev/null
    source "$BG_CONFIG"
fi

# ---- settings (all overridable from the environment or BG_CONFIG) ------------------------------
BG_STATE_DIR="${BG_STATE_DIR:-/var/lib/booking-deploy}"
BG_BLUE_PORT="${BG_BLUE_PORT:-8001}"
BG_GREEN_PORT="${BG_GREEN_PORT:-8002}"
BG_HEALTH_TIMEOUT="${BG_HEALTH_TIMEOUT:-90}"       # seconds for the new colour to get ready
BG_DRAIN_SECONDS="${BG_DRAIN_SECONDS:-10}"         # old colour keeps running after the switch
BG_MIN_FREE_MEM_MB="${BG_MIN_FREE_MEM_MB:-120}"    # MemAvailable needed to run two colours
BG_MIN_FREE_DISK_MB="${BG_MIN_FREE_DISK_MB:-300}"  # free space on the data/release file systems
BG_DISK_PATHS="${BG_DISK_PATHS:-/var/lib/booking /opt/booking}"
BG_SKIP_BACKUP="${BG_SKIP_BACKUP:-0}"
BG_DRY_RUN="${BG_DRY_RUN:-0}"

# default NAME VALUE: set NAME to VALUE unless the environment (or BG_CONFIG) already set it.
# Hook commands are single-quoted: they are evaluated later, with $1=colour $2=port $3=version.
default() { if [[ -z "${!1:-}" ]]; then printf -v "$1" '%s' "$2"; fi; }

# shellcheck disable=SC2016 # the hooks expand later, inside run_hook
if [[ "$MODE" == compose ]]; then
    default BG_COMPOSE_DIR "$SCRIPT_DIR"
    default BG_COMPOSE "docker compose -f $BG_COMPOSE_DIR/compose.prod.yml -f $BG_COMPOSE_DIR/compose.bluegreen.yml"
    BG_STATE_DIR="${BG_COMPOSE_STATE_DIR:-$BG_COMPOSE_DIR/state}"
    # nginx mounts the directory of this file (not the file), so the rename is seen inside it.
    default BG_UPSTREAM_FILE "$BG_COMPOSE_DIR/nginx/upstream.conf"
    default BG_BLUE_ADDR "app:8000"
    default BG_GREEN_ADDR "app-green:8000"
    BG_DISK_PATHS="${BG_COMPOSE_DISK_PATHS:-$BG_COMPOSE_DIR /var/lib/docker}"
    default BG_INSTALL_CMD 'compose_for "$1" "$3" pull --quiet "$(service_of "$1")"'
    default BG_START_CMD 'compose_for "$1" "$3" up -d --no-deps "$(service_of "$1")"'
    default BG_STOP_CMD 'compose_for "$1" "$3" stop "$(service_of "$1")"'
    default BG_HEALTH_CMD 'compose_healthy "$1"'
    default BG_BACKUP_CMD 'compose_for "$1" "" exec -T "$(service_of "$1")" booking backup'
    default BG_NGINX_TEST_CMD '$BG_COMPOSE exec -T nginx nginx -t -q'
    default BG_NGINX_RELOAD_CMD '$BG_COMPOSE exec -T nginx nginx -s reload'
    default BG_ACTIVATE_CMD 'true'
else
    default BG_UPSTREAM_FILE /etc/nginx/booking/upstream.conf
    default BG_BLUE_ADDR "127.0.0.1:$BG_BLUE_PORT"
    default BG_GREEN_ADDR "127.0.0.1:$BG_GREEN_PORT"
    default BG_PREFIX /opt/booking
    default BG_SRC_REPO "$BG_PREFIX/src"
    default BG_INSTALL_CMD 'install_release "$3" && link_release "$1" "$3"'
    default BG_START_CMD 'systemctl restart "booking@$1.service"'
    default BG_STOP_CMD 'systemctl stop "booking@$1.service"'
    default BG_HEALTH_CMD 'curl -fsS -o /dev/null --max-time 2 "http://$BG_ADDR/health/ready"'
    # the hardened oneshot unit of the backups; `systemctl start` waits until it has finished
    default BG_BACKUP_CMD 'systemctl start booking-backup.service'
    default BG_NGINX_TEST_CMD 'nginx -t -q'
    default BG_NGINX_RELOAD_CMD 'nginx -s reload'
    # `booking` on the PATH and the backup unit use /opt/booking/current -> the live colour
    default BG_ACTIVATE_CMD 'native_activate "$1"'
fi
BG_UPSTREAM_KEEPALIVE="${BG_UPSTREAM_KEEPALIVE:-8}"

STATE_FILE="$BG_STATE_DIR/active"
LOCK_FILE="$BG_STATE_DIR/lock"

# ---- helpers ------------------------------------------------------------------------------------
log() { printf 'bluegreen: %s\n' "$*" >&2; }
die() {
    printf 'bluegreen: FAILED: %s\n' "$*" >&2
    exit 1
}

other() { if [[ "$1" == blue ]]; then echo green; else echo blue; fi; }
port_of() { if [[ "$1" == blue ]]; then echo "$BG_BLUE_PORT"; else echo "$BG_GREEN_PORT"; fi; }
addr_of() { if [[ "$1" == blue ]]; then echo "$BG_BLUE_ADDR"; else echo "$BG_GREEN_ADDR"; fi; }
service_of() { if [[ "$1" == blue ]]; then echo app; else echo app-green; fi; }

active_colour() {
    if [[ -s "$STATE_FILE" ]]; then
        local colour
        colour="$(head -n1 "$STATE_FILE")"
        [[ "$colour" == blue || "$colour" == green ]] || die "state file $STATE_FILE is corrupt: '$colour'"
        echo "$colour"
    fi
}

# run_hook NAME COLOUR VERSION: evaluate the command in $NAME in a subshell, with $1=colour,
# $2=port, $3=version and BG_COLOR/BG_PORT/BG_ADDR/BG_VERSION exported (for the commands it runs).
run_hook() {
    local name="$1" colour="$2" version="${3:-}"
    local cmd="${!name}"
    if [[ "$BG_DRY_RUN" == 1 ]]; then
        log "dry run: $name $colour $(port_of "$colour") $version: $cmd"
        return 0
    fi
    (
        BG_COLOR="$colour"
        BG_PORT="$(port_of "$colour")"
        BG_ADDR="$(addr_of "$colour")"
        BG_VERSION="$version"
        export BG_COLOR BG_PORT BG_ADDR BG_VERSION BG_STATE_DIR
        set -- "$colour" "$BG_PORT" "$version"
        exec 9>&- # the deploy lock stays with this script, not with the services it starts
        eval "$cmd"
    )
}

# ---- Compose ------------------------------------------------------------------------------------
# compose_for COLOUR VERSION ARGS...: docker compose with both colours' image tags set, so that
# touching one service never changes the other's configuration.
compose_for() {
    local colour="$1" version="$2" blue green
    shift 2
    blue="$(cat "$BG_STATE_DIR/version-blue" 2>/dev/null || echo "${BOOKING_VERSION:-latest}")"
    green="$(cat "$BG_STATE_DIR/version-green" 2>/dev/null || echo "${BOOKING_VERSION:-latest}")"
    if [[ -n "$version" && "$colour" == blue ]]; then blue="$version"; fi
    if [[ -n "$version" && "$colour" == green ]]; then green="$version"; fi
    # shellcheck disable=SC2086 # BG_COMPOSE is a command line
    DEPLOY_BLUE_VERSION="$blue" DEPLOY_GREEN_VERSION="$green" $BG_COMPOSE "$@"
}

# compose_healthy COLOUR: the container's HEALTHCHECK (GET /health/ready) says healthy.
compose_healthy() {
    local id
    id="$(compose_for "$1" "" ps -q "$(service_of "$1")")"
    [[ -n "$id" && "$(docker inspect -f '{{.State.Health.Status}}' "$id")" == healthy ]]
}

# ---- native (systemd) releases ------------------------------------------------------------------
# The release name: a git tag/commit as given; a source tree: its `git describe`, else its name.
release_name() {
    local name
    if [[ -d "$1" ]] && name="$(git -C "$1" describe --tags --always 2>/dev/null)"; then
        echo "$name"
        return 0
    fi
    name="$(basename "$1")"
    echo "${name%.whl}"
}

# install_release VERSION-OR-PATH: a venv in $BG_PREFIX/releases/<name>/venv. A directory (a
# source tree) or a wheel is installed as is; anything else is a git tag or commit of $BG_SRC_REPO.
install_release() {
    local spec="$1" name dest src
    name="$(release_name "$spec")"
    dest="$BG_PREFIX/releases/$name"
    if [[ -f "$dest/.complete" ]]; then
        log "release $name is already installed in $dest"
        return 0
    fi
    rm -rf "$dest"
    mkdir -p "$dest"
    if [[ -d "$spec" || -f "$spec" ]]; then
        src="$spec"
    else
        git -C "$BG_SRC_REPO" fetch --quiet --tags origin || log "warning: git fetch failed; using the local tags"
        mkdir -p "$dest/src"
        git -C "$BG_SRC_REPO" archive "$spec" | tar -x -C "$dest/src"
        src="$dest/src"
    fi
    python3 -m venv "$dest/venv"
    local uv="${BG_UV:-uv}"
    if [[ -d "$src" && -f "$src/uv.lock" ]] && command -v "$uv" >/dev/null; then
        # exactly the locked, hash-checked dependency set
        "$uv" export --project "$src" --frozen --no-dev --no-emit-project --format requirements-txt \
            --output-file "$dest/requirements.txt" >/dev/null
        "$dest/venv/bin/pip" install --quiet --require-hashes -r "$dest/requirements.txt"
        "$dest/venv/bin/pip" install --quiet --no-deps "$src"
    else
        "$dest/venv/bin/pip" install --quiet "$src"
    fi
    "$dest/venv/bin/python" -m compileall -q "$dest/venv" >/dev/null || true
    # and the -OO bytecode the service runs with (PYTHONOPTIMIZE=2 in booking@.service)
    "$dest/venv/bin/python" -OO -m compileall -q "$dest/venv" >/dev/null || true
    # nginx serves /static/ from /opt/booking/current/static (content-hashed names)
    ln -sfn "$(cd "$dest" && echo venv/lib/python3*/site-packages/booking/web/static)" "$dest/static"
    touch "$dest/.complete"
    log "installed release $name in $dest"
}

# native_activate COLOUR: after a switch, `booking` (the CLI wrapper), the backup unit and the
# next boot follow the live colour.
native_activate() {
    ln -sfn "$1" "$BG_PREFIX/current.tmp"
    mv -Tf "$BG_PREFIX/current.tmp" "$BG_PREFIX/current"
    systemctl enable --quiet "booking@$1.service"
    systemctl disable --quiet "booking@$(other "$1").service" || true
}

# link_release COLOUR VERSION-OR-PATH: $BG_PREFIX/<colour> -> releases/<name>, swapped atomically.
link_release() {
    ln -sfn "releases/$(release_name "$2")" "$BG_PREFIX/$1.tmp"
    mv -Tf "$BG_PREFIX/$1.tmp" "$BG_PREFIX/$1"
}

# The nginx upstream for a colour. The upstream name is shared with deploy/nginx/nginx.conf.
upstream_text() {
    cat <<EOF
# Written by deploy/bluegreen.sh: the $1 colour is live. Do not edit; run bluegreen.sh switch.
upstream booking_app {
    server $(addr_of "$1") max_fails=0;
    keepalive $BG_UPSTREAM_KEEPALIVE;
}
EOF
}

# point_upstream COLOUR: upstream.conf -> upstream-<colour>.conf, swapped with one rename.
point_upstream() {
    local colour="$1" dir base
    dir="$(dirname "$BG_UPSTREAM_FILE")"
    base="$(basename "$BG_UPSTREAM_FILE" .conf)"
    upstream_text "$colour" >"$dir/$base-$colour.conf.tmp"
    mv -f "$dir/$base-$colour.conf.tmp" "$dir/$base-$colour.conf"
    ln -sfn "$base-$colour.conf" "$dir/$base.conf.tmp"
    mv -Tf "$dir/$base.conf.tmp" "$BG_UPSTREAM_FILE"
}

# The colour nginx currently points at, from the upstream file (the truth nginx loads).
upstream_colour() {
    local target
    [[ -e "$BG_UPSTREAM_FILE" ]] || return 0
    target="$(grep -Eo 'server [^ ;]+' "$BG_UPSTREAM_FILE" | head -n1 | cut -d' ' -f2 || true)"
    if [[ "$target" == "$BG_BLUE_ADDR" ]]; then
        echo blue
    elif [[ "$target" == "$BG_GREEN_ADDR" ]]; then echo green; fi
}

nginx_switch() {
    local colour="$1" previous="$2" output
    if [[ "$BG_DRY_RUN" == 1 ]]; then
        log "dry run: point $BG_UPSTREAM_FILE at $colour ($(addr_of "$colour")), nginx -t, reload"
        return 0
    fi
    point_upstream "$colour"
    if ! output="$(eval "$BG_NGINX_TEST_CMD" 2>&1)"; then
        if [[ -n "$previous" ]]; then point_upstream "$previous"; fi
        log "nginx -t rejected the configuration for $colour:"
        printf '%s\n' "$output" >&2
        return 1
    fi
    if ! output="$(eval "$BG_NGINX_RELOAD_CMD" 2>&1)"; then
        if [[ -n "$previous" ]]; then point_upstream "$previous"; fi
        log "nginx reload failed: $output"
        return 1
    fi
}

preflight() {
    local avail_kb path free_kb
    avail_kb="$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
    if ((avail_kb / 1024 < BG_MIN_FREE_MEM_MB)); then
        die "pre-flight: only $((avail_kb / 1024)) MB of memory available, need $BG_MIN_FREE_MEM_MB MB to run two versions side by side (BG_MIN_FREE_MEM_MB)"
    fi
    for path in $BG_DISK_PATHS; do
        [[ -e "$path" ]] || continue
        free_kb="$(df -Pk "$path" | awk 'NR == 2 {print $4}')"
        if ((free_kb / 1024 < BG_MIN_FREE_DISK_MB)); then
            die "pre-flight: only $((free_kb / 1024)) MB free on $path, need $BG_MIN_FREE_DISK_MB MB (BG_MIN_FREE_DISK_MB)"
        fi
    done
    log "pre-flight ok: $((avail_kb / 1024)) MB memory available"
}

wait_ready() {
    local colour="$1" version="$2" deadline
    deadline=$((SECONDS + BG_HEALTH_TIMEOUT))
    while ((SECONDS < deadline)); do
        if run_hook BG_HEALTH_CMD "$colour" "$version" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

acquire_lock() {
    mkdir -p "$BG_STATE_DIR"
    exec 9>"$LOCK_FILE"
    flock -n 9 || die "another deploy is running (lock $LOCK_FILE)"
}

# ---- commands -----------------------------------------------------------------------------------
cmd_deploy() {
    local version="${1:?usage: bluegreen.sh deploy <version-or-path>}"
    acquire_lock
    local old new
    old="$(active_colour)"
    if [[ -z "$old" ]]; then
        old="$(upstream_colour)"
    fi
    if [[ -n "$old" ]]; then new="$(other "$old")"; else new=blue; fi
    log "deploying $version as $new ($(addr_of "$new")); active: ${old:-none}"

    preflight
    if [[ "$BG_SKIP_BACKUP" != 1 && -n "$old" ]]; then
        log "backup before the deploy"
        run_hook BG_BACKUP_CMD "$old" "$version" || die "backup failed; nothing was changed (BG_SKIP_BACKUP=1 skips it)"
    fi
    run_hook BG_INSTALL_CMD "$new" "$version" || die "installing $version failed; nothing was changed"

    # Whatever still runs as the idle colour (a failed earlier attempt) must not answer for it.
    run_hook BG_STOP_CMD "$new" "$version" >/dev/null 2>&1 || true
    if [[ "$BG_DRY_RUN" != 1 ]] && run_hook BG_HEALTH_CMD "$new" "$version" >/dev/null 2>&1; then
        die "something still answers as $new ($(addr_of "$new")) after stopping it; refusing to deploy over it"
    fi

    log "starting $new"
    if ! run_hook BG_START_CMD "$new" "$version"; then
        run_hook BG_STOP_CMD "$new" "$version" >/dev/null 2>&1 || true
        die "could not start $version as $new; rolled back, ${old:-nothing} keeps serving"
    fi
    if [[ "$BG_DRY_RUN" != 1 ]] && ! wait_ready "$new" "$version"; then
        run_hook BG_STOP_CMD "$new" "$version" >/dev/null 2>&1 || true
        die "$version ($new, $(addr_of "$new")) did not pass its health check (/health/ready) within ${BG_HEALTH_TIMEOUT}s; rolled back: stopped $new, nginx unchanged, ${old:-nothing} keeps serving"
    fi
    log "$new is ready; switching nginx"
    if ! nginx_switch "$new" "$old"; then
        run_hook BG_STOP_CMD "$new" "$version" >/dev/null 2>&1 || true
        die "switching nginx to $new failed; rolled back: stopped $new, ${old:-nothing} keeps serving"
    fi
    if [[ "$BG_DRY_RUN" != 1 ]]; then
        printf '%s\n%s\n' "$new" "$version" >"$STATE_FILE.tmp"
        mv -f "$STATE_FILE.tmp" "$STATE_FILE"
        printf '%s\n' "$version" >"$BG_STATE_DIR/version-$new"
    fi
    run_hook BG_ACTIVATE_CMD "$new" "$version" || log "warning: BG_ACTIVATE_CMD failed"
    if [[ -n "$old" ]]; then
        log "draining $old for ${BG_DRAIN_SECONDS}s"
        if [[ "$BG_DRY_RUN" != 1 ]]; then sleep "$BG_DRAIN_SECONDS"; fi
        run_hook BG_STOP_CMD "$old" "$version" || log "warning: stopping $old failed; stop it by hand"
    fi
    log "done: $version is live as $new"
}

cmd_switch() {
    local colour="${1:?usage: bluegreen.sh switch <blue|green>}" old
    [[ "$colour" == blue || "$colour" == green ]] || die "colour must be blue or green"
    acquire_lock
    old="$(active_colour)"
    wait_ready "$colour" "" || die "$colour did not get ready within ${BG_HEALTH_TIMEOUT}s; not switching"
    nginx_switch "$colour" "$old" || die "switching nginx to $colour failed"
    printf '%s\n%s\n' "$colour" "$(cat "$BG_STATE_DIR/version-$colour" 2>/dev/null || echo unknown)" >"$STATE_FILE"
    log "nginx now sends traffic to $colour; $old keeps running (stop it with BG_STOP_CMD)"
}

cmd_status() {
    local active colour
    active="$(active_colour)"
    echo "mode: $MODE"
    echo "active: ${active:-none} (nginx upstream: $(upstream_colour || true))"
    for colour in blue green; do
        printf '%s: %s version=%s ready=' "$colour" "$(addr_of "$colour")" \
            "$(cat "$BG_STATE_DIR/version-$colour" 2>/dev/null || echo -)"
        if run_hook BG_HEALTH_CMD "$colour" "" >/dev/null 2>&1; then echo yes; else echo no; fi
    done
}

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

case "${1:-}" in
    deploy) cmd_deploy "${2:-}" ;;
    switch) cmd_switch "${2:-}" ;;
    status) cmd_status ;;
    install) install_release "${2:?usage: bluegreen.sh install <version-or-path>}" ;;
    link) link_release "${2:?colour}" "${3:?version-or-path}" ;;
    init-upstream) point_upstream "${2:?usage: bluegreen.sh init-upstream <blue|green>}" ;;
    upstream) upstream_text "${2:?usage: bluegreen.sh upstream <blue|green>}" ;;
    -h | --help | help | "") usage ;;
    *)
        log "unknown command: $1"
        usage
        ;;
esac
