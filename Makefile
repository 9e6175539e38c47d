# tether: the commands a user types. The build itself is CMake; this file
# only names configurations so that `make test` and friends work from a
# fresh clone.

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX  ?= /usr/local
BUILD   ?= build

CMAKE_GCC   = cmake -S . -B $(BUILD)/gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc
CMAKE_ASAN  = cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DTETHER_SANITIZE=address
CMAKE_BENCH = cmake -S . -B $(BUILD)/bench -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc -DTETHER_BENCH=ON -DTETHER_TESTS=OFF

.PHONY: all deps lib demo test test-gcc test-asan bench install clean

all: lib

# Build dependencies (libxxhash-dev), installed with apt when missing.
deps:
	@sh scripts/install-deps.sh

lib: deps
	@$(CMAKE_GCC) >/dev/null
	@cmake --build $(BUILD)/gcc -j $(JOBS) -- --no-print-directory

# The tour of every capability, then the foreign-resource examples and
# the static table across processes. Each one checks its own results; the
# first that fails stops the demo.
DEMO_EXAMPLES = malloc_buffer file refcount shutdown remote_call

demo: lib
	@$(BUILD)/gcc/examples/tour
	@for e in $(DEMO_EXAMPLES); do \
	    printf '\n== examples/%s.c\n' $$e; \
	    $(BUILD)/gcc/examples/$$e || exit 1; \
	done
	@printf '\n== bridges/lua/example_lua.c\n'
	@$(BUILD)/gcc/bridges/lua/example_lua
	@printf '\n== bridges/jni/example_jni.c\n'
	@$(BUILD)/gcc/bridges/jni/example_jni

# The suite twice: gcc with checked mode off by default, then clang under
# AddressSanitizer + UndefinedBehaviorSanitizer with checked mode on.
test: deps
	@sh scripts/run-tests.sh $(BUILD) $(JOBS)

bench: deps
	@sh scripts/install-peers.sh
	@$(CMAKE_BENCH) >/dev/null
	@cmake --build $(BUILD)/bench -j $(JOBS)
	@sh bench/run.sh $(BUILD)/bench

# Configure with the prefix so that tether.pc names it.
install: deps
	@$(CMAKE_GCC) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD)/gcc -j $(JOBS) -- --no-print-directory
	@cmake --install $(BUILD)/gcc

clean:
	rm -rf $(BUILD)
