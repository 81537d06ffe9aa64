#!/usr/bin/env bash
# make e2e: install the pinned inspector and TypeScript SDK, then run the
# inspector's checks (check.mjs) and the TypeScript SDK client's (ts-sdk.mjs)
# against the binary.
set -euo pipefail
cd "$(dirname "$0")"
bin=$1
shift
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node check.mjs "$bin" "$@"
node ts-sdk.mjs "$bin"
