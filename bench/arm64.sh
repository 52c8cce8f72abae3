#!/usr/bin/env bash
# The app on arm64 (the Raspberry Pi's architecture) under qemu-user, in a Debian bookworm root:
# the smoke test (tests/api/test_smoke.py), then `booking serve` with demo data, its RSS idle and
# after a short wrk run from the host. Memory figures transfer to the Pi; emulated speed does not
# (qemu-user is about 8x slower than native here, the Pi slower again).
#
#   sudo bench/arm64.sh            # writes bench/results/arm64-<date>.md and .json
#
# Needs root (chroot, binfmt_misc), Debian packages qemu-user-static binfmt-support debootstrap
# (installed when missing), the Debian mirror and PyPI (wheels for aarch64 through uv). The root
# (about 300 MB, 4 minutes to build under emulation) is kept in $BOOKING_ARM64_ROOT for reuse.
# See /work/shared/docs/toolbox.md section 7 for the commands this follows.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
R="${BOOKING_ARM64_ROOT:-/var/tmp/booking-arm64-root}"
MIRROR="${BOOKING_ARM64_MIRROR:-http://deb.debian.org/debian}"
SECONDS_PER_RUN="${BOOKING_ARM64_SECONDS:-10}"
UV="${UV:-$(command -v uv || echo "$ROOT_DIR/.tools/bin/uv")}"
DATE="$(date -u +%Y-%m-%d)"
OUT="$ROOT_DIR/bench/results/arm64-$DATE"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
WORK="/tmp/booking-arm64-run"  # inside the root

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[[ $(id -u) == 0 ]] || { echo "needs root (chroot, binfmt_misc)" >&2; exit 2; }

# --- emulation --------------------------------------------------------------------------------
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
    || ! command -v update-binfmts >/dev/null; then
    apt-get install -y --no-install-recommends qemu-user-static binfmt-support debootstrap
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2>/dev/null || true

# --- the Debian root ----------------------------------------------------------------------------
if [[ ! -x "$R/usr/bin/python3" || ! -e "$R/.booking-root-ready" ]]; then
    log "debootstrap arm64 bookworm into $R (minutes: dpkg runs emulated)"
    rm -rf "$R"
    debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,python3-venv \
        bookworm "$R" "$MIRROR"
    chroot "$R" /debootstrap/debootstrap --second-stage
    touch "$R/.booking-root-ready"
fi
log "python in the root: $(chroot "$R" python3 -c 'import platform; print(platform.machine(), platform.python_version())')"

# --- the app and its dependencies (aarch64 wheels, installed by uv on the host) -------------------
SITE="$R/opt/booking-site"
REQS="$(mktemp)"
# Runtime and test dependencies; not the linters, type checker and browser driver (large, unused).
(cd "$ROOT_DIR" && "$UV" export --frozen --no-hashes --no-emit-project --no-default-groups \
    --group dev --format requirements-txt | grep -vE '^(playwright|ruff|mypy)==' >"$REQS")
if [[ ! -e "$SITE/.stamp" ]] || ! cmp -s "$REQS" "$SITE/.stamp"; then
    log "installing aarch64 wheels into $SITE"
    rm -rf "$SITE"
    "$UV" pip install --quiet --target "$SITE" --python-platform aarch64-manylinux_2_36 \
        --python-version 3.11 --only-binary :all: -r "$REQS"
    cp "$REQS" "$SITE/.stamp"
fi
rm -f "$REQS"
rm -rf "$R/opt/booking-src" && mkdir -p "$R/opt/booking-src"
cp -r "$ROOT_DIR/booking" "$ROOT_DIR/tests" "$ROOT_DIR/pyproject.toml" "$ROOT_DIR/alembic.ini" \
    "$R/opt/booking-src/"
