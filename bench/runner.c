/*
 * bench/runner.c: run several programs alternately and compare them.
 *
 *   runner [-r ROUNDS] [-t TITLE] [-b BASE]... [-c] [-q] [-M] [-T SECONDS]
 *          [-g PEER:TIME[:RSS]]... [-a WHAT:le|ge:VALUE]...
 *          [-G PEER:WHAT:le|ge:RATIO]...
 *          -- NAME CMD [ARG...] [-- NAME CMD [ARG...]]...
 *
 * Every round runs each program once; the order rotates from round to
 * round, so that no program always runs first or right after the same
 * neighbour. On a noisy machine that spreads the noise evenly over the
 * programs, which is what makes their ratios meaningful.
 *
 * For each run: wall time (CLOCK_MONOTONIC around fork, exec and wait4),
 * CPU time (user + system from wait4) and peak RSS (ru_maxrss from wait4).
 * A run that does not exit with status 0 fails the program. With -T, a run
 * still going after SECONDS is killed (SIGALRM, set with alarm() before
 * exec) and fails the program, so that a hang does not stop the whole
 * benchmark. A program's
 * standard output is captured, not shown; it must be the same in every
 * run, and with -c the same for every program (their results agree).
 * Standard error passes through.
 *
 * Metrics. A line of standard output of the form
 *     @ NAME VALUE UNIT... BETTER
 * (UNIT any words describing the figure; BETTER, the last word, "higher",
 * "lower" or "-")
 * is a figure the program measured itself, such as a rate over its timed
 * part. Metric lines are left out of the output comparison; the runner
 * keeps the median of each metric per program (a VALUE that is not a
 * number is shown as text, from the first run) and prints a second table
 * with them and their ratios.
 *
 * Printed on standard output: a table with, for each program, the median
 * wall time (and its range), median CPU time and median peak RSS (left out
 * with -M); then the ratios of each base program to each other program
 * (the peers). The bases are named with -b (repeatable); by default every
 * program whose name contains "tether", or else the first. A ratio below
 * 1.00x means the base program is faster or smaller. -g PEER:TIME:RSS
 * states a goal (base wall <= TIME x PEER's and base RSS <= RSS x PEER's;
 * without :RSS, the time alone), reported as met or MISSED beside that
 * ratio. -a WHAT:le:VALUE (or ge) states an absolute goal for every base:
 * WHAT is "wall" (seconds), "rss" (MiB) or a metric name. -G
 * PEER:WHAT:ge:RATIO (or le) states a goal on the ratio base / PEER of WHAT
 * for every base, for example that a metric of one program is at least 1.6
 * times another's. Then the metric table, if any program printed metrics.
 * Progress goes to standard error unless -q.
 *
 * Exit status: 0 if every run succeeded (and outputs agreed), 1 if not,
 * 2 for a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
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

enum { MAX_PROGS = 32, MAX_GOALS = 32, MAX_ROUNDS = 1000, MAX_METRICS = 16 };

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
    char *output;     /* output of the first run, metric lines left out */
    size_t output_len;
    int base;         /* a base program: compared with every peer */
    char **mval[MAX_METRICS]; /* metric values, one per successful run */
    int mruns[MAX_METRICS];
};

/* A metric: a line "@ NAME VALUE UNIT BETTER" in a program's output. */
struct metric {
    char name[48];
    char unit[200];
    char better[8];
};

/* An absolute goal on every base program (-a). */
struct abs_goal {
    const char *what; /* "wall", "rss" or a metric name */
    int ge;           /* 1: at least VALUE; 0: at most */
    double value;
};

struct goal {
    const char *peer;
    double time, rss; /* rss 0: no RSS goal */
};

/* A goal on the ratio base / peer of a figure (-G). */
struct ratio_goal {
    const char *peer;
    const char *what; /* "wall", "rss" or a metric name */
    int ge;           /* 1: at least RATIO; 0: at most */
    double ratio;
};

