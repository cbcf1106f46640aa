#!/bin/sh
# Build Shouwang .deb packages with nfpm (run as a Go tool; go.mod untouched).
#
#   deploy/packages/build.sh VERSION OUTDIR [TARGET...]
#
# TARGET: edge-arm64 (Pi 3/4/5, 64-bit OS), edge-armhf (every Pi on 32-bit
# Raspberry Pi OS: built for ARMv6 so the Pi Zero/1 run it too), edge-amd64
# (tests), cloud-amd64, cloud-arm64. Default: edge-arm64 edge-armhf cloud-amd64.
# Binaries are static (CGO off). Sign the results with
#   shouwang-pki sign -key release.key -package NAME -version VERSION FILE.deb
set -eu
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}
version=${1:?usage: build.sh VERSION OUTDIR [TARGET...]}
out=${2:?usage: build.sh VERSION OUTDIR [TARGET...]}
shift 2
[ $# -gt 0 ] || set -- edge-arm64 edge-armhf cloud-amd64
cd "$(dirname "$0")/../.."
GOTOOLCHAIN=${GOTOOLCHAIN_PIN:-$(sed -n 's/^toolchain //p' go.mod)} # see scripts/test.sh
export GOTOOLCHAIN
mkdir -p "$out/bin"
out=$(cd "$out" && pwd)
for target in "$@"; do
	name=${target%-*}
	arch=${target#*-}
	case "$arch" in
	amd64 | arm64) goarch=$arch goarm= ;;
	armhf) goarch=arm goarm=6 ;;
	*) echo "build.sh: unknown arch in $target" >&2; exit 2 ;;
	esac
	bin="$out/bin/shouwang-$name-$arch"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
		go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$bin" "./$name/cmd/shouwang-$name"
	pki="$out/bin/shouwang-pki-$arch"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
		go build -trimpath -ldflags "-s -w" -o "$pki" ./deploy/cmd/shouwang-pki
	# GOFLAGS from the environment (-mod=…) would break go run pkg@version.
	ARCH=$arch VERSION=$version BIN=$bin BIN_PKI=$pki GOFLAGS= \
		go run "$NFPM" package --config "deploy/packages/$name.yaml" --packager deb --target "$out/"
done
ls "$out"/*.deb
