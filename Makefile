# Legate. `make run` and `make test` work on a fresh machine with Node.js and npm.
BIN := node_modules/.bin
BUN := $(BIN)/bun
DENO := $(BIN)/deno
CONFIG ?= examples/quickstart.yaml
SRC := $(shell find src -name '*.ts' -not -name '*_test.ts' 2>/dev/null)

.PHONY: all run test test-bun test-deno check dist bench clean deps

all: dist

# Dependencies (Bun and Deno come from npm as pinned devDependencies).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

dist/legate: node_modules/.installed $(SRC)
	bash scripts/build.sh

dist: dist/legate

run: dist/legate
	./dist/legate -c $(CONFIG)

check: node_modules/.installed
	$(BIN)/tsc -p .
	$(BUN) scripts/check_imports.ts

test-bun: node_modules/.installed
	$(BUN) scripts/test.ts

test-deno: node_modules/.installed
	$(DENO) run -A scripts/test.ts

test: node_modules/.installed
	bash scripts/test_all.sh

bench: dist/legate
	bash scripts/bench.sh

clean:
	rm -rf dist .bench

# Envoy v3 API: copy the needed .proto closure from the pinned @grpc/grpc-js-xds into proto/,
# then regenerate src/gen/ with buf + protoc-gen-es (both from node_modules; offline,
# deterministic). src/gen/ is committed; tests/proto fails when it is stale.
.PHONY: proto
proto: node_modules/.installed
	$(BUN) scripts/proto_sync.ts
	$(BIN)/buf generate proto --template proto/buf.gen.yaml
