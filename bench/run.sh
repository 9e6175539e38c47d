#!/bin/sh
# bench/run.sh BUILD_DIR: run every benchmark built into BUILD_DIR (by
# `make bench`: build/bench) and print a table of medians and ratios, also
# written to BUILD_DIR/bench-results.txt.
#
#   GCBench                     tether, bdwgc, malloc, mimalloc   5 rounds
#   binary-trees depth 16       the same four                     5 rounds
#   binary-trees depth 21       the same four                     3 rounds
#   handles                     tether                            3 runs
#   static pointer table        tether (dlsym for perspective)    3 runs
#   finalizable objects         tether (3 ways), bdwgc (2 ways)   5 rounds
#   finalizer metadata          tether (3 ways), bdwgc            1 run
#   finalizer chain and cycle   tether, bdwgc                     1 run
#   foreign memory pressure     tether, bdwgc                     3 rounds
#   GCBench on 1 and 2 threads  tether, bdwgc                     5 rounds
#   parallel marking, 200 MiB   tether, 1 and 2 mark threads      3 rounds
#   finalizer-thread latency    tether                            3 rounds
#   globals/weaks, 2 threads    tether                            3 runs
#   checked mode cost           tether: instruction counts under callgrind,
#                               checks compiled in vs -DTETHER_CHECKS=OFF
#                               (built into BUILD_DIR/nochecks); GCBench
#                               (5 rounds) and handles (3 runs) with
#                               TT_CHECKED=1 vs off
#
# BENCH_QUICK=1: 3 rounds, no depth 21, shorter handle runs, 1,000,000
# finalizable objects, 4,000 foreign buffers in 1 round, 1 static-table
# run of 3 rounds; the threaded benchmarks in 3 rounds (GCBench) or 1
# round or run, with 1 GCBench loop per thread, a 1-second finalizer run
# and shorter handle runs; in the checked section, 3 GCBench rounds and
# handle runs of -n 2.
# BENCH_ONLY="SECTION...": run only those sections, among gcbench,
# binarytrees, handles, static, finalizers, threads, checked and bridges
# (for example BENCH_ONLY=threads, the issue-5 benchmarks,
# BENCH_ONLY=checked, the cost of checked mode of issue 6, or
# BENCH_ONLY=bridges, the pressure scenarios of issue 7).
# Programs that were not built (a peer missing at configure time) are
# skipped. Exit status: 0 if every program ran and agreed with its peers.
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: sh bench/run.sh BUILD_DIR" >&2
    exit 2
fi
B=$1
BIN=$B/bench
RUNNER=$BIN/runner
RESULTS=$B/bench-results.txt
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x "$RUNNER" ]; then
    echo "run.sh: $RUNNER not found; build with \`make bench\`" >&2
    exit 2
fi

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    ROUNDS=3 ROUNDS21=0 HANDLE_RUNS=3 HANDLE_OPS="-n 10"
    FIN_N=1000000 FIN_ROUNDS=3 PRESSURE_N=4000 PRESSURE_ROUNDS=1
    STATIC_RUNS=1 STATIC_ROUNDS=3
    MT_ROUNDS=3 MT_REPEAT=1 PARMARK_ROUNDS=1 FINLAT_ROUNDS=1 FINLAT_S=1
    HMT_RUNS=1 HMT_OPS="-n 2 -r 3"
    CHK_HANDLE_OPS="-n 2"
else
    ROUNDS=5 ROUNDS21=3 HANDLE_RUNS=3 HANDLE_OPS=""
    FIN_N=2000000 FIN_ROUNDS=5 PRESSURE_N=20000 PRESSURE_ROUNDS=3
    STATIC_RUNS=3 STATIC_ROUNDS=5
    MT_ROUNDS=5 MT_REPEAT=2 PARMARK_ROUNDS=3 FINLAT_ROUNDS=3 FINLAT_S=2.5
    HMT_RUNS=3 HMT_OPS="-n 4 -r 5"
    CHK_HANDLE_OPS="-n 5"
fi
PARMARK_MIB=200
# A threaded run still going after this many seconds is killed and reported
# as FAILED (a deadlock must not stop the whole benchmark).
MT_TIMEOUT=300
STATIC_N=100000
META_N=1000000

