#!/bin/sh
# scripts/apt-install.sh PURPOSE PACKAGE...: install Debian packages with
# apt-get, as root; otherwise say which could not be installed and what
# for. Always exits 0: the callers decide what a missing package means.
purpose=$1; shift
[ $# -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: $*"
    (apt-get update -qq && apt-get install -y -qq "$@") >/dev/null 2>&1 || \
        echo "apt-get could not install $* ($purpose)"
else
    echo "not root or no apt-get: cannot install $* ($purpose)"
fi
exit 0
