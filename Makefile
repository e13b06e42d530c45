# The two set-up commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
GO ?= go
AZURITE_DIR := infra/azurite
AZURITE := $(AZURITE_DIR)/node_modules/azurite/dist/src/azurite.js
TEST_TIMEOUT ?= 20m

.PHONY: chromium deps test bench fuzz vet build run start-func servicebus-emulator clean
APPS := subscriptions cloudapi product all
SB_CONFIG ?= infra/servicebus-emulator/config.json
SB_ADDR ?= 127.0.0.1:5672

## deps: install the pinned npm (Azurite) and Go dependencies, and Debian's Chromium for the
## portal's browser test.
deps: $(AZURITE) chromium
	$(GO) mod download

chromium:
	@bash functions/product/e2e/install-chromium.sh

$(AZURITE): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	cd $(AZURITE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## test: every test, integration tests included (Azurite and the Service Bus emulator start per test).
test: deps vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

vet:
	$(GO) vet ./...

## bench: the benchmarks, each beside the raw SDK doing the same work where there is one
## (ratios printed by the benchmarks themselves). Against Azurite and the emulator, in process.
BENCH = $(GO) test -run '^$$' -benchmem -timeout 30m
bench: deps
	$(BENCH) -bench . -benchtime 40x ./shared/eventstore/tablestore/
	$(BENCH) -bench ExecuteOn5000 -benchtime 20x ./shared/aggregate/
	$(BENCH) -bench Update -benchtime 300x ./shared/views/tablestore/
	$(BENCH) -bench . -benchtime 300ms ./shared/funcapp/ ./infra/servicebus-emulator/amqp/ ./infra/servicebus-emulator/filter/
	$(BENCH) -bench . -benchtime 20000x ./infra/servicebus-emulator/
	$(BENCH) -bench ServiceBusInvocationOverhead -benchtime 4000x ./infra/funchost/
	$(BENCH) -bench ForecastMetering -benchtime 3s ./functions/cloudapi/
	$(BENCH) -bench ReplicationLatency -benchtime 1x ./functions/e2e/

## fuzz: a short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## build: assemble one publishable Function App per bounded context, plus one all-in-one app,
## under .build/<app> (host.json, a folder per function with function.json, the linux/amd64 handler).
build:
	@for app in $(APPS); do $(GO) run ./functions/cmd/assemble -app $$app -out .build/$$app || exit 1; done

## run: the whole system locally (Azurite, Service Bus emulator, local Functions host); Ctrl-C stops it.
## HOST_MODE=contexts runs one host per bounded-context app instead of the all-in-one app.
HOST_MODE ?= all
run: $(AZURITE) build
	$(GO) run ./infra/devrun -mode $(HOST_MODE)

## start-func: the all-in-one app under the real Core Tools (needs func and Internet access),
## against the same local emulators.
start-func: $(AZURITE) build
	@command -v func >/dev/null || { echo "start-func: Azure Functions Core Tools (func) not found"; exit 1; }
	$(GO) build -o .build/devrun ./infra/devrun
	.build/devrun -emulators-only & pid=$$!; trap 'kill -INT $$pid; wait $$pid' EXIT; cd .build/all && func start --port 7071

## servicebus-emulator: the Service Bus emulator alone, in the foreground (SB_DATA=dir keeps messages).
servicebus-emulator:
	$(GO) run ./infra/servicebus-emulator/cmd/sbemulator -config $(SB_CONFIG) -addr $(SB_ADDR) $(if $(SB_DATA),-data $(SB_DATA))

clean:
	rm -rf .build
