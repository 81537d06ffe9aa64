#!/usr/bin/env bash
# make mcpb: validate a staged bundle's manifest and pack it with the
# official MCP Bundle CLI (pinned in package-lock.json).
set -euo pipefail
stage=${1:?usage: run.sh STAGE_DIR OUTPUT.mcpb}
out=${2:?usage: run.sh STAGE_DIR OUTPUT.mcpb}
here="$(cd "$(dirname "$0")" && pwd)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
mcpb="$here/node_modules/.bin/mcpb"
"$mcpb" validate "$stage/manifest.json"
"$mcpb" pack "$stage" "$out"
"$mcpb" info "$out"
