# The two set-up commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
GO ?= go
AZURITE_DIR := infra/azurite
AZURITE := $(AZURITE_DIR)/node_modules/azurite/dist/src/azurite.js
TEST_TIMEOUT ?= 20m

.PHONY: deps test unit bench fuzz vet build run servicebus-emulator clean

## deps: install the pinned npm (Azurite) and Go dependencies.
deps: $(AZURITE)
	$(GO) mod download

$(AZURITE): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	cd $(AZURITE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## test: every test, integration tests included (Azurite and the Service Bus emulator start per test).
test: deps vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## unit: the fast tests only (no Azurite, no emulator).
unit:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

## bench: every benchmark, with ratios against the raw SDKs.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

## fuzz: a short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf .build
