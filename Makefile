# tollgate — run `make` (or `make help`) to list targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
# staticcheck 2025.1.1, by its module version: a proxy may not resolve the release name.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.6.1

# Find or start Postgres/Redis and export their URLs into the recipe's shell.
# (Assign first: `eval "$(cmd)"` alone would hide a failure of cmd.)
SERVICES_ENV      = envs="$$(scripts/services.sh env)" && eval "$$envs"
SERVICES_TEST_ENV = envs="$$(scripts/services.sh test-env)" && eval "$$envs"

.PHONY: help build run test bench bench-compare bench-scale lint generate verify migrate stop

help: ## Show this help
	@echo "Usage: make <target>"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

build: ## Build bin/tollgate and bin/radbench
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/tollgate ./cmd/tollgate
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/radbench ./cmd/radbench

run: build ## Start Postgres/Redis if needed, migrate, load demo data and serve
	$(SERVICES_ENV) && bin/tollgate migrate && bin/tollgate demo && exec bin/tollgate serve

test: ## Install test tools if missing, then run all tests with -race
	scripts/install-deps.sh
	$(SERVICES_TEST_ENV) && $(GO) test -race -count=1 ./...

bench: build ## Run the benchmark (scripts/bench.sh) against a migrated database
	$(SERVICES_ENV) && bin/tollgate migrate && scripts/bench.sh

bench-compare: build ## tollgate against FreeRADIUS 3.2 (users file, detail, rlm_sql) with radbench
	$(SERVICES_ENV) && scripts/bench-compare.sh

bench-scale: build ## 1M-subscriber import, RSS with 100k open sessions, cold start (scripts/bench-scale.sh)
	$(SERVICES_ENV) && BENCH_SCALE_CMD="make bench-scale" scripts/bench-scale.sh

lint: ## go vet, gofmt check, go mod tidy check and staticcheck
	$(GO) vet ./...
	$(GO) mod tidy -diff
	@unformatted="$$(git ls-files -z '*.go' | xargs -0r gofmt -l)"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt needed on:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

generate: ## Run go generate
	$(GO) generate ./...

verify: generate ## Check that generated files are up to date
	git diff --exit-code

migrate: build ## Apply database migrations
	$(SERVICES_ENV) && bin/tollgate migrate

stop: ## Stop the private Postgres/Redis started under ./var
	scripts/services.sh stop