for fs in proc dev; do mountpoint -q "$R/$fs" || mount --bind "/$fs" "$R/$fs"; done
cleanup() {
    [[ -n "${SERVER:-}" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    umount "$R/proc" "$R/dev" 2>/dev/null || true
}
trap cleanup EXIT

in_root() {
    chroot "$R" env -i HOME=/root PATH=/usr/bin:/bin PYTHONPATH=/opt/booking-site:/opt/booking-src \
        PYTHONDONTWRITEBYTECODE=1 BOOKING_DATA_DIR="$WORK" \
        BOOKING_DATABASE_URL="sqlite:///$WORK/booking.db" \
        BOOKING_SECRET_KEY=arm64-bench-secret-key-0123456789-abcdefghijklmn "$@"
}

# --- smoke test -----------------------------------------------------------------------------------
log "smoke test (pytest tests/api/test_smoke.py, SQLite) under emulation"
smoke_start=$(date +%s.%N)
set +e
SMOKE="$(chroot "$R" env -i HOME=/root PATH=/usr/bin:/bin PYTHONPATH=/opt/booking-site:/opt/booking-src \
    sh -c 'cd /opt/booking-src && python3 -m pytest -q -n 0 -p no:cacheprovider tests/api/test_smoke.py' 2>&1)"
SMOKE_RC=$?
set -e
smoke_s=$(python3 -c "import time; print(round(time.time() - $smoke_start, 1))")
log "smoke: rc=$SMOKE_RC ($smoke_s s): $(echo "$SMOKE" | tail -1)"

# --- server, RSS, short wrk run --------------------------------------------------------------------
rm -rf "${R:?}$WORK" && mkdir -p "$R$WORK"
in_root python3 -m booking migrate >/dev/null
in_root python3 -m booking demo >/dev/null
# As production runs it (deploy/Dockerfile, booking@.service): PYTHONOPTIMIZE=2 with -OO bytecode.
log "compiling -OO bytecode (stdlib, wheels, app) under emulation"
chroot "$R" python3 -OO -m compileall -q -j 0 /usr/lib/python3.11 /opt/booking-site \
    /opt/booking-src/booking >/dev/null || true
start=$(date +%s.%N)
in_root env PYTHONOPTIMIZE=2 python3 -m booking serve --host 127.0.0.1 --port "$PORT" \
    >"$R$WORK/serve.log" 2>&1 &
SERVER=$!
until curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$R$WORK/serve.log" >&2; exit 1; }
    sleep 0.2
done
cold_s=$(python3 -c "import time; print(round(time.time() - $start, 1))")
sleep 12  # idle as in make bench: longer than the app's 10 s malloc trim period
# The qemu process is the app: its RSS includes qemu's own code and translation cache, so it is
# an upper bound of the app's RSS on a real arm64 machine.
PID="$(pgrep -P "$SERVER" -f 'booking serve' || echo "$SERVER")"
# guest=: RSS without qemu's translation cache (the large anonymous rwx mapping), its binary and
# its heap: an estimate of what the same process would use natively on arm64.
rss() {
    awk '/^VmRSS|^VmHWM/ {sub(":", "", $1); printf "%s=%.1f ", $1, $2/1024}' "/proc/$PID/status"
    python3 - "$PID" <<'PY'
import re, sys
total = qemu = 0
kind = ""
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    head = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if head:
        perms, path = head[1], head[2]
        kind = "qemu" if ("qemu" in path or path == "[heap]" or (perms == "rwxp" and not path)) else "guest"
    elif line.startswith("Rss:"):
        kib = int(line.split()[1])
        total += kib
        qemu += kib if kind == "qemu" else 0
print(f"guest={(total - qemu) / 1024:.1f} qemu={qemu / 1024:.1f}", end=" ")
PY
}
IDLE="$(rss)"
TOKEN="$(curl -fsS -H 'Content-Type: application/json' -d '{"email":"admin@booking.com","password":"admin123"}' \
    "http://127.0.0.1:$PORT/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
AFTER_LOGIN="$(rss)"
FROM="$(date -u -d '+40 days' +%Y-%m-%d)"; TO="$(date -u -d '+43 days' +%Y-%m-%d)"
WRK=()
for c in 1 10; do
    WRK+=("$(wrk -t1 -c"$c" -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT/api/bookings/availability?startDate=$FROM&endDate=$TO" |
        awk -v c="$c" '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {err=$NF}
            END {printf "connections=%s rps=%s p50=%s p99=%s non2xx=%s", c, rps, p50, p99, err+0}')")
done
PEAK="$(rss)"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""

# --- report -------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
python3 - "$OUT" "$SMOKE_RC" "$smoke_s" "$cold_s" "$IDLE" "$AFTER_LOGIN" "$PEAK" "${WRK[@]}" <<'EOF'
import json, os, sys
out, smoke_rc, smoke_s, cold_s, idle, login, peak, *runs = sys.argv[1:]
kv = lambda s: {k: v for k, v in (p.split("=", 1) for p in s.split())}
result = {
    "host": os.uname().machine, "emulation": "qemu-user (qemu-aarch64-static), Debian bookworm arm64",
    "smoke_test": "passed" if smoke_rc == "0" else f"failed (rc {smoke_rc})", "smoke_seconds": float(smoke_s),
    "cold_start_s": float(cold_s), "rss_idle": kv(idle), "rss_after_login": kv(login),
    "rss_after_wrk": kv(peak), "wrk_availability": [kv(r) for r in runs],
    "load_average": os.getloadavg(),
}
json.dump(result, open(out + ".json", "w"), indent=2)
lines = [
    "# arm64 under qemu-user (" + out.rsplit("arm64-", 1)[1] + ")", "",
    "`sudo bench/arm64.sh`: Debian bookworm arm64 root (debootstrap), the app's locked dependencies "
    "as aarch64 wheels, SQLite with `booking demo` data. RSS is that of the emulated process "
    "(qemu's own code and translation cache included: an upper bound for the Pi). Speed is emulated "
    "(about 8x slower than native here) and does not transfer to the Pi.", "",
    f"- smoke test (tests/api/test_smoke.py): **{result['smoke_test']}** ({smoke_s} s)",
    f"- cold start to the first `/health` answer: {cold_s} s (emulated)",
    f"- RSS idle: {idle}(MiB); after one Argon2 login: {login}(MiB); after wrk: {peak}(MiB)",
    "  (`guest`: RSS without qemu's translation cache, binary and heap — the estimate for a "
    "native arm64 process; `qemu`: those parts; VmRSS/VmHWM: the whole emulating process)",
    f"- load average during the run: {[round(x, 2) for x in result['load_average']]}", "",
    "| wrk on /api/bookings/availability (emulated) |", "|---|",
    *[f"| {r} |" for r in runs], "",
]
open(out + ".md", "w").write("\n".join(lines))
print("\n".join(lines))
EOF
[[ $SMOKE_RC == 0 ]] || { echo "$SMOKE" >&2; exit 1; }
