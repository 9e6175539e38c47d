#!/bin/sh
# Build and run the test suite in each configuration, then print one line
# "N passed, N failed" summing them all. Exits nonzero if anything failed.
set -u
build=${1:-build}
jobs=${2:-2}
passed=0
failed=0
status=0

run_config() {
    name=$1; shift
    dir=$build/$name
    echo "=== $name: configure and build"
    if ! cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 && \
       ! (mkdir -p "$dir" && cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1); then
        cat "$dir.configure.log"; failed=$((failed + 1)); status=1; return
    fi
    if ! cmake --build "$dir" -j "$jobs"; then
        failed=$((failed + 1)); status=1; return
    fi
    echo "=== $name: ctest"
    out=$(cd "$dir" && ctest --output-on-failure -j "$jobs" 2>&1)
    rc=$?
    echo "$out"
    line=$(echo "$out" | grep -aE 'tests passed, [0-9]+ tests failed out of [0-9]+' | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1)); status=1; return
    fi
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
    n=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
    passed=$((passed + n - f))
    failed=$((failed + f))
    [ $rc -eq 0 ] || status=1
}

mkdir -p "$build"
run_config gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc
TT_CHECKED=1 run_config asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DTETHER_SANITIZE=address
echo "$passed passed, $failed failed"
exit $status
