#!/usr/bin/env bash
# make e2e: install the pinned inspector and run check.mjs against the binary.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node check.mjs "$@"
