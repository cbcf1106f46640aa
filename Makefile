# Shouwang — the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
# The Go that go.mod's toolchain line names (fetched from the module proxy), also where
# the machine's go env says GOTOOLCHAIN=local; as the scripts do.
export GOTOOLCHAIN := $(or $(GOTOOLCHAIN_PIN),$(shell sed -n 's/^toolchain //p' go.mod))
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run test test-short build bench cross fmt lint vet clean

run: ## cloud + simulated home on embedded defaults; open the printed URL
	scripts/run-demo.sh

test: ## install what the tests need, then gofmt, vet and go test -race against real servers
	scripts/test.sh

test-short: ## unit tests only, no servers
	scripts/test.sh -short

build:
	mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/shouwang-cloud ./cloud/cmd/shouwang-cloud
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/shouwang-edge ./edge/cmd/shouwang-edge

bench: ## benchmarks; results are recorded in docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -benchmem ./firmware-protocol/... ./edge/... ./cloud/...

cross: ## the edge for Raspberry Pi: arm64, armv6 (Pi Zero/1), armv7 (Pi 2/3 32-bit); CGO off
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/shouwang-edge-linux-arm64 ./edge/cmd/shouwang-edge
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/shouwang-edge-linux-armv6 ./edge/cmd/shouwang-edge
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/shouwang-edge-linux-armv7 ./edge/cmd/shouwang-edge
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/shouwang-cloud-linux-amd64 ./cloud/cmd/shouwang-cloud
	@ls -l dist | awk 'NR>1 {printf "%-36s %6.1f MiB\n", $$9, $$5/1048576}'

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin dist var

# ---- operations (deploy/, docs/operations) -----------------------------------
# Debian versions: v1.2.3 → 1.2.3; an untagged build → 0.0.0+<describe>.
PKG_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v\([0-9]\)/\1/' -e '/^[0-9]*\.[0-9]*\.[0-9]/!s/^/0.0.0+/')

.PHONY: packages pki vuln

packages: ## .debs with nfpm: edge arm64 + armhf, cloud amd64, into dist/ (PKG_VERSION=X.Y.Z)
	deploy/packages/build.sh $(PKG_VERSION) dist edge-arm64 edge-armhf cloud-amd64

pki: ## build bin/shouwang-pki (CA, server and gateway certificates; release signing)
	mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/shouwang-pki ./deploy/cmd/shouwang-pki

vuln: ## known vulnerabilities in the code, its dependencies and its Go (VULNDB=https://vuln.go.dev for the live database)
	scripts/vuln.sh