static struct prog progs[MAX_PROGS];
static int nprogs;
static struct goal goals[MAX_GOALS];
static int ngoals;
static struct metric metrics[MAX_METRICS];
static int nmetrics;
static struct abs_goal abs_goals[MAX_GOALS];
static int nabs_goals;
static struct ratio_goal ratio_goals[MAX_GOALS];
static int nratio_goals;

static void usage(void)
{
    fprintf(stderr,
            "usage: runner [-r ROUNDS] [-t TITLE] [-b BASE]... [-c] [-q] [-M] [-T SECONDS]\n"
            "              [-g PEER:TIME[:RSS]]... [-a WHAT:le|ge:VALUE]...\n"
            "              [-G PEER:WHAT:le|ge:RATIO]...\n"
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

static int nrounds; /* -r */
static unsigned run_timeout; /* -T, seconds; 0: none */

/* The index of metric NAME, added on first sight; -1 if there are too many. */
static int metric_index(const char *name, const char *unit, const char *better)
{
    for (int m = 0; m < nmetrics; ++m)
        if (strcmp(metrics[m].name, name) == 0) return m;
    if (nmetrics == MAX_METRICS) {
        fprintf(stderr, "runner: more than %d metrics; %s ignored\n", MAX_METRICS, name);
        return -1;
    }
    struct metric *mt = &metrics[nmetrics];
    snprintf(mt->name, sizeof mt->name, "%s", name);
    snprintf(mt->unit, sizeof mt->unit, "%s", unit);
    snprintf(mt->better, sizeof mt->better, "%s", better);
    return nmetrics++;
}

/* Take the metric lines ("@ NAME VALUE UNIT BETTER") out of buf[0..*len),
 * recording their values for p. */
static void take_metrics(struct prog *p, char *buf, size_t *len)
{
    size_t in = 0, out = 0, n = *len;
    while (in < n) {
        const char *nl = memchr(buf + in, '\n', n - in);
        size_t end = nl ? (size_t)(nl - buf) + 1 : n;
        if (end - in >= 2 && buf[in] == '@' && buf[in + 1] == ' ') {
            char line[512], name[48], value[64];
            size_t l = end - in < sizeof line ? end - in : sizeof line - 1;
            memcpy(line, buf + in, l);
            line[l] = 0;
            while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == ' ')) line[--l] = 0;
            int off = 0;
            char *last = strrchr(line, ' ');
            if (sscanf(line, "@ %47s %63s %n", name, value, &off) == 2 && off > 0 &&
                last && last >= line + off) {
                /* UNIT is everything between VALUE and the last word. */
                *last = 0;
                int m = metric_index(name, line + off, last + 1);
                if (m >= 0 && p->mruns[m] < nrounds) {
                    if (!p->mval[m]) p->mval[m] = xcalloc((size_t)nrounds, sizeof(char *));
                    p->mval[m][p->mruns[m]] = xcalloc(strlen(value) + 1, 1);
                    memcpy(p->mval[m][p->mruns[m]], value, strlen(value));
                    p->mruns[m]++;
                }
            } else {
                fprintf(stderr, "runner: %s: malformed metric line: %s\n", p->name, line);
            }
        } else {
            memmove(buf + out, buf + in, end - in);
            out += end - in;
        }
        in = end;
    }
    *len = out;
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
        if (run_timeout) alarm(run_timeout); /* kept across exec */
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
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM && run_timeout)
            snprintf(p->why, sizeof p->why, "timed out after %u s (-T)", run_timeout);
        else if (WIFSIGNALED(status))
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
    take_metrics(p, out, &len);
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
    if (!c1) usage();
    char *peer = xcalloc((size_t)(c1 - s) + 1, 1);
    memcpy(peer, s, (size_t)(c1 - s));
    char *end;
    double tm = strtod(c1 + 1, &end);
    if (end != (c2 ? c2 : c1 + 1 + strlen(c1 + 1)) || tm <= 0) usage();
    double rs = 0; /* no RSS goal */
    if (c2) {
        rs = strtod(c2 + 1, &end);
        if (*end || rs <= 0) usage();
    }
    goals[ngoals++] = (struct goal){peer, tm, rs};
}

