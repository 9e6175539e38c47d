/*
 * static_plugin.c: a shared object for test_static, loaded with dlopen.
 *
 * It does not link tether: its constructors call the tt_static_register
 * of the program that loads it (exported with -rdynamic), so its entries
 * go to that program's table. Its entries are `static`, as a plugin's
 * should be: an exported entry symbol could be interposed by one of the
 * same name in the program.
 */
#include <tether.h>

static int triple(int x) { return 3 * x; }
static TT_STATIC_FN(triple_entry, "tether", "plugin", "triple", "int(int)", triple);

static const char greeting[] = "hello from the plugin";
static TT_STATIC_DATA(greeting_entry, "tether", "plugin", "greeting", "char[]", greeting);

/* The same fully qualified name as an entry of test_static: registering
 * it when the plugin loads is a conflict that names both sites. */
static int answer(void) { return -1; }
static TT_STATIC_FN(answer_again_entry, "tether", "test", "answer", "int(void)", answer);
