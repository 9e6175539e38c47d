/*
 * bench/runner.c: run several programs alternately and compare them.
 *
 *   runner [-r ROUNDS] [-t TITLE] [-b BASE] [-c] [-q] [-g PEER:TIME:RSS]...
 *          -- NAME CMD [ARG...] [-- NAME CMD [ARG...]]...
 *
 * Every round runs each program once; the order rotates from round to
 * round, so that no program always runs first or right after the same
 * neighbour. On a noisy machine that spreads the noise evenly over the
 * programs, which is what makes their ratios meaningful.
 *
 * For each run: wall time (CLOCK_MONOTONIC around fork, exec and wait4),
 * CPU time (user + system from wait4) and peak RSS (ru_maxrss from wait4).
 * A run that does not exit with status 0 fails the program. A program's
 * standard output is captured, not shown; it must be the same in every
 * run, and with -c the same for every program (their results agree).
 * Standard error passes through.
 *
 * Printed on standard output: a table with, for each program, the median
 * wall time (and its range), median CPU time and median peak RSS; then the
 * ratios of the base program (-b; default: the first whose name contains
 * "tether", else the first) to each other program. A ratio below 1.00x
 * means the base program is faster or smaller. -g PEER:TIME:RSS states a
 * goal (base wall <= TIME x PEER's and base RSS <= RSS x PEER's), reported
 * as met or MISSED beside that ratio. Progress goes to standard error
 * unless -q.
 *
 * Exit status: 0 if every run succeeded (and outputs agreed), 1 if not,
 * 2 for a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PROGS = 32, MAX_GOALS = 32, MAX_ROUNDS = 1000 };

struct prog {
    const char *name;
    char **argv;      /* NULL-terminated, points into main's argv */
    double *wall;     /* seconds, one per successful run */
    double *cpu;
    double *rss_mib;
    int runs;         /* successful runs */
    int failed;       /* a run failed or its output differed */
    char why[96];     /* why it failed */
    int out_fd;       /* captured standard output of the current run */
    char *output;     /* output of the first run */
    size_t output_len;
};

struct goal {
    const char *peer;
    double time, rss;
};

static struct prog progs[MAX_PROGS];
static int nprogs;
static struct goal goals[MAX_GOALS];
static int ngoals;

static void usage(void)
{
    fprintf(stderr,
            "usage: runner [-r ROUNDS] [-t TITLE] [-b BASE] [-c] [-q] [-g PEER:TIME:RSS]...\n"
            "              -- NAME CMD [ARG...] [-- NAME CMD [ARG...]]...\n");
    exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        perror("runner");
        exit(2);
    }
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), n > 0; sorts v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* An unlinked temporary file for a program's standard output. */
static int temp_fd(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/runner-out-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "runner: cannot create a temporary file in %s: %s\n",
                dir && *dir ? dir : "/tmp", strerror(errno));
        exit(2);
    }
    unlink(path);
    return fd;
}

/* The whole content of fd. Sets *len. */
static char *read_all(int fd, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        perror("runner: fstat");
        exit(2);
    }
    size_t n = (size_t)st.st_size;
    char *buf = xcalloc(n + 1, 1);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    *len = got;
    return buf;
}