/* Whether s is a number, stored in *v. */
static int numeric(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == 0;
}

/* The median of p's values of metric m into *v (1), or its first value as
 * text (0); -1 if p printed none. */
static int metric_value(const struct prog *p, int m, double *v, const char **text)
{
    if (p->mruns[m] == 0) return -1;
    double *nums = xcalloc((size_t)p->mruns[m], sizeof(double));
    int all = 1;
    for (int j = 0; j < p->mruns[m] && all; ++j) all = numeric(p->mval[m][j], &nums[j]);
    *text = p->mval[m][0];
    if (all) *v = median(nums, p->mruns[m]);
    free(nums);
    return all;
}

/* v printed compactly: integers without decimals. */
static void fmt_num(char *buf, size_t size, double v)
{
    if (fabs(v) < 1e15 && v == floor(v))
        snprintf(buf, size, "%.0f", v);
    else if (fabs(v) >= 100)
        snprintf(buf, size, "%.1f", v);
    else
        snprintf(buf, size, "%.2f", v);
}

static void fmt_metric(char *buf, size_t size, const struct prog *p, int m)
{
    double v;
    const char *text;
    int r = metric_value(p, m, &v, &text);
    if (r < 0)
        snprintf(buf, size, "-");
    else if (r == 0)
        snprintf(buf, size, "%s", text);
    else
        fmt_num(buf, size, v);
}

static int ok_prog(const struct prog *p) { return !p->failed && p->runs > 0; }

/* The width of the "base / peer" column. */
static int ratio_width(void)
{
    int w = 24;
    for (int b = 0; b < nprogs; ++b)
        for (int k = 0; k < nprogs; ++k)
            if (progs[b].base && !progs[k].base) {
                int l = (int)(strlen(progs[b].name) + 3 + strlen(progs[k].name));
                if (l > w) w = l;
            }
    return w;
}

/* The metric table: one row per program, one column per metric, then the
 * ratios of each base to each peer, then a legend. */
static void print_metrics(void)
{
    int width[MAX_METRICS];
    char cell[64];
    for (int m = 0; m < nmetrics; ++m) {
        width[m] = (int)strlen(metrics[m].name);
        for (int k = 0; k < nprogs; ++k) {
            fmt_metric(cell, sizeof cell, &progs[k], m);
            if ((int)strlen(cell) > width[m]) width[m] = (int)strlen(cell);
        }
        if (width[m] < 8) width[m] = 8;
    }
    int lw = ratio_width();
    printf("  %-*s", lw, "metric (median)");
    for (int m = 0; m < nmetrics; ++m) printf("  %*s", width[m], metrics[m].name);
    printf("\n");
    for (int k = 0; k < nprogs; ++k) {
        const struct prog *p = &progs[k];
        printf("  %-*s", lw, p->name);
        if (!ok_prog(p)) {
            printf("  FAILED: %s\n", p->why);
            continue;
        }
        for (int m = 0; m < nmetrics; ++m) {
            fmt_metric(cell, sizeof cell, p, m);
            printf("  %*s", width[m], cell);
        }
        printf("\n");
    }
    int header = 0;
    for (int b = 0; b < nprogs; ++b) {
        const struct prog *bp = &progs[b];
        if (!bp->base || !ok_prog(bp)) continue;
        for (int k = 0; k < nprogs; ++k) {
            const struct prog *p = &progs[k];
            if (p->base || !ok_prog(p)) continue;
            char line[512];
            int n = 0, any = 0;
            for (int m = 0; m < nmetrics; ++m) {
                double x, y;
                const char *tx, *ty;
                if (metric_value(bp, m, &x, &tx) == 1 && metric_value(p, m, &y, &ty) == 1 &&
                    y != 0) {
                    snprintf(cell, sizeof cell, "%.2fx", x / y);
                    any = 1;
                } else {
                    snprintf(cell, sizeof cell, "-");
                }
                n += snprintf(line + n, sizeof line - (size_t)n, "  %*s", width[m], cell);
                if (n >= (int)sizeof line) n = (int)sizeof line - 1;
            }
            if (!any) continue;
            if (!header) {
                printf("  %-*s", lw, "ratio (base / peer)");
                for (int m = 0; m < nmetrics; ++m) printf("  %*s", width[m], metrics[m].name);
                printf("\n");
                header = 1;
            }
            char who[128];
            snprintf(who, sizeof who, "%s / %s", bp->name, p->name);
            printf("  %-*s%s\n", lw, who, line);
        }
    }
    for (int m = 0; m < nmetrics; ++m) {
        const char *b = metrics[m].better;
        printf("  %s: %s%s\n", metrics[m].name, metrics[m].unit,
               strcmp(b, "higher") == 0  ? ", higher is better"
               : strcmp(b, "lower") == 0 ? ", lower is better"
                                         : "");
    }
}

