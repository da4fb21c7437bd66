#!/usr/bin/env bash
# Lighthouse on Ward's key pages: installs the pinned Lighthouse, writes one post (so the
# board and post pages have content), then runs run.mjs. Ward must be running: ./scripts/dev
# in another terminal. Usage: bench/lighthouse/run.sh [base-url]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
base="${1:-http://127.0.0.1:8000}"
ensure_web_e2e   # Debian's Chromium
if [ bench/lighthouse/package-lock.json -nt bench/lighthouse/node_modules/.package-lock.json ]; then
  (cd bench/lighthouse && npm ci --no-audit --no-fund)
fi
if ! curl -sf "$base/api/v1/boards/free/posts?limit=1" | grep -q '"id"'; then
  say "writing a sample post"
  set -a; source .ward/dev.env; set +a
  token=$(WARD_CONFIG=config/ward.dev.toml target/debug/ward dev-session)
  curl -sf -X POST "$base/api/v1/posts" -H 'content-type: application/json' \
    -H "cookie: ward_session=$token" \
    -d '{"board":"free","title":"야간 근무 후 회복 팁","body":"3교대 근무 후에 잠을 잘 자는 방법을 나눠 주세요.\n저는 암막 커튼이 도움이 되었습니다."}' >/dev/null
  sleep 1
fi
node bench/lighthouse/run.mjs "$base"