# Benchmarks measure the default configuration: checked mode off.
if [ -n "${TT_CHECKED:-}" ]; then
    echo "run.sh: ignoring TT_CHECKED=$TT_CHECKED (benchmarks run with checked mode off)" >&2
    unset TT_CHECKED
fi

STATUS=$(mktemp "${TMPDIR:-/tmp}/tether-bench-status.XXXXXX") || exit 2
trap 'rm -f "$STATUS"' EXIT
echo 0 >"$STATUS"
failed() { echo 1 >"$STATUS"; }

# compare TITLE ROUNDS "GOAL OPTIONS" PROGRAM "ARGS": run PROGRAM_<variant>
# for every variant that was built, alternately, and print the table.
compare() {
    title=$1 rounds=$2 goals=$3 prog=$4 args=$5
    set --
    skipped=""
    for v in tether bdwgc malloc mimalloc; do
        exe=$BIN/${prog}_$v
        if [ -x "$exe" ]; then
            # shellcheck disable=SC2086 # args is a list of words
            set -- "$@" -- "$v" "$exe" $args
        else
            skipped="$skipped $v"
        fi
    done
    if [ $# -eq 0 ]; then
        echo "== $title: nothing built, skipped =="
        failed
        return
    fi
    # shellcheck disable=SC2086 # goals is a list of options
    "$RUNNER" -r "$rounds" -t "$title" -c $goals "$@" || failed
    [ -n "$skipped" ] && echo "  (not built, skipped:$skipped)"
    echo
}

# compare_list TITLE ROUNDS "OPTIONS" ENTRIES: run the programs of ENTRIES,
# one per line "NAME PROGRAM [ARG...]" (PROGRAM in BIN), alternately, and
# print the table. Programs that were not built are skipped.
compare_list() {
    title=$1 rounds=$2 opts=$3 entries=$4
    set --
    skipped=""
    while read -r name prog args; do
        [ -n "$name" ] || continue
        if [ -x "$BIN/$prog" ]; then
            # shellcheck disable=SC2086 # args is a list of words
            set -- "$@" -- "$name" "$BIN/$prog" $args
        else
            skipped="$skipped $name"
        fi
    done <<EOF
$entries
EOF
    if [ $# -eq 0 ]; then
        echo "== $title: nothing built, skipped =="
        failed
        return
    fi
    # shellcheck disable=SC2086 # opts is a list of options
    "$RUNNER" -r "$rounds" -t "$title" $opts "$@" || failed
    [ -n "$skipped" ] && echo "  (not built, skipped:$skipped)"
    echo
}

# The finalizer benchmarks (bench/fin_*, chain_*, pressure_*).
finalizers() {
    compare_list "finalizable objects, $FIN_N allocated, registered, dropped, finalized" \
        "$FIN_ROUNDS" "-c -a objects_per_s:ge:10" "\
tether-push fin_tether push $FIN_N
tether-foreign fin_tether foreign $FIN_N
tether-type fin_tether type $FIN_N
bdwgc-noorder fin_bdwgc noorder $FIN_N
bdwgc-ordered fin_bdwgc ordered $FIN_N"
    compare_list "finalizer metadata, $META_N finalizable objects held live" 1 \
        "-M -c -a meta_bytes_per_object:le:16" "\
tether-push fin_tether meta push $META_N
tether-foreign fin_tether meta foreign $META_N
tether-type fin_tether meta type $META_N
bdwgc fin_bdwgc meta ordered $META_N"
    compare_list "finalizer chain of 1000 and 2-object cycle: collections needed" 1 \
        "-M -c -a chain_collections:le:1 -a cycle_collections:le:1" "\
tether chain_tether
bdwgc chain_bdwgc"
    compare_list "foreign memory pressure, $PRESSURE_N buffers of 1 MiB, 10 kept" \
        "$PRESSURE_ROUNDS" "-c -a rss:le:40" "\
tether pressure_tether $PRESSURE_N
bdwgc pressure_bdwgc $PRESSURE_N"
}

# The threaded benchmarks (issue 5): bench/mt_gcbench_*, parmark,
# fin_latency, handles_mt.
threads() {
    t="-T $MT_TIMEOUT"
    # Every thread does the same work, so 2 threads do twice the work of 1:
    # the 1-thread runs are peers of tether-2t, and the goals compare
    # tether-2t's throughput with tether-1t's and its wall with bdwgc-2t's.
    # tether-2p does the 2-thread work in 2 processes of one thread each,
    # with a heap each: the most this machine gives 2 threads (no target).
    compare_list "GCBench on threads: $MT_REPEAT GCBench loop(s) per thread, shared tree in a global" \
        "$MT_ROUNDS" "$t -c -b tether-2t -g bdwgc-2t:0.8 -G tether-1t:mnodes_per_s:ge:1.6
                      -a safepoint_p99_us:le:1000" "\
tether-2t mt_gcbench_tether 2 $MT_REPEAT
tether-1t mt_gcbench_tether 1 $MT_REPEAT
tether-2p mt_gcbench_tether 2p $MT_REPEAT
bdwgc-2t mt_gcbench_bdwgc 2 $MT_REPEAT
bdwgc-1t mt_gcbench_bdwgc 1 $MT_REPEAT"
    compare_list "parallel marking: full collections of a $PARMARK_MIB MiB live heap, 1 and 2 mark threads" \
        "$PARMARK_ROUNDS" "$t -M -c -b tether-mark2 -G tether-mark1:pause_ms:le:0.65" "\
tether-mark2 parmark 2 $PARMARK_MIB
tether-mark1 parmark 1 $PARMARK_MIB"
    compare_list "finalizer thread: foreign objects made at a paced 1 M/s for $FINLAT_S s and dropped" \
        "$FINLAT_ROUNDS" "$t -M -a latency_p99_ms:le:10" "\
tether fin_latency $FINLAT_S 1000000"
    compare_list "globals from 1 and 2 threads: new + get + free; in-program medians" \
        "$HMT_RUNS" "$t -M -a scaling:ge:1.6" "\
tether-global handles_mt global $HMT_OPS"
    compare_list "global batches and weak references from 1 and 2 threads (no target); in-program medians" \
        "$HMT_RUNS" "$t -M" "\
tether-global-batch handles_mt global_batch $HMT_OPS
tether-weak handles_mt weak $HMT_OPS"
}

# median: the median of the numbers on standard input, one per line.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a"; exit }
        if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2]
        else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# handle_row LABEL KEY GOAL JNI JNI_TEXT: one line of the handles table.
handle_row() {
    ns=$(grep "^handles $2 " "$HANDLES_OUT" | awk '{ print $3 }' | median)
    awk -v label="$1" -v ns="$ns" -v goal="$3" -v jni="$4" -v jtext="$5" 'BEGIN {
        if (ns == "n/a") { printf "  %-30s %9s\n", label, "FAILED"; exit }
        verdict = (ns + 0 <= goal + 0) ? "met" : "MISSED"
        printf "  %-30s %9.2f   <= %-3s %-6s %8s %10.1fx\n", label, ns, goal, verdict, jtext,
               jni / ns }'
}

