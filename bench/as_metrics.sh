#!/bin/sh
# bench/as_metrics.sh PROGRAM [ARG...]: run PROGRAM and turn each line of
# its standard output of the form "PREFIX NAME NUMBER" (as bench/handles
# prints them: "handles local_in_frame_ns 1.23") into a runner metric line
# "@ NAME NUMBER ns per operation lower", so that bench/runner can take
# medians and ratios of them. Other lines pass through unchanged. The exit
# status is PROGRAM's. Used by the `checked` section of bench/run.sh.
set -u
if [ $# -lt 1 ]; then
    echo "usage: sh bench/as_metrics.sh PROGRAM [ARG...]" >&2
    exit 2
fi
out=$("$@")
status=$?
printf '%s\n' "$out" | awk 'NF == 3 && $3 ~ /^[0-9.]+$/ { print "@", $2, $3, "ns per operation lower"; next }
                            NF > 0 { print }'
exit "$status"
