# The two set-up commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
GO ?= go
AZURITE_DIR := infra/azurite
AZURITE := $(AZURITE_DIR)/node_modules/azurite/dist/src/azurite.js
JSINTEROP_DIR := infra/servicebus-emulator/jsinterop
JSINTEROP := $(JSINTEROP_DIR)/node_modules/@azure/service-bus/package.json
TEST_TIMEOUT ?= 20m

.PHONY: chromium deps test bench fuzz vet build run start-func servicebus-emulator topology deploy meterline clean
# The bounded contexts' apps, read off the registrations (functions/internal/apps).
CONTEXTS = $(shell $(GO) run ./functions/cmd/assemble -list)
SB_CONFIG ?= infra/servicebus-emulator/config.json
SB_ADDR ?= 127.0.0.1:5672

## deps: install the pinned npm packages (Azurite with the Node.js it needs, the JavaScript
## Service Bus SDK for the interop test), the Go modules, and Debian's Chromium for the portal's
## browser test; then check each npm folder's Node against its packages' engines.
deps: $(AZURITE) $(JSINTEROP) chromium
	$(GO) mod download
	@$(GO) run ./infra/nodecheck $(AZURITE_DIR) $(JSINTEROP_DIR)

chromium:
	@bash functions/product/e2e/install-chromium.sh

# npm ci in a pinned npm folder; the machine's npm only installs, each folder says which Node runs it.
NPM_CI = command -v npm >/dev/null || { echo "make: npm (Node.js >= 18) is needed to install the pinned npm packages"; exit 1; }; \
	npm ci --prefix $(1) --no-audit --no-fund --loglevel=error && touch $(2)

$(AZURITE): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	@$(call NPM_CI,$(AZURITE_DIR),$@)

$(JSINTEROP): $(JSINTEROP_DIR)/package.json $(JSINTEROP_DIR)/package-lock.json
	@$(call NPM_CI,$(JSINTEROP_DIR),$@)

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
	$(BENCH) -bench . -benchtime 5x ./infra/servicebus-emulator/jsinterop/
	$(BENCH) -bench ServiceBusInvocationOverhead -benchtime 4000x ./infra/funchost/
	$(BENCH) -bench ForecastMetering -benchtime 3s ./functions/cloudapi/
	$(BENCH) -bench Rebuild -benchtime 1x ./functions/cloudapi/
	$(BENCH) -bench Ingest -benchtime 40x ./functions/journal/store/tablestore/
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
	@for app in $(CONTEXTS) all; do $(GO) run ./functions/cmd/assemble -app $$app -out .build/$$app || exit 1; done

## topology: regenerate what the contexts' registrations define: the emulator's config.json and
## the Azure template (a test fails when they are stale).
topology:
	$(GO) run ./functions/cmd/topology

## deploy: the whole system to Azure (RESOURCE_GROUP=... NAME_PREFIX=...; needs az and func).
deploy: build
	@APPS="$(CONTEXTS)" bash infra/azure/deploy.sh

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

## meterline: the operations tool (rebuild, replay, deadletters) as .build/meterline.
meterline:
	$(GO) build -o .build/meterline ./functions/cmd/meterline

clean:
	rm -rf .build