handles() {
    exe=$BIN/handles
    if [ ! -x "$exe" ]; then
        echo "== handles: not built, skipped =="
        failed
        return
    fi
    HANDLES_OUT=$(mktemp "${TMPDIR:-/tmp}/tether-bench-handles.XXXXXX") || exit 2
    i=1
    while [ "$i" -le "$HANDLE_RUNS" ]; do
        echo "  handles run $i/$HANDLE_RUNS" >&2
        # shellcheck disable=SC2086
        "$exe" $HANDLE_OPS >>"$HANDLES_OUT" || { echo "  handles run $i FAILED"; failed; }
        i=$((i + 1))
    done
    echo "== handles: $HANDLE_RUNS runs of bench/handles, each the median of 5 rounds; medians of the runs =="
    printf "  %-30s %9s   %-10s %8s %11s\n" "operation" "tether ns" "goal ns" "JNI ns*" "JNI/tether"
    handle_row "local_new in an open frame" local_in_frame_ns 3 12 12
    handle_row "frame push + 1 local + pop" push_local_pop_ns 6 32 32
    handle_row "global new + free" global_new_free_ns 15 79 "76-82"
    echo "  * JNI figures are QUOTED from DESIGN.md section 6 (local ref in a frame;"
    echo "    PushLocalFrame + 1 + PopLocalFrame; NewGlobalRef + DeleteGlobalRef),"
    echo "    not measured here. The ratio uses 79 ns for the global row."
    rm -f "$HANDLES_OUT"
    echo
}

