# The README's two commands are `make demo` and `make test`; both need only Go.
GO       ?= go
BIN      := bin/ghlbulk
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build test lint cross man demo bench chaos fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ghlbulk

# All tests: no network, no credentials, under 5 minutes on 2 cores.
test: lint cross
	$(GO) test -count=1 -timeout 280s $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@echo "most complex functions (gocyclo; internal/archtest allows at most 5 over 20):"
	@$(GO) run github.com/fzipp/gocyclo/cmd/gocyclo -top 5 -ignore '_test' .

# ghlbulk ships for Linux, macOS and Windows: every package must build for
# each (a Unix-only syscall once broke the Windows build). Build only, no
# vet: the build cache keeps this to seconds after the first run.
cross:
	@for os in linux darwin windows; do \
		echo "GOOS=$$os go build ./..."; \
		GOOS=$$os GOARCH=amd64 $(GO) build ./... || exit 1; \
	done
	@echo "go build -tags genman ./...   (the man page generator: scripts/genman.sh)"
	@$(GO) build -tags genman ./...

# Man pages and shell completions into out/man and out/completions.
man:
	GO=$(GO) ./scripts/genman.sh out/man

# Builds, starts the embedded sandbox in-process, imports samples/, exports
# Parquet and prints the summary.
demo: build
	$(BIN) demo --out out/demo

# Go benchmarks, then a scripted end-to-end run that prints figures.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2x -timeout 30m ./...
	./scripts/bench.sh
	$(GO) test -count=1 -run 'TestE2EExportRequestCount' -v ./cmd/ghlbulk/ | grep 'full export of'

# Long fault-injection and soak runs, then every fuzz target, kept out of
# `make test` (which runs the fuzz targets' seeds only).
chaos: build
	GHLBULK_CHAOS=1 $(GO) test -count=1 -timeout 60m -run 'Chaos|Soak' ./...
	GO=$(GO) ./scripts/fuzz.sh

# Every fuzz target for FUZZTIME (60s) each: scripts/fuzz.sh.
fuzz:
	GO=$(GO) ./scripts/fuzz.sh

clean:
	rm -rf bin out