static int same_output(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Run p once; record it, or mark p failed. Returns the wall time or -1. */
static double run_once(struct prog *p)
{
    if (ftruncate(p->out_fd, 0) != 0 || lseek(p->out_fd, 0, SEEK_SET) != 0) {
        perror("runner: resetting the output file");
        exit(2);
    }
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("runner: fork");
        exit(2);
    }
    if (pid == 0) {
        if (dup2(p->out_fd, STDOUT_FILENO) < 0) _exit(127);
        execvp(p->argv[0], p->argv);
        fprintf(stderr, "runner: cannot run %s: %s\n", p->argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t w;
    do {
        w = wait4(pid, &status, 0, &ru);
    } while (w < 0 && errno == EINTR);
    double wall = now_s() - t0;
    if (w < 0) {
        perror("runner: wait4");
        exit(2);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            snprintf(p->why, sizeof p->why, "killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else
            snprintf(p->why, sizeof p->why, "exit status %d", WEXITSTATUS(status));
        fprintf(stderr, "runner: %s: %s\n", p->name, p->why);
        p->failed = 1;
        return -1;
    }
    size_t len;
    char *out = read_all(p->out_fd, &len);
    if (!p->output) {
        p->output = out;
        p->output_len = len;
    } else {
        if (!same_output(p->output, p->output_len, out, len)) {
            snprintf(p->why, sizeof p->why, "output differs between runs");
            fprintf(stderr, "runner: %s: %s\n", p->name, p->why);
            p->failed = 1;
        }
        free(out);
    }
    p->wall[p->runs] = wall;
    p->cpu[p->runs] = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    p->rss_mib[p->runs] = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB */
    p->runs++;
    return wall;
}

static struct prog *find_prog(const char *name)
{
    for (int i = 0; i < nprogs; ++i)
        if (strcmp(progs[i].name, name) == 0) return &progs[i];
    return NULL;
}

static void parse_goal(const char *s)
{
    if (ngoals == MAX_GOALS) usage();
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2) usage();
    char *peer = xcalloc((size_t)(c1 - s) + 1, 1);
    memcpy(peer, s, (size_t)(c1 - s));
    char *end;
    double tm = strtod(c1 + 1, &end);
    if (end != c2 || tm <= 0) usage();
    double rs = strtod(c2 + 1, &end);
    if (*end || rs <= 0) usage();
    goals[ngoals++] = (struct goal){peer, tm, rs};
}

int main(int argc, char **argv)
{
    int rounds = 5, compare = 0, quiet = 0;
    const char *title = NULL, *base_name = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > MAX_ROUNDS) usage();
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            title = argv[++i];
        } else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            base_name = argv[++i];
        } else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc) {
            parse_goal(argv[++i]);
        } else if (strcmp(argv[i], "-c") == 0) {
            compare = 1;
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else {
            usage();
        }
    }
    /* Programs: "--" NAME CMD [ARG...], up to the next "--". The "--"
     * separators are overwritten with NULL to terminate each argv. */
    while (i < argc) {
        if (nprogs == MAX_PROGS) usage();
        int start = ++i; /* past "--" */
        while (i < argc && strcmp(argv[i], "--") != 0) ++i;
        if (i - start < 2) usage();
        struct prog *p = &progs[nprogs++];
        p->name = argv[start];
        p->argv = &argv[start + 1];
        if (i < argc) argv[i] = NULL;
        p->wall = xcalloc((size_t)rounds, sizeof(double));
        p->cpu = xcalloc((size_t)rounds, sizeof(double));
        p->rss_mib = xcalloc((size_t)rounds, sizeof(double));
        p->out_fd = temp_fd();
    }
    if (nprogs == 0) usage();

    struct prog *base = NULL;
    if (base_name) {
        base = find_prog(base_name);
        if (!base) {
            fprintf(stderr, "runner: no program named %s\n", base_name);
            return 2;
        }
    } else {
        for (int k = 0; k < nprogs && !base; ++k)
            if (strstr(progs[k].name, "tether")) base = &progs[k];
        if (!base) base = &progs[0];
    }
    for (int g = 0; g < ngoals; ++g)
        if (!find_prog(goals[g].peer) && !quiet)
            fprintf(stderr, "runner: goal against %s, which is not run: ignored\n", goals[g].peer);

    for (int r = 0; r < rounds; ++r) {
        if (!quiet) fprintf(stderr, "  %s round %d/%d:", title ? title : "runner", r + 1, rounds);
        for (int k = 0; k < nprogs; ++k) {
            struct prog *p = &progs[(k + r) % nprogs];
            if (p->failed) continue;
            double w = run_once(p);
            if (!quiet) {
                if (w >= 0)
                    fprintf(stderr, " %s %.3fs", p->name, w);
                else
                    fprintf(stderr, " %s FAILED", p->name);
            }
        }
        if (!quiet) fprintf(stderr, "\n");
    }

    int ok = 1;
    for (int k = 0; k < nprogs; ++k)
        if (progs[k].failed) ok = 0;
    const char *agreement = "";
    if (compare) {
        struct prog *ref = NULL;
        for (int k = 0; k < nprogs; ++k) {
            struct prog *p = &progs[k];
            if (p->failed || !p->output) continue;
            if (!ref) {
                ref = p;
            } else if (!same_output(ref->output, ref->output_len, p->output, p->output_len)) {
                snprintf(p->why, sizeof p->why, "output differs from %s's", ref->name);
                fprintf(stderr, "runner: %s: %s\n", p->name, p->why);
                p->failed = 1;
                ok = 0;
            }
        }
        agreement = ok ? "; outputs identical" : "; OUTPUTS DIFFER";
    }

    /* The table. */
    printf("== %s: %d round%s, programs alternating; medians%s ==\n", title ? title : "runner",
           rounds, rounds == 1 ? "" : "s", agreement);
    printf("  %-22s %9s  %-19s %8s %13s\n", "program", "wall s", "(min - max)", "cpu s",
           "peak RSS MiB");
    double base_wall = 0, base_rss = 0;
    for (int k = 0; k < nprogs; ++k) {
        struct prog *p = &progs[k];
        if (p->failed || p->runs == 0) {
            printf("  %-22s FAILED: %s\n", p->name, p->why);
            continue;
        }
        double lo = p->wall[0], hi = p->wall[0];
        for (int j = 1; j < p->runs; ++j) {
            if (p->wall[j] < lo) lo = p->wall[j];
            if (p->wall[j] > hi) hi = p->wall[j];
        }
        double w = median(p->wall, p->runs), c = median(p->cpu, p->runs),
               m = median(p->rss_mib, p->runs);
        /* Keep the medians where the ratios below can find them. */
        p->wall[0] = w;
        p->rss_mib[0] = m;
        char range[64];
        snprintf(range, sizeof range, "(%.3f - %.3f)", lo, hi);
        printf("  %-22s %9.3f  %-19s %8.3f %13.1f\n", p->name, w, range, c, m);
        if (p == base) {
            base_wall = w;
            base_rss = m;
        }
    }
    if (nprogs > 1) {
        int peers = 0;
        for (int k = 0; k < nprogs; ++k)
            if (&progs[k] != base && !progs[k].failed && progs[k].runs > 0) peers++;
        if (base->failed || base->runs == 0) {
            printf("  (no ratios: %s failed)\n", base->name);
        } else if (peers > 0) {
            printf("  %-24s %7s %9s\n", "ratio (base / peer)", "time", "RSS");
            for (int k = 0; k < nprogs; ++k) {
                struct prog *p = &progs[k];
                if (p == base || p->failed || p->runs == 0) continue;
                char who[64];
                snprintf(who, sizeof who, "%s / %s", base->name, p->name);
                double tr = base_wall / p->wall[0], rr = base_rss / p->rss_mib[0];
                printf("  %-24s %6.2fx %8.2fx", who, tr, rr);
                for (int g = 0; g < ngoals; ++g) {
                    if (strcmp(goals[g].peer, p->name) != 0) continue;
                    printf("   goal time <= %.2fx %s, RSS <= %.2fx %s", goals[g].time,
                           tr <= goals[g].time ? "met" : "MISSED", goals[g].rss,
                           rr <= goals[g].rss ? "met" : "MISSED");
                }
                printf("\n");
            }
        }
    }
    fflush(stdout);
    return ok ? 0 : 1;
}