# The cost of checked mode (issue 6, part 4). Two goals:
#  - checks compiled in but off at run time costs nothing: the total
#    instruction count under callgrind of bench/handles and GCBench is
#    within 1% of a build configured with -DTETHER_CHECKS=OFF (built here,
#    into BUILD_DIR/nochecks). Skipped, with the reason, without valgrind.
#  - checked mode on (TT_CHECKED=1) costs at most 2x: GCBench wall time,
#    and each bench/handles figure, against the same binary with it off.
CG_HANDLES_N=0.2 # millions of handle operations per round under callgrind
VALGRIND=${VALGRIND:-valgrind}

# cg_ir NAME PROGRAM [ARG...]: run PROGRAM under callgrind, output in
# CG_DIR/NAME.out; print its total instruction count (Ir), or nothing if
# the run failed.
cg_ir() {
    name=$1
    shift
    if "$VALGRIND" --tool=callgrind --callgrind-out-file="$CG_DIR/$name.out" "$@" \
        >"$CG_DIR/$name.stdout" 2>"$CG_DIR/$name.log"; then
        sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$CG_DIR/$name.out" | head -n 1
    fi
}

# cg_functions FILE: "function Ir" per line from a callgrind output file,
# self cost, the program's own path left out of the names.
cg_functions() {
    callgrind_annotate --threshold=100 "$1" 2>/dev/null |
        sed -n 's/^ *\([0-9,][0-9,]*\) ([ 0-9.]*%)  \([^ ]*\).*/\2 \1/p' | tr -d , |
        awk '$1 != "PROGRAM" { n = split($1, part, ":"); fn[part[n]] += $2 }
             END { for (f in fn) print f, fn[f] }'
}

# cg_row LABEL IR_IN IR_OFF: one row of the instruction-count table, with
# its goal (within 1%). Fails if a count is missing (the run failed).
cg_row() {
    awk -v label="$1" -v a="$2" -v b="$3" 'BEGIN {
        if (a == "" || b == "") { printf "  %-18s %15s\n", label, "FAILED"; exit 1 }
        d = (a - b) / b * 100
        verdict = (d <= 1 && d >= -1) ? "met" : "MISSED"
        printf "  %-18s %15.0f %15.0f %+9.0f %+10.5f%%   goal within 1%%: %s\n", label, a, b, a - b, d, verdict
    }'
}

# cg_diff IN OFF: the functions whose instruction counts differ most
# between the two callgrind outputs (self cost, compiled in - OFF).
cg_diff() {
    command -v callgrind_annotate >/dev/null 2>&1 || return 0
    cg_functions "$1" | sort >"$CG_DIR/in.fn"
    cg_functions "$2" | sort >"$CG_DIR/off.fn"
    join -a1 -a2 -e0 -o 0,1.2,2.2 "$CG_DIR/in.fn" "$CG_DIR/off.fn" |
        awk '$2 != $3 { d = $2 - $3; printf "%d %+d %s\n", (d < 0 ? -d : d), d, $1 }' |
        sort -k1,1nr | head -n 4 |
        awk 'BEGIN { printf "    largest differences by function (self Ir, compiled in - OFF):" }
             { printf "%s %s %s", (n++ ? "," : ""), $3, $2 }
             END { if (!n) printf " none"; printf "\n" }'
}

