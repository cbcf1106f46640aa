#!/usr/bin/env bash
# Known vulnerabilities in Shouwang's code, its dependencies and the Go it is built
# with (make vuln; scripts/test.sh runs it too). A finding fails.
#
# govulncheck normally asks https://vuln.go.dev. Build hosts without outside DNS
# (this project's CI) cannot, so by default the database is built here from a pinned
# snapshot of golang.org/x/vulndb, which the Go module proxy serves like any module:
# its data/osv folder holds every Go advisory, and its cmd/indexdb turns that folder
# into the database layout govulncheck reads with -db file://. Bump VULNDB_VERSION
# (go list -m golang.org/x/vulndb@latest) to take newer advisories.
#
#   scripts/vuln.sh                          # pinned snapshot
#   VULNDB=https://vuln.go.dev scripts/vuln.sh  # the live database, where reachable
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN_PIN:-$(sed -n 's/^toolchain //p' go.mod)}
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018 # advisories up to 2026-11-05
# GOFLAGS from the environment (-mod=…) would break go install/run pkg@version.
export GOFLAGS=

db=${VULNDB:-}
if [ -z "$db" ]; then
	dir=$ROOT/.cache/vulndb/$VULNDB_VERSION
	if [ ! -f "$dir/index/modules.json" ]; then
		echo "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
		src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		[ -d "$src/data/osv" ] || { echo "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv (got '$src')" >&2; exit 1; }
		bin=$ROOT/.cache/vulndb/bin-$VULNDB_VERSION
		[ -x "$bin/indexdb" ] || GOBIN=$bin go install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
		mkdir -p "$ROOT/.cache/vulndb"
		tmp=$(mktemp -d "$ROOT/.cache/vulndb/tmp.XXXXXX")
		trap 'rm -rf "$tmp"' EXIT
		"$bin/indexdb" -vulns "$src/data/osv" -out "$tmp/db"
		rm -rf "$dir"
		mv "$tmp/db" "$dir" # whole or not at all: an interrupted build is rebuilt
		rm -rf "$tmp"
	fi
	echo "advisories: $(ls "$dir/ID" | grep -c '\.json$') from golang.org/x/vulndb@$VULNDB_VERSION"
	db=file://$dir
fi
echo "Go: $(go env GOVERSION); govulncheck $GOVULNCHECK_VERSION; database $db"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "$db" ./...