/* The absolute goals (-a), for every base. */
static void print_abs_goals(const double *wall, const double *rss)
{
    for (int g = 0; g < nabs_goals; ++g) {
        const struct abs_goal *ag = &abs_goals[g];
        for (int b = 0; b < nprogs; ++b) {
            const struct prog *bp = &progs[b];
            if (!bp->base) continue;
            double v = 0;
            const char *text, *unit = "";
            int have = ok_prog(bp);
            if (strcmp(ag->what, "wall") == 0) {
                v = wall[b];
                unit = " s";
            } else if (strcmp(ag->what, "rss") == 0) {
                v = rss[b];
                unit = " MiB";
            } else {
                int m = 0;
                while (m < nmetrics && strcmp(metrics[m].name, ag->what) != 0) ++m;
                have = have && m < nmetrics && metric_value(bp, m, &v, &text) == 1;
            }
            char vs[32], gs[32];
            fmt_num(gs, sizeof gs, ag->value);
            if (!have) {
                printf("  goal %s %s %s %s%s: no figure\n", bp->name, ag->what,
                       ag->ge ? ">=" : "<=", gs, unit);
                continue;
            }
            fmt_num(vs, sizeof vs, v);
            int met = ag->ge ? v >= ag->value : v <= ag->value;
            printf("  goal %s %s %s %s%s: %s%s %s\n", bp->name, ag->what, ag->ge ? ">=" : "<=",
                   gs, unit, vs, unit, met ? "met" : "MISSED");
        }
    }
}

/* p's figure WHAT into *v: 1 if there is one (p succeeded and printed it
 * as a number). */
static int figure(int k, const char *what, const double *wall, const double *rss, double *v)
{
    const struct prog *p = &progs[k];
    if (!ok_prog(p)) return 0;
    if (strcmp(what, "wall") == 0) {
        *v = wall[k];
        return 1;
    }
    if (strcmp(what, "rss") == 0) {
        *v = rss[k];
        return 1;
    }
    const char *text;
    for (int m = 0; m < nmetrics; ++m)
        if (strcmp(metrics[m].name, what) == 0) return metric_value(p, m, v, &text) == 1;
    return 0;
}

