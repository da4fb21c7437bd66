# Shared by scripts/dev and scripts/test: make sure the machine has what Ward needs.
# Source it; it defines functions only.

export PATH="$HOME/.cargo/bin:$PATH"

TANSU_VERSION=0.6.0

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# PostgreSQL, MariaDB and Redis are installed on this kind of machine; start any that is down
# with the machine's documented commands.
ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    say "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 &&
      mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 &&
      redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
    sleep 1
  done
  say "PostgreSQL, MariaDB or Redis did not come up"; return 1
}

# CI keeps its build cache between runs (scripts/test). A cache that has grown until the disk
# is nearly full is dropped, so the run builds from scratch instead of failing with ENOSPC.
ensure_disk_space() {
  local dir="$1" min_gib="${2:-12}"
  [ -d "$dir" ] || return 0
  local free_kib; free_kib=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
  if [ "$free_kib" -lt $((min_gib * 1024 * 1024)) ]; then
    say "less than ${min_gib} GiB free: dropping the build cache $dir"
    rm -rf "$dir"
  fi
}

# Installs Debian packages: apt_install "what they are for" package...
apt_install() {
  local why="$1"; shift
  say "installing $why: $*"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$@" >/dev/null; }
}

# librdkafka is built with TLS (for SCRAM and TLS to production's broker) against the
# system's OpenSSL.
ensure_build_deps() {
  pkg-config --exists openssl 2>/dev/null && return 0
  apt_install "OpenSSL's headers for librdkafka" libssl-dev pkg-config
}

# The broker-security tests put a TLS terminator (socat) with a throw-away certificate
# (openssl) in front of Tansu.
ensure_test_tools() {
  command -v socat >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 && return 0
  apt_install "socat and openssl for the broker-security tests" socat openssl
}

# Tansu, the Kafka-protocol broker (docs/adr/0002). Installing it compiles it: about 20-30
# minutes on 2 cores, so it happens once per machine.
ensure_tansu() {
  if [ "$(tansu --version 2>/dev/null)" = "tansu $TANSU_VERSION" ]; then return 0; fi
  say "installing the Tansu broker $TANSU_VERSION (compiles from source; about 25 minutes, once)"
  cargo install "tansu@$TANSU_VERSION" --locked --features libsql,postgres
}

# The local OpenID Connect provider (infra/dev-idp, Node): its npm packages, installed exactly
# as package-lock.json says when node_modules is missing or older than the lock file (npm
# writes node_modules/.package-lock.json last, so its age is that of the installation).
ensure_dev_idp() {
  local dir=infra/dev-idp
  if [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1; then
    say "the development OpenID Connect provider needs Node.js 20 or later with npm"; return 1
  fi
  say "installing the development OpenID Connect provider's npm packages ($dir)"
  (cd "$dir" && npm ci --no-audit --no-fund)
}

# The browser tests (web/e2e): Debian's Chromium (Playwright cannot download its own here),
# Korean fonts so screenshots are legible, and playwright-core as package-lock.json pins it.
ensure_web_e2e() {
  if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi nanum; then
    apt_install "Debian's Chromium and Korean fonts for the browser tests" chromium fonts-nanum
  fi
  local dir=web/e2e
  if [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "installing the browser tests' npm packages ($dir)"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
}

ensure_nextest() {
  command -v cargo-nextest >/dev/null 2>&1 && return 0
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
}

# The API fuzzer (ward/tests/it/api_fuzz.rs): schemathesis as scripts/fuzz/requirements.txt pins
# it, in a virtual environment of its own, rebuilt when that file changes (as
# infra/tests/run.sh does for its checks). The test finds it at $SCHEMATHESIS_BIN.
ensure_schemathesis() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/ward/fuzz-venv"
  local requirements=scripts/fuzz/requirements.txt
  local want; want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  export SCHEMATHESIS_BIN="$venv/bin/schemathesis"
  if [[ -x "$SCHEMATHESIS_BIN" && "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]]; then
    return 0
  fi
  say "installing the API fuzzer (schemathesis, pinned) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement "$requirements"
  echo "$want" > "$venv/.requirements.sha256"
}