checked() {
    NC=$B/nochecks
    echo "== checked mode cost (issue 6 part 4) =="
    # The TETHER_CHECKS=OFF build: the same compiler, build type and flags as
    # BUILD_DIR, only the two programs measured.
    gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$B/CMakeCache.txt" 2>/dev/null)
    bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$B/CMakeCache.txt" 2>/dev/null)
    cflags=$(sed -n 's/^CMAKE_C_FLAGS:[A-Z]*=//p' "$B/CMakeCache.txt" 2>/dev/null)
    san=$(sed -n 's/^TETHER_SANITIZE:[A-Z]*=//p' "$B/CMakeCache.txt" 2>/dev/null)
    # Both builds of the two programs from the same sources: BUILD_DIR's are
    # brought up to date too (nothing to do right after `make bench`).
    echo "  building the TETHER_CHECKS=OFF variant into $NC" >&2
    if ! { cmake --build "$B" --target handles gcbench_tether &&
           cmake -S "$SRC" -B "$NC" ${gen:+-G "$gen"} -DCMAKE_BUILD_TYPE="${bt:-Release}" \
               -DCMAKE_C_COMPILER="${cc:-cc}" -DCMAKE_C_FLAGS="$cflags" -DTETHER_SANITIZE="$san" \
               -DTETHER_CHECKS=OFF -DTETHER_BENCH=ON -DTETHER_TESTS=OFF -DTETHER_EXAMPLES=OFF &&
           cmake --build "$NC" -j "$(nproc 2>/dev/null || echo 2)" --target handles gcbench_tether; } \
        >"$NC.log" 2>&1; then
        echo "  building the programs failed (see $NC.log): section skipped"
        failed
        echo
        return
    fi
    for exe in "$BIN/handles" "$BIN/gcbench_tether"; do
        if [ ! -x "$exe" ]; then
            echo "  $exe not built: section skipped"
            failed
            echo
            return
        fi
    done

    # 1. Instruction counts, checked mode off at run time (TT_CHECKED unset).
    if ! command -v "$VALGRIND" >/dev/null 2>&1; then
        echo "  instruction counts: SKIPPED, $VALGRIND (callgrind) is not installed"
        echo "  (apt-get install valgrind); the goal \"within 1%\" is not measured"
    else
        CG_DIR=$B/callgrind
        mkdir -p "$CG_DIR"
        echo "  callgrind: handles (checks compiled in, twice), then TETHER_CHECKS=OFF" >&2
        h_in=$(cg_ir handles-in "$BIN/handles" -n "$CG_HANDLES_N")
        h_in2=$(cg_ir handles-in-again "$BIN/handles" -n "$CG_HANDLES_N")
        h_off=$(cg_ir handles-off "$NC/bench/handles" -n "$CG_HANDLES_N")
        echo "  callgrind: GCBench (checks compiled in), then TETHER_CHECKS=OFF; about a minute" >&2
        g_in=$(cg_ir gcbench-in "$BIN/gcbench_tether")
        g_off=$(cg_ir gcbench-off "$NC/bench/gcbench_tether")
        echo "  instruction counts under callgrind (total Ir of the process), checked mode off at run time;"
        echo "  compiled in: the default build (TETHER_CHECKS=ON); CHECKS=OFF: -DTETHER_CHECKS=OFF"
        printf "  %-18s %15s %15s %9s %11s\n" "program" "compiled in" "CHECKS=OFF" "Ir diff" "diff %"
        cg_row "handles -n $CG_HANDLES_N" "$h_in" "$h_off" || failed
        [ -n "$h_in" ] && [ -n "$h_off" ] && cg_diff "$CG_DIR/handles-in.out" "$CG_DIR/handles-off.out"
        cg_row "gcbench_tether" "$g_in" "$g_off" || failed
        [ -n "$g_in" ] && [ -n "$g_off" ] && cg_diff "$CG_DIR/gcbench-in.out" "$CG_DIR/gcbench-off.out"
        if [ -n "$h_in" ] && [ -n "$h_in2" ]; then
            awk -v a="$h_in" -v b="$h_in2" 'BEGIN { d = a - b; if (d < 0) d = -d
                printf "  noise: the same handles binary run twice differs by %.0f Ir (%.5f%%)\n", d, d / b * 100 }'
        fi
        echo "  callgrind outputs in $CG_DIR (callgrind_annotate FILE)"
    fi
    echo

    # 2. Wall time, checked mode on against off, same binary; the
    # TETHER_CHECKS=OFF build alongside, for perspective.
    "$RUNNER" -r "$ROUNDS" -t "GCBench, checked mode on (TT_CHECKED=1) vs off" -c \
        -b checked-on -g checked-off:2.0 \
        -- checked-on env TT_CHECKED=1 "$BIN/gcbench_tether" \
        -- checked-off "$BIN/gcbench_tether" \
        -- checks-compiled-out "$NC/bench/gcbench_tether" || failed
    echo
    # shellcheck disable=SC2086 # CHK_HANDLE_OPS is a list of words
    "$RUNNER" -r "$HANDLE_RUNS" -M \
        -t "handles ($CHK_HANDLE_OPS), checked mode on (TT_CHECKED=1) vs off; in-program medians" \
        -b checked-on -G checked-off:local_in_frame_ns:le:2 \
        -G checked-off:push_local_pop_ns:le:2 -G checked-off:global_new_free_ns:le:2 \
        -- checked-on env TT_CHECKED=1 sh "$SRC/bench/as_metrics.sh" "$BIN/handles" $CHK_HANDLE_OPS \
        -- checked-off sh "$SRC/bench/as_metrics.sh" "$BIN/handles" $CHK_HANDLE_OPS \
        -- checks-compiled-out sh "$SRC/bench/as_metrics.sh" "$NC/bench/handles" $CHK_HANDLE_OPS ||
        failed
    echo
}

