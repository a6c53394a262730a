# callflow — build, test and demo targets. See README.md.
GO        ?= go
GOFLAGS   ?=
PKGS      ?= ./...
BIN       := bin/callflow
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# The whole suite must stay well under CI's budget; packages that need a
# real switch take turns through a lock file (internal/asterisktest), so a
# package's time includes its waits for the others: the timeout is per
# package and bounds the whole run.
TEST_TIMEOUT ?= 35m

.PHONY: all build test test-short demo bench bench-load lint deps clean

all: build

build:
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callflow

# Installs the Debian packages the tests need (Asterisk chroot tooling, sipp),
# then runs vet and every test with the race detector.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout $(TEST_TIMEOUT) -count=1 $(PKGS)
	# Crash injection exists only in builds with the tag faultinject (the
	# e2e/crash tests build their binary so); its unit tests need the tag.
	$(GO) vet -tags faultinject $(PKGS)
	$(GO) test -race -count=1 -tags faultinject ./config ./internal/service

# Unit tests only: no real Asterisk.
test-short:
	$(GO) test -race -short -count=1 $(PKGS)

# The main job: a demo through the shipped example flows.
# SWITCH=freeswitch tells the same story through FreeSWITCH instead of Asterisk.
demo: build
	./scripts/demo.sh $(BIN) $(if $(SWITCH),--switch=$(SWITCH))

# Micro-benchmarks: VM steps, flow load/compile, durable registrations,
# ARI and ESL decoding.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Load comparison against the real Asterisk: a plain-dialplan control run,
# then callflow, then the Node.js ari-client peer under the same sipp load.
# Needs root (Asterisk chroot); not part of make test.
bench-load: build
	./bench/load.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@command -v shellcheck >/dev/null || { echo "lint: shellcheck not found: run make deps (as root) or apt-get install shellcheck"; exit 1; }
	shellcheck --severity=warning $$(git ls-files '*.sh' .ci/run)

deps:
	./scripts/deps.sh

clean:
	rm -rf bin

# Debian package (nfpm as a library, see docs/operations.md): bin/callflow_*.deb.
.PHONY: deb
deb: build
	$(GO) run ./cmd/package --binary $(BIN) --version '$(VERSION)' --out bin

# The same load comparison on a real FreeSWITCH, against the Node.js modesl
# peer (bench/freeswitch/README.md). Needs root; not part of make test.
.PHONY: bench-load-freeswitch
bench-load-freeswitch: build
	./bench/load.sh --switch freeswitch
