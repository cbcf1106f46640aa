#!/usr/bin/env bash
# The test command (make test, .ci/run). On a bare Debian 12 machine it
# installs what the tests need, then runs gofmt, go vet and go test -race.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh ./cloud/...          # some packages
#   scripts/test.sh -run TestX ./edge/... # go test flags pass through
#   scripts/test.sh -short               # skip tests that need servers
#
# Tests start their own servers (mosquitto, PostgreSQL, InfluxDB 1.8) on
# loopback through internal/testinfra; nothing here starts a service.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

START=$SECONDS
# The Go that go.mod's toolchain line names; the go command fetches it from the module
# proxy. Machines set up with GOTOOLCHAIN=local would otherwise build with their own.
export GOTOOLCHAIN=${GOTOOLCHAIN_PIN:-$(sed -n 's/^toolchain //p' go.mod)}
section() { printf '\n==== %s ====\n' "$*"; SECTION_START=$SECONDS; }
done_section() { printf -- '---- done in %ds\n' $((SECONDS - SECTION_START)); }
die() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

# ---- arguments: package patterns vs go test flags ---------------------------
pkgs=()
flags=()
for a in "$@"; do
	case "$a" in
	./* | ../* | . | all | std | github.com/*) pkgs+=("$a") ;;
	*) flags+=("$a") ;;
	esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
# With -short, tests skip everything that needs a server: install nothing.
SHORT=
for f in "${flags[@]}"; do
	case "$f" in -short | --short | -short=true | --short=true) SHORT=1 ;; esac
done

# ---- 1. system packages -----------------------------------------------------
section "system packages"
missing=()
if [ -z "$SHORT" ]; then
	[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
	command -v socat >/dev/null || missing+=(socat)
	[ -x /usr/bin/chromium ] || missing+=(chromium)
	# A CJK font, so browser-test screenshots of the zh-CN pages show characters.
	[ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-microhei)
	command -v systemd-analyze >/dev/null || missing+=(systemd) # deploy: systemd-analyze verify of the units
	command -v promtool >/dev/null || missing+=(prometheus)     # deploy: promtool check/test rules
fi
command -v gcc >/dev/null || missing+=(gcc libc6-dev) # go test -race needs cgo
if [ ${#missing[@]} -eq 0 ]; then
	if [ -n "$SHORT" ]; then
		echo "-short: servers not needed; gcc present"
	else
		echo "mosquitto, postgresql, socat, chromium, systemd-analyze, promtool, gcc: already installed"
	fi
else
	echo "installing: ${missing[*]}"
	SUDO=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]}"
		SUDO=(sudo)
	fi
	# Package scripts must not start system services (mosquitto on 1883, the
	# postgresql "main" cluster): tests run their own instances.
	POLICY=/usr/sbin/policy-rc.d
	OUR_POLICY=
	if [ ! -e "$POLICY" ]; then
		printf '#!/bin/sh\n# written by shouwang scripts/test.sh during apt-get install\nexit 101\n' |
			"${SUDO[@]}" tee "$POLICY" >/dev/null
		"${SUDO[@]}" chmod 755 "$POLICY"
		OUR_POLICY=$POLICY
		trap '[ -n "$OUR_POLICY" ] && "${SUDO[@]}" rm -f "$OUR_POLICY"' EXIT
	fi
	APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -q)
	"${APT[@]}" update
	"${APT[@]}" install -y --no-install-recommends "${missing[@]}"
	if [ -n "$OUR_POLICY" ]; then
		"${SUDO[@]}" rm -f "$OUR_POLICY"
		OUR_POLICY=
	fi
	# Only promtool is wanted from the prometheus package: do not leave its server
	# enabled for the next boot of a long-lived CI host.
	if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
		"${SUDO[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
fi
done_section

# ---- 2. InfluxDB 1.8.10 -------------------------------------------------------
section "influxd 1.8.10"
command -v go >/dev/null || die "go not found in PATH (Go 1.26 or newer is required)"
INFLUXD=$ROOT/.cache/bin/influxd
if [ -x "$INFLUXD" ]; then
	echo "using $INFLUXD"
elif [ -n "$SHORT" ]; then
	echo "-short: not building influxd"
else
	echo "building $INFLUXD (takes a few minutes)"
	mkdir -p "$ROOT/.cache"
	tmpbin=$(mktemp -d "$ROOT/.cache/bin.tmp.XXXXXX")
	# GOFLAGS from the environment (e.g. -mod=...) would break go install pkg@version.
	if ! (cd "$tmpbin" && GOFLAGS= GOBIN="$tmpbin" go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10); then
		rm -rf "$tmpbin"
		die "building influxd 1.8.10 failed"
	fi
	mkdir -p "$ROOT/.cache/bin"
	mv -f "$tmpbin/influxd" "$INFLUXD" # atomic: concurrent runs never see half a binary
	rm -rf "$tmpbin"
fi
export SHOUWANG_INFLUXD=$INFLUXD
done_section

# ---- 3. gofmt -----------------------------------------------------------------
section "gofmt"
dirs=$(go list -e -f '{{.Dir}}' "${pkgs[@]}")
unformatted=()
while IFS= read -r d; do
	[ -n "$d" ] || continue
	files=("$d"/*.go)
	[ -e "${files[0]}" ] || continue
	while IFS= read -r f; do
		[ -n "$f" ] && unformatted+=("${f#"$ROOT"/}")
	done < <(gofmt -l "${files[@]}")
done <<<"$dirs"
if [ ${#unformatted[@]} -gt 0 ]; then
	printf '  %s\n' "${unformatted[@]}"
	die "gofmt: the files above are not formatted (run gofmt -w)"
fi
echo "ok"
done_section

# ---- 4. go vet ----------------------------------------------------------------
section "go vet ${pkgs[*]}"
go vet "${pkgs[@]}" || die "go vet"
echo "ok"
done_section

# ---- 5. go test ---------------------------------------------------------------
section "go test -race -count=1 -timeout 30m ${flags[*]:+${flags[*]} }${pkgs[*]}"
# User flags come after the defaults, so e.g. -timeout or -count override them.
go test -race -count=1 -timeout 30m "${flags[@]}" "${pkgs[@]}" || die "go test"
done_section

# ---- 6. known vulnerabilities ---------------------------------------------------
# Against a database built from a pinned snapshot of the Go advisories (scripts/vuln.sh),
# so it runs on hosts without outside DNS, like this project's CI. A finding fails.
section "govulncheck"
if [ -n "$SHORT" ]; then
	echo "skipped with -short"
else
	scripts/vuln.sh || die "govulncheck: known vulnerabilities (or the scan failed), see above"
fi
done_section

printf '\n==== ALL PASSED in %ds ====\n' $((SECONDS - START))
