# bitrix24-chat-mcp: see README.md.
BIN      := bin/bitrix24-chat-mcp
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

.PHONY: build test bench lint demo schemas e2e conformance clean

build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

test:
	go vet ./...
	go test -race -count=1 ./...

# Micro-benchmarks, the scenario table (about a minute: the naive client it
# is compared with really waits on the 2/s limit), then the HTTP soak table
# (about 30 s).
bench:
	go test -run '^$$' -bench . -benchmem ./bitrix/ ./tools/
	go test -run '^$$' -bench Scenarios -benchtime 1x .
	go test -run '^$$' -bench Soak -benchtime 1x .

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	go vet ./...

demo:
	go run . --demo

# Schemas from the tools' Go types, and the README's tool reference and
# configuration table (tested fresh by go test).
schemas:
	go run ./tools/genschemas

e2e: build
	e2e/run.sh $(CURDIR)/$(BIN) stdio sse http

conformance: build
	e2e/conformance/run.sh $(CURDIR)/$(BIN)

clean:
	rm -rf bin