# The static pointer table (bench/static_lookup): STATIC_RUNS runs, each
# figure the median of STATIC_ROUNDS rounds inside the program, then the
# median of the runs. dlsym is measured in the same process, for
# perspective; it has no goal.
static_table() {
    compare_list "static pointer table, $STATIC_N entries, ns per operation; in-program median of $STATIC_ROUNDS" \
        "$STATIC_RUNS" "-M -a static_lookup_random_ns:le:20" "\
tether static_lookup -n $STATIC_N -r $STATIC_ROUNDS"
}

# The bridges (issue 7). The JVM: the -Xmx64m scenario (10,000 byte[1 MiB],
# the last 10 kept, with the bridge and with plain global references), and
# jni_bench's two cost targets, measured against hand-written JNI in the
# same process. Lua: the pressure scenario, 10,000 items of 1 MiB,
# the last 10 kept, Lua's allocator and the tether heap capped at 256 MiB;
# Lua strings held from C, then tether objects held from Lua; each with the
# bridge and with a baseline without it. The bridge runs must complete
# (the status fails otherwise); the baselines are expected to fail at the
# cap, which is what they are there to show. Each run is its own process,
# so peak RSS is its own.
bridges() {
    echo "== bridges: the Lua pressure scenario (issue 7) =="
    if [ ! -x "$B/bridges/lua/lua_pressure" ]; then
        echo "  lua_pressure not built (configure with -DTETHER_BRIDGES=ON and Lua 5.4): skipped"
        echo
        return
    fi
    "$B/bridges/lua/lua_pressure" "${LUA_ITEMS:-10000}" || failed
    echo "  goal: both bridge runs complete beside failing baselines"
    echo
    echo "== bridges: the JVM pressure scenario and cost targets (issue 7) =="
    if [ ! -x "$B/bridges/jni/jni_pressure" ]; then
        echo "  jni_pressure not built (configure with -DTETHER_BRIDGES=ON and a JDK): skipped"
        echo
        return
    fi
    "$B/bridges/jni/jni_pressure" "${JNI_ITEMS:-10000}" || failed
    echo "  goal: the bridge run completes beside a failing baseline"
    "$B/bridges/jni/jni_bench" || failed
    echo
}

main() {
    echo "tether benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
    cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
    echo "machine: ${cpu:-unknown cpu}, $(nproc 2>/dev/null || echo '?') cpus, $(uname -sr)"
    rev=$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo "no git revision")
    cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$B/CMakeCache.txt" 2>/dev/null)
    echo "source: $rev; compiler: $("${cc:-cc}" --version 2>/dev/null | head -n 1)"
    [ "${BENCH_QUICK:-0}" = 1 ] && echo "BENCH_QUICK=1: fewer rounds, binary-trees depth 21 skipped, smaller finalizer and thread runs"
    [ -n "${BENCH_ONLY:-}" ] && echo "BENCH_ONLY=$BENCH_ONLY: only those sections"
    echo "wall and RSS are medians over alternating runs; ratios are tether / peer (below 1.00x: tether better)"
    echo

    section gcbench && compare "GCBench" "$ROUNDS" "-g bdwgc:0.8:1.0" gcbench ""
    section binarytrees && compare "binary-trees depth 16" "$ROUNDS" "" binarytrees 16
    if section binarytrees && [ "$ROUNDS21" -gt 0 ]; then
        compare "binary-trees depth 21" "$ROUNDS21" "-g bdwgc:0.8:1.0" binarytrees 21
    fi
    section handles && handles
    section static && static_table
    section finalizers && finalizers
    section threads && threads
    section checked && checked
    section bridges && bridges
}

# section NAME: whether BENCH_ONLY (a list of section names) is empty or
# names NAME.
section() {
    [ -z "${BENCH_ONLY:-}" ] && return 0
    for s in $BENCH_ONLY; do
        [ "$s" = "$1" ] && return 0
    done
    return 1
}

main | tee "$RESULTS"
echo "results written to $RESULTS"
exit "$(cat "$STATUS")"
