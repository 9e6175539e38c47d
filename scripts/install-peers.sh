#!/bin/sh
# Install the benchmark peers (bdwgc, mimalloc) with apt when missing.
# Without root or apt, say so; bench/run.sh skips the peers it cannot find.
need=""
[ -f /usr/include/gc.h ] || need="$need libgc-dev"
[ -f /usr/include/mimalloc.h ] || need="$need libmimalloc-dev"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$need"
    (apt-get update -qq && apt-get install -y -qq $need) >/dev/null 2>&1 || \
        echo "apt-get could not install$need: those peers will be skipped"
else
    echo "not root or no apt-get: cannot install$need; those peers will be skipped"
fi
exit 0
