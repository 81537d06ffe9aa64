#!/usr/bin/env bash
# make release-check: GoReleaser (pinned in .goreleaser-version, installed
# with go install) validates .goreleaser.yaml and builds a snapshot of every
# archive; then the archives, the checksums and the linux/amd64 binary's
# stamped version are checked. Docker and publishing are skipped: no engine,
# no tag.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(cat .goreleaser-version)
gr="$(go env GOPATH)/bin/goreleaser"
have=$("$gr" --version 2>/dev/null | sed -n 's/^GitVersion: *//p' || true)
if [ "$have" != "$want" ]; then
  echo "installing GoReleaser $want (go install; a few minutes the first time)"
  go install "github.com/goreleaser/goreleaser/v2@$want"
fi
"$gr" check
"$gr" release --snapshot --clean --skip=docker,publish >/tmp/goreleaser.log 2>&1 || { tail -30 /tmp/goreleaser.log; exit 1; }
archives=$(ls dist/*.tar.gz dist/*.zip | wc -l)
sums=$(wc -l < dist/checksums.txt)
[ "$archives" -eq 6 ] && [ "$sums" -eq 6 ] || { echo "release-check: $archives archives, $sums checksums; want 6 and 6"; exit 1; }
(cd dist && sha256sum --quiet -c checksums.txt)
version=$(dist/bitrix24-chat-mcp_linux_amd64_v1/bitrix24-chat-mcp --version)
case "$version" in
  *-snapshot*) ;;
  *) echo "release-check: the linux/amd64 binary says $version, not the snapshot version"; exit 1 ;;
esac
echo "release-check: 6 archives, 6 checksums verified; $version"
