# Front-end assets and the browser for browser tests.
# Included by the top-level Makefile; paths are relative to the repository root.
#
#   make assets    npm ci (only when node_modules is missing or older than package-lock.json),
#                  then copy the bpmn-js bundles into webapp/static/vendor/bpmn-js/ and ECharts into
#                  webapp/static/vendor/echarts/.
#                  A no-op when nothing changed.
#   make chromium  install Debian's chromium and a CJK font when they are missing
#                  (Playwright's own browser download cannot work on these machines).

NPM ?= npm
ASSETS_STAMP := webapp/static/vendor/.built
# npm ci writes this file last; its mtime says when node_modules was last installed.
ASSETS_NPM_STAMP := node_modules/.package-lock.json
CHROMIUM_BIN ?= /usr/bin/chromium
CHROMIUM_PACKAGES := chromium fonts-noto-cjk
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: assets chromium

assets: $(ASSETS_STAMP)

$(ASSETS_NPM_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

$(ASSETS_STAMP): $(ASSETS_NPM_STAMP) webapp/assets/build.mjs .bpmnlintrc $(wildcard webapp/assets/studio/*)
	$(NPM) run --silent build
	@touch $@

chromium:
	@if [ -x $(CHROMIUM_BIN) ] && dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
		echo "chromium: $$($(CHROMIUM_BIN) --version 2>/dev/null) at $(CHROMIUM_BIN); fonts-noto-cjk installed"; \
	else \
		echo "chromium: installing Debian packages $(CHROMIUM_PACKAGES) (browser tests use $(CHROMIUM_BIN))"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(CHROMIUM_PACKAGES) && \
		echo "chromium: installed $$($(CHROMIUM_BIN) --version)"; \
	fi
