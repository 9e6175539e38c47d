/*
 * test_harness.c: the death-test helper itself can fail. Each child below
 * gets a verdict from tt_death_matches, and the verdicts are checked: a
 * death test that always passed would prove nothing.
 */
#include "tt_test.h"

static void child_aborts_right(void *arg)
{
    (void)arg;
    DEATH_LINE(); fprintf(stderr, "tether: misuse: demo-misuse at %s:%d\n", __FILE__, __LINE__);
    abort();
}

static void child_aborts_wrong_name(void *arg)
{
    (void)arg;
    DEATH_LINE(); fprintf(stderr, "tether: misuse: other at %s:%d\n", __FILE__, __LINE__);
    abort();
}

static void child_aborts_wrong_line(void *arg)
{
    (void)arg;
    DEATH_LINE();
    fprintf(stderr, "tether: misuse: demo-misuse at %s:%d\n", __FILE__, __LINE__);
    abort();
}

static void child_line_prefix(void *arg)
{
    (void)arg;
    DEATH_LINE(); fprintf(stderr, "tether: misuse: demo-misuse at %s:%d0\n", __FILE__, __LINE__);
    abort();
}

static void child_returns(void *arg)
{
    (void)arg;
    DEATH_LINE(); fprintf(stderr, "demo-misuse at %s:%d\n", __FILE__, __LINE__);
}

static void child_exits(void *arg)
{
    (void)arg;
    DEATH_LINE(); fprintf(stderr, "demo-misuse at %s:%d\n", __FILE__, __LINE__);
    _exit(3);
}

static void child_other_signal(void *arg)
{
    (void)arg;
    DEATH_LINE(); fprintf(stderr, "demo-misuse at %s:%d\n", __FILE__, __LINE__);
    raise(SIGTERM);
    _exit(0);
}

static void child_no_line(void *arg)
{
    (void)arg;
    fprintf(stderr, "demo-misuse at %s:0\n", __FILE__);
    abort();
}

static void child_arg(void *arg)
{
    DEATH_LINE(); fprintf(stderr, "%s at %s:%d\n", (const char *)arg, __FILE__, __LINE__);
    abort();
}

static int verdict(tt_death_fn fn, void *arg, const char *what)
{
    tt_death_result *res = malloc(sizeof *res);
    int ok;
    if (!res) return -1;
    if (tt_death_run(fn, arg, res) != 0) {
        free(res);
        return -1;
    }
    ok = tt_death_matches(res, __FILE__, what, NULL, 0);
    free(res);
    return ok;
}

static void test_verdicts(void)
{
    CHECK_EQ(verdict(child_aborts_right, NULL, "demo-misuse"), 1);
    CHECK_EQ(verdict(child_aborts_wrong_name, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_aborts_wrong_line, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_line_prefix, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_returns, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_exits, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_other_signal, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_no_line, NULL, "demo-misuse"), 0);
    CHECK_EQ(verdict(child_arg, (void *)"passed-through", "passed-through"), 1);
}

static void test_result_fields(void)
{
    tt_death_result *res = malloc(sizeof *res);
    REQUIRE(res != NULL);
    CHECK_EQ(tt_death_run(child_exits, NULL, res), 0);
    CHECK(res->exited);
    CHECK_EQ(res->status, 3);
    CHECK(!res->signaled);
    CHECK(res->line > 0);
    CHECK_CONTAINS(res->err, "demo-misuse at ");

    CHECK_EQ(tt_death_run(child_aborts_right, NULL, res), 0);
    CHECK(res->signaled);
    CHECK_EQ(res->sig, SIGABRT);
    free(res);
}

int main(void)
{
    RUN(test_verdicts);
    RUN(test_result_fields);
    return tt_test_done();
}
