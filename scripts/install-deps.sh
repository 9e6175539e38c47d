#!/bin/sh
# Install what building tether needs with apt when it is missing:
#   libxxhash-dev       xxhash.h, the XXH3-128 hash behind static-table keys
#                       (header only: tether compiles it in, so nothing is
#                       added to what programs link).
#   liblua5.4-dev       Lua 5.4, for the Lua bridge (bridges/lua), its
#                       tests and its pressure scenario; pkg-config to
#                       find it.
#   default-jdk-headless  a JDK (javac, jni.h, libjvm) for the JVM bridge
#                       (bridges/jni), when javac is missing.
#   libclang-rt-N-dev   only when clang N is installed without its runtime
#                       libraries: libFuzzer, for the fuzz test of the
#                       closure decoder (tests/fuzz), which is skipped
#                       without it.
# Without root or apt, say what is missing; CMake then stops with the
# same advice (or, for libFuzzer, skips the fuzz test and says why).
need=""
[ -f /usr/include/xxhash.h ] || need="$need libxxhash-dev"
[ -f /usr/include/lua5.4/lua.h ] || need="$need liblua5.4-dev"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
command -v javac >/dev/null 2>&1 || need="$need default-jdk-headless"
if command -v clang >/dev/null 2>&1; then
    # -print-file-name prints the bare name back when the file is missing.
    rt=$(clang -print-file-name="libclang_rt.fuzzer-$(uname -m).a" 2>/dev/null)
    if [ ! -f "$rt" ]; then
        major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
        [ -n "$major" ] && need="$need libclang-rt-$major-dev"
    fi
fi
# shellcheck disable=SC2086 # need is a list of words
sh "$(dirname "$0")/apt-install.sh" "needed to build tether, its bridges and its fuzz test" $need
