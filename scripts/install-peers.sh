#!/bin/sh
# Install the benchmark peers (bdwgc, mimalloc) with apt when missing.
# Without root or apt, say so; bench/run.sh skips the peers it cannot find.
need=""
[ -f /usr/include/gc.h ] || need="$need libgc-dev"
[ -f /usr/include/mimalloc.h ] || need="$need libmimalloc-dev"
# shellcheck disable=SC2086 # need is a list of words
sh "$(dirname "$0")/apt-install.sh" "those peers will be skipped" $need