/* The ratio goals (-G), for every base against the peer they name. */
static void print_ratio_goals(const double *wall, const double *rss)
{
    for (int g = 0; g < nratio_goals; ++g) {
        const struct ratio_goal *rg = &ratio_goals[g];
        struct prog *peer = find_prog(rg->peer);
        if (!peer) {
            printf("  goal ratio %s against %s: %s is not run\n", rg->what, rg->peer, rg->peer);
            continue;
        }
        int k = (int)(peer - progs);
        for (int b = 0; b < nprogs; ++b) {
            const struct prog *bp = &progs[b];
            if (!bp->base || b == k) continue;
            double x, y;
            if (!figure(b, rg->what, wall, rss, &x) || !figure(k, rg->what, wall, rss, &y) ||
                y == 0) {
                printf("  goal %s / %s %s %s %.2fx: no figure\n", bp->name, peer->name, rg->what,
                       rg->ge ? ">=" : "<=", rg->ratio);
                continue;
            }
            double r = x / y;
            int met = rg->ge ? r >= rg->ratio : r <= rg->ratio;
            printf("  goal %s / %s %s %s %.2fx: %.2fx %s\n", bp->name, peer->name, rg->what,
                   rg->ge ? ">=" : "<=", rg->ratio, r, met ? "met" : "MISSED");
        }
    }
}

/* -G PEER:WHAT:le|ge:RATIO */
static void parse_ratio_goal(const char *s)
{
    if (nratio_goals == MAX_GOALS) usage();
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    const char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
    if (!c1 || !c2 || !c3 || c1 == s || c2 == c1 + 1 || c3 - c2 != 3) usage();
    int ge = strncmp(c2 + 1, "ge", 2) == 0;
    if (!ge && strncmp(c2 + 1, "le", 2) != 0) usage();
    char *peer = xcalloc((size_t)(c1 - s) + 1, 1);
    memcpy(peer, s, (size_t)(c1 - s));
    char *what = xcalloc((size_t)(c2 - c1), 1);
    memcpy(what, c1 + 1, (size_t)(c2 - c1 - 1));
    char *end;
    double v = strtod(c3 + 1, &end);
    if (*end || end == c3 + 1 || v <= 0) usage();
    ratio_goals[nratio_goals++] = (struct ratio_goal){peer, what, ge, v};
}

static void parse_abs_goal(const char *s)
{
    if (nabs_goals == MAX_GOALS) usage();
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || c1 == s || c2 - c1 != 3) usage();
    int ge = strncmp(c1 + 1, "ge", 2) == 0;
    if (!ge && strncmp(c1 + 1, "le", 2) != 0) usage();
    char *what = xcalloc((size_t)(c1 - s) + 1, 1);
    memcpy(what, s, (size_t)(c1 - s));
    char *end;
    double v = strtod(c2 + 1, &end);
    if (*end || end == c2 + 1) usage();
    abs_goals[nabs_goals++] = (struct abs_goal){what, ge, v};
}

