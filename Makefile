# skwebhooks - the two commands of the README, and their helpers.
#
#   make run    install what is missing, build, start on 127.0.0.1:8080 (SQLite under ./var/)
#   make test   install what the tests need, build, run every test
#
# Both are idempotent. Packages are installed only when missing (needs root).

BUILD      ?= build
ASAN_BUILD ?= build-asan
LISTEN     ?= 127.0.0.1:8080
DB         ?= sqlite:./var/skwebhooks.db

BUILD_PKGS = build-essential meson ninja-build pkg-config libmicrohttpd-dev \
             libcurl4-openssl-dev libjansson-dev libsqlite3-dev libsodium-dev \
             libpq-dev ca-certificates
TEST_PKGS  = openssl binutils sqlite3 chromium libtcmalloc-minimal4

.PHONY: all deps test-deps apt-node apt-npm build run test test-unit test-e2e test-browser test-asan \
	format-check clean

all: build

# Installs the Debian packages in $(1) that are not installed yet.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root, or install:" $$missing; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_PKGS))

# Node.js comes with the machine image; on a bare Debian 12 it comes from apt.
test-deps: deps
	@command -v node >/dev/null 2>&1 || { $(MAKE) --no-print-directory apt-node; }
	@command -v npm >/dev/null 2>&1 || { $(MAKE) --no-print-directory apt-npm; }
	$(call apt_install,$(TEST_PKGS))
	@[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund

apt-node:
	$(call apt_install,nodejs)

apt-npm:
	$(call apt_install,npm)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@mkdir -p var && chmod 700 var
	@if [ ! -f var/dev-account.json ]; then \
		umask 077; \
		$(BUILD)/skwebhooks account create "Development" --db $(DB) --json > var/dev-account.json && \
		echo "Created the development account (also saved in var/dev-account.json):" && \
		cat var/dev-account.json; \
	else \
		echo "Development account (from var/dev-account.json):"; cat var/dev-account.json; \
	fi
	@echo "Try: curl -H 'Authorization: Bearer <api_key>' http://$(LISTEN)/api/v1/webhooks"
	@echo "Settings -> Webhooks for the development account (sign-in link, 15 minutes, one use):"
	@$(BUILD)/skwebhooks login-link "$$(sed 's/.*\"account_id\":\"\([^\"]*\)\".*/\1/' var/dev-account.json)" \
		--db $(DB) --base-url http://$(LISTEN)
	exec $(BUILD)/skwebhooks serve --listen $(LISTEN) --db $(DB) --key-file var/skwebhooks.key

# Every tracked C file as the checked-in .clang-format lays it out (CI runs this).
format-check:
	$(call apt_install,clang-format-14)
	git ls-files '*.c' '*.h' | xargs clang-format-14 --dry-run --Werror

test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

test-e2e: build
	SKW_BIN=$(BUILD)/skwebhooks node --test --test-concurrency=2 tests/e2e/

# Real Chromium (Debian's) driven by playwright-core; screenshots in build/screenshots/.
test-browser: build
	SKW_BIN=$(BUILD)/skwebhooks node --test --test-concurrency=1 tests/browser/

test: test-deps build test-unit test-e2e test-browser

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer, -Werror.
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
		-Dbuildtype=debug

test-asan: test-deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		SKW_BIN=$(ASAN_BUILD)/skwebhooks node --test --test-concurrency=2 tests/e2e/ tests/browser/

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# ---- benchmarks (owned by the bench suite; see docs/PERFORMANCE.md) ---------
#
#   make bench         the full suite (~10 minutes): prints one table
#   make bench-smoke   the same rows, a few seconds each (CI: checks it works)
#
# Both use their own release build in $(BENCH_BUILD) (meson buildtype=release,
# with debug info so perf can name functions), and build the receiver and the
# load generator from bench/ next to it. They need root only to install
# wrk, jq and sqlite3 when missing.

BENCH_BUILD ?= build-bench
BENCH_PKGS   = wrk jq sqlite3 curl openssl
BENCH_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
               -Wmissing-prototypes -Wvla -Wformat=2 -Wimplicit-fallthrough

.PHONY: bench bench-smoke bench-build bench-deps

# PostgreSQL too: row 6 runs on a durable server of the suite's own
# (tests/pg/start-pg.sh) unless SKW_BENCH_PG_URL names one.
bench-deps: deps
	$(call apt_install,$(BENCH_PKGS) $(PG_PKGS))

$(BENCH_BUILD)/build.ninja:
	meson setup $(BENCH_BUILD) -Dbuildtype=release -Ddebug=true

$(BENCH_BUILD)/bench/receiver: bench/receiver.c bench/args.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread -lssl -lcrypto

$(BENCH_BUILD)/bench/loadgen: bench/loadgen.c bench/args.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench-build: bench-deps $(BENCH_BUILD)/build.ninja
	ninja -C $(BENCH_BUILD) skwebhooks
	$(MAKE) --no-print-directory $(BENCH_BUILD)/bench/receiver $(BENCH_BUILD)/bench/loadgen

bench: bench-build
	SKW_BENCH_BIN=$(BENCH_BUILD)/skwebhooks SKW_BENCH_TOOLS=$(BENCH_BUILD)/bench bench/run.sh

bench-smoke: bench-build
	SKW_BENCH_BIN=$(BENCH_BUILD)/skwebhooks SKW_BENCH_TOOLS=$(BENCH_BUILD)/bench bench/run.sh --smoke

# ---- PostgreSQL (issue 5; owner: the PostgreSQL backend) ---------------------
# test-pg starts the test server (tests/pg/start-pg.sh: Debian's postgresql on
# port 55432, data in /tmp/skw-pg, run as the postgres user) and runs the
# storage unit tests and the whole e2e suite against it, multinode.test.mjs
# included. It fails, never skips, when the server cannot start.
# With an ASan build: make test-pg BUILD=build-asan (after make test-asan).
PG_PKGS = postgresql postgresql-client

.PHONY: test-pg test-pg-deps

test-pg-deps:
	$(call apt_install,$(PG_PKGS))

test-pg: test-deps test-pg-deps build
	@url=$$(tests/pg/start-pg.sh) && \
	echo "PostgreSQL for the tests: $${url%%:*}://...@$${url##*@}" && \
	SKW_TEST_PG_URL="$$url" ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(BUILD) --suite unit --print-errorlogs && \
	SKW_E2E_DB_URL_TEMPLATE="$${url%/*}/{db}" ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		SKW_BIN=$(BUILD)/skwebhooks node --test --test-concurrency=2 tests/e2e/
