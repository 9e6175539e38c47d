#!/bin/sh
# Build and run the test suite in each configuration, then print one line
# "N passed, N failed" summing them all. Exits nonzero if anything failed.
set -u
build=${1:-build}
jobs=${2:-2}
passed=0
failed=0
status=0

# run_config NAME CMAKE-OPTIONS...: configure, build and run ctest in
# $build/NAME. With $targets set, build only those targets; with $tests
# set, run only the tests matching that regular expression.
run_config() {
    name=$1; shift
    dir=$build/$name
    echo "=== $name: configure and build"
    if ! cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 && \
       ! (mkdir -p "$dir" && cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1); then
        cat "$dir.configure.log"; failed=$((failed + 1)); status=1; return
    fi
    # shellcheck disable=SC2086 # targets is a list of words
    if ! cmake --build "$dir" -j "$jobs" ${targets:+--target $targets}; then
        failed=$((failed + 1)); status=1; return
    fi
    echo "=== $name: ctest"
    out=$(cd "$dir" && ctest --output-on-failure -j "$jobs" ${tests:+-R "$tests"} 2>&1)
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

# The foreign-resource tests under valgrind (memcheck, leaks included),
# on the gcc build: cleanups free foreign memory, so a leak or a use after
# free there is exactly what these tests exist to catch.
run_valgrind() {
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "=== valgrind: not installed, skipped (.ci/run installs it)"
        return
    fi
    for t in test_cleanup test_finalize test_pressure; do
        exe=$build/gcc/tests/$t
        if [ ! -x "$exe" ]; then failed=$((failed + 1)); status=1; continue; fi
        if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                "$exe" >"$build/valgrind-$t.log" 2>&1; then
            echo "=== valgrind $t: passed"; passed=$((passed + 1))
        else
            echo "=== valgrind $t: FAILED"; cat "$build/valgrind-$t.log"
            failed=$((failed + 1)); status=1
        fi
    done
}

mkdir -p "$build"
targets="" tests="" run_config gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc
run_valgrind
# Checked mode compiled out (-DTETHER_CHECKS=OFF): the library and the
# suite must build and pass without it too (the checked-only tests skip).
targets="" tests="" \
    run_config nochecks -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DTETHER_CHECKS=OFF
targets="" tests="" TT_CHECKED=1 \
    run_config asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DTETHER_SANITIZE=address
# The tests that use threads, under ThreadSanitizer: the static table's
# lock-free lookups while another thread registers (test_static), heaps
# used from several threads (test_threads), many threads on one heap
# (test_mt), the thread misuses (test_mt_misuse) and leak reports made
# while another thread makes and frees handles (test_leaks), and the Lua
# bridge, whose held values another thread's collection must leave to the
# thread that runs the Lua state (test_lua).
targets="test_static test_threads test_mt test_mt_misuse test_leaks test_lua" \
tests="^(test_static|test_threads|test_mt|lua_bridge)[.]|^test_mt_misuse\$|^test_leaks\$" \
    run_config tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DTETHER_SANITIZE=thread
echo "$passed passed, $failed failed"
exit $status