int main(int argc, char **argv)
{
    int rounds = 5, compare = 0, quiet = 0, metrics_only = 0;
    const char *title = NULL;
    const char *base_names[MAX_PROGS];
    int nbase_names = 0;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > MAX_ROUNDS) usage();
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            title = argv[++i];
        } else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            if (nbase_names == MAX_PROGS) usage();
            base_names[nbase_names++] = argv[++i];
        } else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc) {
            parse_goal(argv[++i]);
        } else if (strcmp(argv[i], "-a") == 0 && i + 1 < argc) {
            parse_abs_goal(argv[++i]);
        } else if (strcmp(argv[i], "-T") == 0 && i + 1 < argc) {
            int secs = atoi(argv[++i]);
            if (secs < 1) usage();
            run_timeout = (unsigned)secs;
        } else if (strcmp(argv[i], "-G") == 0 && i + 1 < argc) {
            parse_ratio_goal(argv[++i]);
        } else if (strcmp(argv[i], "-c") == 0) {
            compare = 1;
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "-M") == 0) {
            metrics_only = 1;
        } else {
            usage();
        }
    }
    nrounds = rounds;
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

    int nbases = 0;
    for (int b = 0; b < nbase_names; ++b) {
        struct prog *p = find_prog(base_names[b]);
        if (!p) {
            fprintf(stderr, "runner: no program named %s\n", base_names[b]);
            return 2;
        }
        p->base = 1;
        nbases++;
    }
    if (nbases == 0) {
        for (int k = 0; k < nprogs; ++k)
            if (strstr(progs[k].name, "tether")) {
                progs[k].base = 1;
                nbases++;
            }
        if (nbases == 0) progs[0].base = 1;
    }
    for (int g = 0; g < ngoals; ++g)
        if (!find_prog(goals[g].peer) && !quiet)
            fprintf(stderr, "runner: goal against %s, which is not run: ignored\n", goals[g].peer);
    for (int g = 0; g < nratio_goals; ++g)
        if (!find_prog(ratio_goals[g].peer) && !quiet)
            fprintf(stderr, "runner: ratio goal against %s, which is not run\n",
                    ratio_goals[g].peer);

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

    /* The medians, kept where the ratios below can find them. */
    double med_wall[MAX_PROGS] = {0}, med_rss[MAX_PROGS] = {0};
    printf("== %s: %d round%s, programs alternating; medians%s ==\n", title ? title : "runner",
           rounds, rounds == 1 ? "" : "s", agreement);
    if (!metrics_only)
        printf("  %-22s %9s  %-19s %8s %13s\n", "program", "wall s", "(min - max)", "cpu s",
               "peak RSS MiB");
    for (int k = 0; k < nprogs; ++k) {
        struct prog *p = &progs[k];
        if (!ok_prog(p)) {
            if (!metrics_only) printf("  %-22s FAILED: %s\n", p->name, p->why);
            continue;
        }
        double lo = p->wall[0], hi = p->wall[0];
        for (int j = 1; j < p->runs; ++j) {
            if (p->wall[j] < lo) lo = p->wall[j];
            if (p->wall[j] > hi) hi = p->wall[j];
        }
        double w = median(p->wall, p->runs), c = median(p->cpu, p->runs),
               m = median(p->rss_mib, p->runs);
        med_wall[k] = w;
        med_rss[k] = m;
        char range[64];
        snprintf(range, sizeof range, "(%.3f - %.3f)", lo, hi);
        if (!metrics_only)
            printf("  %-22s %9.3f  %-19s %8.3f %13.1f\n", p->name, w, range, c, m);
    }
    if (!metrics_only && nprogs > 1) {
        int rw = ratio_width(), header = 0;
        for (int b = 0; b < nprogs; ++b) {
            struct prog *bp = &progs[b];
            if (!bp->base) continue;
            if (!ok_prog(bp)) {
                printf("  (no ratios for %s: it failed)\n", bp->name);
                continue;
            }
            for (int k = 0; k < nprogs; ++k) {
                struct prog *p = &progs[k];
                if (p->base || !ok_prog(p)) continue;
                if (!header) {
                    printf("  %-*s %7s %9s\n", rw, "ratio (base / peer)", "time", "RSS");
                    header = 1;
                }
                char who[128];
                snprintf(who, sizeof who, "%s / %s", bp->name, p->name);
                double tr = med_wall[b] / med_wall[k], rr = med_rss[b] / med_rss[k];
                printf("  %-*s %6.2fx %8.2fx", rw, who, tr, rr);
                for (int g = 0; g < ngoals; ++g) {
                    if (strcmp(goals[g].peer, p->name) != 0) continue;
                    printf("   goal time <= %.2fx %s", goals[g].time,
                           tr <= goals[g].time ? "met" : "MISSED");
                    if (goals[g].rss > 0)
                        printf(", RSS <= %.2fx %s", goals[g].rss,
                               rr <= goals[g].rss ? "met" : "MISSED");
                }
                printf("\n");
            }
        }
    }
    if (nmetrics > 0) print_metrics();
    print_abs_goals(med_wall, med_rss);
    print_ratio_goals(med_wall, med_rss);
    fflush(stdout);
    return ok ? 0 : 1;
}
