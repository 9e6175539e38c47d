#!/bin/sh
# Install what building tether needs with apt when it is missing:
#   libxxhash-dev  xxhash.h, the XXH3-128 hash behind static-table keys
#                  (header only: tether compiles it in, so nothing is
#                  added to what programs link).
# Without root or apt, say what is missing; CMake then stops with the
# same advice.
need=""
[ -f /usr/include/xxhash.h ] || need="$need libxxhash-dev"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$need"
    (apt-get update -qq && apt-get install -y -qq $need) >/dev/null 2>&1 || \
        echo "apt-get could not install$need"
else
    echo "not root or no apt-get: cannot install$need (needed to build tether)"
fi
exit 0
