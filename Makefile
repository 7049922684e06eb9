# The two set-up commands of the README are `make run` and `make test`.
# Everything below installs from the project's own files and is idempotent.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed
CONTRACTS := contracts/build/NotaryRegistry.json

.PHONY: run test setup lint browser netns-tools openssl nginx contracts contracts-lock bench clean

run: setup openssl
	$(BIN)/notary node --dev

test: setup lint browser netns-tools openssl nginx
	$(BIN)/pytest

# The verification page's browser test drives Debian's chromium (no browser download).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium fonts-noto-cjk)

# tests/netns.py builds test hosts as network namespaces (ip) and partitions them (nft).
netns-tools:
	command -v ip >/dev/null && command -v nft >/dev/null || (apt-get update && apt-get install -y --no-install-recommends iproute2 nftables)

# The development TSA (devtools/tsa.py: `notary node --dev`, the timestamp tests) runs `openssl ts`.
openssl:
	command -v openssl >/dev/null || (apt-get update && apt-get install -y --no-install-recommends openssl)

# The tile tests and bench/tiles.py serve a node's static tiles with Debian's nginx.
nginx:
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update && apt-get install -y --no-install-recommends nginx-light)

setup: $(STAMP_PY) $(STAMP_NPM) $(CONTRACTS)

$(STAMP_PY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The pinned toolchain and the verification page's libraries, bundler and linter.
$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Compiles with the pinned solc and fails if an artifact differs from contracts/artifacts.lock.json.
$(CONTRACTS): $(STAMP_PY) $(STAMP_NPM) $(wildcard contracts/*.sol) contracts/artifacts.lock.json contracts/build.py
	$(PY) -m contracts.build

contracts: $(CONTRACTS)

# Deliberately accept new artifacts after a source or compiler change.
contracts-lock: $(STAMP_PY) $(STAMP_NPM)
	$(PY) -m contracts.build --update-lock

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	npx --no-install eslint verifier/web tests/js eslint.config.mjs

bench: setup nginx
	$(PY) -m bench.merkle
	$(PY) -m bench.verify --leaves 1000000 --bundles 1000 --live 300 --repeat 10
	$(PY) -m bench.gas
	$(PY) -m bench.devnet
	$(PY) -m bench.rpc
	$(PY) -m bench.node
	$(PY) -m bench.audit
	$(PY) -m bench.nation
	$(PY) -m bench.tiles
	$(PY) -m bench.proofs --entries 1000000 --seconds 10 --connections 64 --rate 3000 --write

clean:
	rm -rf $(VENV) node_modules contracts/build
