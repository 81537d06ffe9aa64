# bitrix24-chat-mcp: see README.md.
BIN      := bin/bitrix24-chat-mcp
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

.PHONY: build test bench lint demo schemas e2e conformance mcpb release-check clean

build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

# The race detector needs cgo and a C compiler (gcc); without one the tests
# still run, without it, and say so.
RACE := $(shell [ "$$(go env CGO_ENABLED)" = 1 ] && command -v "$$(go env CC)" >/dev/null 2>&1 && echo -race)
test:
	go vet ./...
	@[ -n "$(RACE)" ] || echo "note: no C compiler for cgo ($$(go env CC)), so the tests run without the race detector; install gcc for -race"
	go test $(RACE) -count=1 ./...

# Micro-benchmarks, the scenario table (about a minute: the naive client it
# is compared with really waits on the 2/s limit), the HTTP soak table
# (about 30 s), metrics on against off (about 30 s), one replica against
# three sharing Redis (needs redis-server), and sign-in: the token check,
# memory per person, start-up with 10,000 people stored, and 100 people
# calling at once on a 2/s portal (about a minute).
bench:
	go test -run '^$$' -bench . -benchmem ./bitrix/ ./tools/
	go test -tags e2e -run '^$$' -bench Scenarios -benchtime 1x ./e2e/
	go test -tags e2e -run '^$$' -bench Soak -benchtime 1x ./e2e/
	go test -tags e2e -run '^$$' -bench MetricsOverhead -benchtime 1x ./e2e/
	go test -run '^$$' -bench Replicas -benchtime 1x ./state/
	go test -run '^$$' -bench 'Startup|HundredPeople|Abuse' -benchtime 1x ./internal/auth/
	go test -run '^$$' -bench 'Verify|MemoryPerPerson' -benchmem ./internal/auth/

# staticcheck is pinned and fetched by go run (its version builds on Go 1.26).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	go vet -tags e2e ./...
	go run $(STATICCHECK) -tags e2e ./...

demo:
	go run . --demo

# Schemas from the tools' Go types, and the README's tool reference and
# configuration table (tested fresh by go test).
schemas:
	go run ./internal/gen/genschemas

# The built binary as clients run it (e2e/*_test.go with -tags e2e: stdio
# sessions, processes sharing a token file or Redis, signals), then the
# MCP inspector and the TypeScript SDK client on every transport, and the
# README's commands.
e2e: build
	cd e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	go test -tags e2e $(RACE) -count=1 ./e2e/
	e2e/run.sh $(CURDIR)/$(BIN) stdio sse http
	e2e/readme.sh

conformance: build
	e2e/conformance/run.sh $(CURDIR)/$(BIN)

# The Claude Desktop bundle for this machine's platform (GOOS/GOARCH to
# choose another), validated and packed by the official MCP Bundle CLI.
GOOS   ?= $(shell go env GOOS)
GOARCH ?= $(shell go env GOARCH)
EXE    := $(if $(filter windows,$(GOOS)),.exe,)
MCPB   := bundles/bitrix24-chat-mcp-$(GOOS)-$(GOARCH).mcpb
mcpb:
	rm -rf bundles/stage-$(GOOS)-$(GOARCH) && mkdir -p bundles/stage-$(GOOS)-$(GOARCH)/server
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) go build -trimpath -ldflags '$(LDFLAGS)' -o bundles/stage-$(GOOS)-$(GOARCH)/server/bitrix24-chat-mcp$(EXE) .
	go run ./internal/gen/genmcpb -dir bundles/stage-$(GOOS)-$(GOARCH) -version $(patsubst v%,%,$(VERSION)) -os $(GOOS) -binary server/bitrix24-chat-mcp$(EXE)
	e2e/mcpb/run.sh bundles/stage-$(GOOS)-$(GOARCH) $(MCPB)

# GoReleaser validates .goreleaser.yaml and builds every archive (about two
# minutes; installing GoReleaser the first time, four more).
release-check:
	e2e/release-check.sh

clean:
	rm -rf bin dist bundles
