/*
 * tether/static.h: the static pointer table. Stable 128-bit keys for
 * static functions and values, type-checked lookup, closures that cross
 * process boundaries.
 *
 * A program names a static function or value by a fully qualified name:
 * a namespace, a module and a name. Its key is a 128-bit hash of that
 * name, so every process of the same program, on any machine and in any
 * build, computes the same key for it. A key, or a closure (a key plus an
 * argument payload), can be written to a pipe, a file or a socket, and
 * the receiving process looks the key up in its own table. Lookup checks
 * the type the receiver expects: an unknown key or a wrong type gives an
 * error, never a crash.
 *
 *   static int add(int a, int b) { return a + b; }
 *   static TT_STATIC_FN(add_entry, "demo", "math", "add", "int(int,int)", add);
 *
 *   tt_static_key k = tt_static_key_of(&add_entry);      // send these 16 bytes
 *   ...
 *   const tt_static *e = tt_static_lookup(k, tt_type_tag_for("int(int,int)"));
 *   if (e) result = ((int (*)(int, int))tt_static_fn(e))(2, 3);
 *
 * A type name is compared by its exact bytes: "int(int,int)" and
 * "int(int, int)" are different types. Lookup checks the type, not the
 * kind: give a function and a data entry different type names.
 *
 * Keys (documented and stable): the key of (ns, module, name) is XXH3-128
 * (xxHash 0.8, seed 0) of the bytes of ns, a zero byte, module, a zero
 * byte, and name; a type tag is XXH3-128 of the type name's bytes. The
 * 16-byte form is XXH3's canonical form: the high 64 bits, then the low
 * 64 bits, each big-endian; the text form is those 16 bytes as 32
 * lowercase hex digits (what `xxh128sum` prints for the same bytes).
 *
 * The table is process-wide, like the program's own symbol table.
 * Entries declared with the TT_STATIC_* macros are registered before main
 * by a constructor, like module initialisation; those of a shared library
 * loaded with dlopen are registered when it loads and unregistered when
 * dlclose unloads it. A shared library must use the same tether as the
 * program that loads it (link both to libtether.so, or export the
 * program's symbols with -rdynamic and leave tether out of the library),
 * or its entries go to a second table.
 *
 * Thread-safety: every function here may be called from any thread.
 * Lookups take no lock; registration, unregistration and enumeration take
 * a process-wide mutex. A lookup that races with the dlclose of the
 * library declaring the entry may return the entry just before it is
 * unloaded, exactly as dlsym would: do not unload a library while other
 * threads may use its entries.
 */
#ifndef TETHER_STATIC_H
#define TETHER_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Keys and type tags                                                   */

/* The key of a static entry: a 128-bit hash of its fully qualified name.
 * hi is the first 8 bytes of the 16-byte form, lo the last 8. */
typedef struct tt_static_key {
    uint64_t hi, lo;
} tt_static_key;

/* The fingerprint of a type name, the same 128-bit hash. A distinct type
 * from tt_static_key, so that the compiler rejects mixing them. */
typedef struct tt_type_tag {
    uint64_t hi, lo;
} tt_type_tag;

static inline int tt_static_key_eq(tt_static_key a, tt_static_key b)
{
    return a.hi == b.hi && a.lo == b.lo;
}
static inline int tt_type_tag_eq(tt_type_tag a, tt_type_tag b) { return a.hi == b.hi && a.lo == b.lo; }

/* XXH3-128 of `len` bytes at `data` (NULL is allowed when len is 0),
 * as a key. The primitive behind every key and tag. */
TT_API tt_static_key tt_static_hash128(const void *data, size_t len);

/* The key of the fully qualified name (ns, module, name): the hash of
 * ns "\0" module "\0" name. Returns the zero key with TT_EINVAL if a part
 * is NULL or empty, or if the three parts and their two separators take
 * over 1024 bytes. Pure: needs no registration. */
TT_API tt_static_key tt_static_key_for(const char *ns, const char *module, const char *name);

/* The tag of a type name: the hash of its bytes. The name is remembered
 * (copied) so that a wrong-type error can name the type this process
 * expected; call it once per type and keep the tag. The zero tag with
 * TT_EINVAL if type_name is NULL, empty or 256 bytes or longer, or
 * TT_ENOMEM (also when the process already names 16,383 types, the
 * table's limit). */
TT_API tt_type_tag tt_type_tag_for(const char *type_name);

/* The name of a tag that this process knows (from a registered entry or
 * tt_type_tag_for), or NULL. The string lives until the process exits. */
TT_API const char *tt_type_tag_name(tt_type_tag tag);

/* ------------------------------------------------------------------ */
/* Serialized keys                                                      */

#define TT_STATIC_KEY_BYTES 16
#define TT_STATIC_KEY_TEXT 33 /* 32 hex digits and a NUL */

/* The 16-byte form: hi then lo, each big-endian. */
TT_API void tt_static_key_to_bytes(tt_static_key k, uint8_t out[TT_STATIC_KEY_BYTES]);
TT_API tt_static_key tt_static_key_from_bytes(const uint8_t in[TT_STATIC_KEY_BYTES]);

/* The text form: 32 lowercase hex digits of the 16-byte form, and a NUL.
 * Returns out. */
TT_API char *tt_static_key_to_text(tt_static_key k, char out[TT_STATIC_KEY_TEXT]);

/* Parse exactly `len` characters of text (32 hex digits, either case; no
 * spaces, no prefix, no NUL needed). TT_OK, or TT_EINVAL with *out
 * untouched and a message naming the first bad character or the wrong
 * length. */
TT_API int tt_static_key_parse(const char *text, size_t len, tt_static_key *out);

/* ------------------------------------------------------------------ */
/* Entries                                                              */

enum {
    TT_STATIC_KIND_FN = 1,     /* a function */
    TT_STATIC_KIND_DATA = 2,   /* the address of a static value */
    TT_STATIC_KIND_OBJECT = 3  /* a heap object, built on first use per heap */
};

/* A function as stored in an entry; cast it back to its real type. */
typedef void (*tt_static_code)(void);

typedef struct tt_static tt_static;

/* Builds the object of a TT_STATIC_KIND_OBJECT entry in t's heap. Returns
 * the object, or TT_NULL with the last error set. It may allocate and may
 * use other static objects (a cycle of builds is an error). */
typedef tt_ref (*tt_static_build_fn)(tt_thread *t, const tt_static *e);

/* A static entry. Declare it with a TT_STATIC_* macro (or fill the first
 * group of fields and call tt_static_register). The fields after `build`
 * belong to the table: read an entry through tt_static_info_of. */
struct tt_static {
    uint64_t sig;             /* TT_STATIC_SIG */
    int kind;                 /* TT_STATIC_KIND_* */
    int line;                 /* where it was declared */
    const char *file;
    const char *ns, *module, *name;
    const char *type_name;    /* what the value is, as the program names it */
    tt_static_code fn;        /* TT_STATIC_KIND_FN */
    void *data;               /* TT_STATIC_KIND_DATA */
    tt_static_build_fn build; /* TT_STATIC_KIND_OBJECT */

    /* Owned by the table. */
    tt_static_key key_;
    tt_type_tag tag_;
    uint64_t serial_; /* nonzero while registered; never reused */
    size_t order_;    /* position in registration order */
};

#define TT_STATIC_SIG UINT64_C(0x7474535441543031)

/* The initializer of an entry, for programs that fill entries themselves
 * (a code generator, say) and register them with tt_static_register. */
#define TT_STATIC_INIT(kind_, ns_, module_, name_, type_name_, fn_, data_, build_)                \
    {                                                                                             \
        TT_STATIC_SIG, (kind_), __LINE__, __FILE__, (ns_), (module_), (name_), (type_name_), (fn_), \
            (data_), (build_), {0, 0}, {0, 0}, 0, 0                                               \
    }

/* Register `id` before main (or when its shared library loads) and
 * unregister it when its library unloads. */
#define TT__STATIC_HOOKS(id)                                                               \
    __attribute__((constructor)) static void tt__static_ctor_##id(void)                    \
    {                                                                                      \
        tt_static_register(&id);                                                           \
    }                                                                                      \
    __attribute__((destructor)) static void tt__static_dtor_##id(void)                     \
    {                                                                                      \
        tt_static_unregister(&id);                                                         \
    }                                                                                      \
    typedef int tt__static_semicolon_##id

/* Declare a static entry named `id` (a C identifier, so other code can
 * use &id) for the function `fn`, with the fully qualified name
 * (ns, module, name) and the type name `type_name` (string literals).
 * Write `static` before the macro to keep `id` local to the file. */
#define TT_STATIC_FN(id, ns, module, name, type_name, fn)                                         \
    tt_static id = TT_STATIC_INIT(TT_STATIC_KIND_FN, ns, module, name, type_name,                 \
                                  (tt_static_code)(fn), NULL, NULL);                              \
    TT__STATIC_HOOKS(id)

/* The same for a static value: `ptr` is its address (a const address is
 * accepted; the value is returned as void *, do not write through it if it
 * was const). */
#define TT_STATIC_DATA(id, ns, module, name, type_name, ptr)                                      \
    tt_static id = TT_STATIC_INIT(TT_STATIC_KIND_DATA, ns, module, name, type_name, NULL,         \
                                  (void *)(uintptr_t)(ptr), NULL);                                \
    TT__STATIC_HOOKS(id)

/* The same for a heap object: `build` makes it in a heap, the first time
 * tt_static_object asks for it there. It is then a root of that heap until
 * the heap closes or the entry is unregistered. */
#define TT_STATIC_OBJECT(id, ns, module, name, type_name, build)                                  \
    tt_static id = TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, ns, module, name, type_name, NULL, NULL,  \
                                  (build));                                                       \
    TT__STATIC_HOOKS(id)

/* Refer to an entry declared (without `static`) in another file. */
#define TT_STATIC_EXTERN(id) extern tt_static id

/* Add an entry to the table. The macros call it; a program may call it
 * for entries it makes at run time (generated code, a JIT). The entry
 * must stay valid and unchanged until it is unregistered.
 *
 * Returns TT_OK (also if e is already registered); TT_EINVAL if e is not
 * a valid entry (bad signature or kind, a missing name part, a fully
 * qualified name over 1024 bytes as for tt_static_key_for, a type name of
 * 256 bytes or more, no value); TT_EEXIST if an entry with the same key
 * is registered and the conflict handler kept it; TT_ENOMEM. Each of
 * these goes to the conflict handler first (default: print both sites
 * and abort), since an entry registered by a constructor has nobody to
 * return a status to.
 *
 * An entry in a member of a static library (.a) is registered only if
 * the linker takes that member, that is, if something else in its file
 * is used. */
TT_API int tt_static_register(tt_static *e);

/* Remove e from the table. Later lookups of its key fail with
 * TT_ENOTFOUND and a message saying it was unregistered. Objects built for it
 * stop being roots at each heap's next collection. TT_OK, or TT_ENOTFOUND
 * if e was not registered (it lost a conflict, or was removed already). */
TT_API int tt_static_unregister(tt_static *e);

/* ------------------------------------------------------------------ */
/* Conflicts                                                            */

enum {
    TT_STATIC_DUPLICATE = 1, /* two entries with the same fully qualified name */
    TT_STATIC_COLLISION = 2, /* two different names with the same key */
    TT_STATIC_INVALID = 3,   /* an entry that cannot be registered */
    TT_STATIC_FAILED = 4     /* out of memory while registering it */
};

/* What a conflict handler decides. */
enum {
    TT_STATIC_KEEP_EXISTING = 0, /* the new entry is not registered (TT_EEXIST) */
    TT_STATIC_REPLACE = 1        /* the new entry replaces the registered one */
};

typedef struct tt_static_conflict {
    int kind;                  /* TT_STATIC_DUPLICATE, _COLLISION, _INVALID or _FAILED */
    const tt_static *existing; /* the registered entry; NULL for _INVALID, _FAILED */
    const tt_static *incoming; /* the entry being registered */
    const char *message;       /* what happened, with both entries' file:line */
} tt_static_conflict;

/* Decides a conflict; the return value is ignored for TT_STATIC_INVALID
 * and TT_STATIC_FAILED (the entry is not registered). It runs with the
 * table locked: it may look entries up and read them, but must not call
 * tt_static_register, tt_static_unregister, tt_static_count,
 * tt_static_keys or tt_static_set_conflict_handler (they would wait for
 * the lock it holds). */
typedef int (*tt_static_conflict_fn)(const tt_static_conflict *c, void *ctx);

/* The default handler: prints the message to stderr and aborts. */
TT_API int tt_static_conflict_abort(const tt_static_conflict *c, void *ctx);

/* Set the process's conflict handler (NULL restores the default). Entries
 * are registered before main, so a program that wants to decide conflicts
 * of its own entries sets the handler with TT_STATIC_CONFLICT_HANDLER: a
 * constructor of priority 101, which runs before the entry constructors
 * of the same executable or shared object. Shared libraries loaded at
 * start-up register their entries before any of the program's
 * constructors run, so their conflicts meet the default handler. Use
 * TT_STATIC_CONFLICT_HANDLER once per file. */
TT_API void tt_static_set_conflict_handler(tt_static_conflict_fn fn, void *ctx);

/* Set the process's handler for failed lookups (NULL, the default: none).
 * The static table has no heap, so a failed tt_static_lookup,
 * tt_static_lookup_fn or tt_static_lookup_data only returns NULL with the
 * status and a message in the last error; with a handler, it also reports
 * a misuse, after the last error is set: "static-unknown-key" (no entry
 * has the key, or it was unregistered: TT_ENOTFOUND), "static-wrong-type"
 * (the entry has another type: TT_ETYPE) or "static-wrong-kind" (the right
 * type, but a function looked up as data or the reverse: TT_ETYPE), with
 * the caller's file:line. tt_misuse_abort makes failed lookups fatal (a
 * program whose keys must all resolve); a handler that returns lets the
 * lookup return NULL as usual. The handler runs on the looking-up thread,
 * with no lock held; it must not set the handler. Thread-safe. */
TT_API void tt_static_set_misuse_handler(tt_misuse_handler fn, void *ctx);

#define TT_STATIC_CONFLICT_HANDLER(fn, ctx)                                                  \
    __attribute__((constructor(101))) static void tt__static_set_handler(void)               \
    {                                                                                        \
        tt_static_set_conflict_handler((fn), (ctx));                                         \
    }                                                                                        \
    typedef int tt__static_handler_semicolon

/* ------------------------------------------------------------------ */
/* Lookup and information                                               */

/* The registered entry with key k whose type tag is `expected`. NULL
 * with the last error set: TT_ENOTFOUND if no entry has key k (the
 * message says if it was unregistered, by dlclose or otherwise, and names it);
 * TT_ETYPE if it has another type (the message names both types). Never
 * reads memory the table does not own or hold registered. */
#define tt_static_lookup(k, expected) tt_static_lookup_at((k), (expected), TT_HERE)
TT_API const tt_static *tt_static_lookup_at(tt_static_key k, tt_type_tag expected,
                                            const char *file, int line);

/* The function of the registered entry with key k, if its type tag is
 * `expected` and it is a function entry; NULL otherwise, with the errors
 * of tt_static_lookup (TT_ETYPE also for an entry of the right type but
 * another kind). The fast way to dispatch a closure: the table keeps the
 * value beside the key, so this reads one cache line of the table and
 * not the entry, where tt_static_lookup followed by tt_static_fn reads
 * both. */
#define tt_static_lookup_fn(k, expected) tt_static_lookup_fn_at((k), (expected), TT_HERE)
TT_API tt_static_code tt_static_lookup_fn_at(tt_static_key k, tt_type_tag expected,
                                             const char *file, int line);

/* The same for the address of a data entry's value. */
#define tt_static_lookup_data(k, expected) tt_static_lookup_data_at((k), (expected), TT_HERE)
TT_API void *tt_static_lookup_data_at(tt_static_key k, tt_type_tag expected, const char *file,
                                      int line);

/* The registered entry with key k, whatever its type; NULL with
 * TT_ENOTFOUND. For tools that list or describe entries. */
TT_API const tt_static *tt_static_find(tt_static_key k);

/* The function of a TT_STATIC_KIND_FN entry; NULL with TT_EINVAL for
 * another kind or something that is not an entry. */
TT_API tt_static_code tt_static_fn(const tt_static *e);

/* The address of a TT_STATIC_KIND_DATA entry's value; NULL with
 * TT_EINVAL otherwise. */
TT_API void *tt_static_data(const tt_static *e);

/* The object of a TT_STATIC_KIND_OBJECT entry in t's heap, built by the
 * entry's build function the first time it is asked for in that heap.
 * The object is a root of the heap until the heap closes or the entry is
 * unregistered. TT_NULL with the last error set: TT_EINVAL (not an
 * object entry), TT_ENOTFOUND (not registered), TT_ESTATE (its build is
 * already running on this heap: a cycle of builds), or what the build
 * function reported (it is called again next time). The last error is
 * left as it was when the object already exists or its build succeeds. */
#define tt_static_object(t, e) tt_static_object_at((t), (e), TT_HERE)
TT_API tt_ref tt_static_object_at(tt_thread *t, const tt_static *e, const char *file, int line);

/* Everything about an entry. */
typedef struct tt_static_info {
    tt_static_key key;
    tt_type_tag tag;
    int kind;
    int registered;       /* nonzero while in the table */
    const char *ns, *module, *name;
    const char *type_name;
    const char *file;     /* where it was declared */
    int line;
} tt_static_info;

/* Fill *out. TT_OK, or TT_EINVAL if e is not an entry. The key and tag
 * are computed from the names if e is not registered. */
TT_API int tt_static_info_of(const tt_static *e, tt_static_info *out);

/* The key of an entry (computed from its names if it is not registered);
 * the zero key with TT_EINVAL if e is not an entry. */
TT_API tt_static_key tt_static_key_of(const tt_static *e);

/* The number of registered entries. */
TT_API size_t tt_static_count(void);

/* Copy the keys of the registered entries, in registration order, into
 * out[0 .. cap), and return how many entries there are (which may be more
 * than cap: call again with a larger array). */
TT_API size_t tt_static_keys(tt_static_key *out, size_t cap);

/* ------------------------------------------------------------------ */
/* Closures                                                             */

/* A closure on the wire: a key and an opaque argument payload.
 *
 *   bytes 0..2    "TTC"
 *   byte  3       format version, 1
 *   bytes 4..19   the key, in its 16-byte form
 *   bytes 20..23  payload length n, unsigned, big-endian
 *   bytes 24..    n bytes of payload
 */
#define TT_CLOSURE_HEADER 24
#define TT_CLOSURE_VERSION 1
#define TT_CLOSURE_MAX_PAYLOAD ((size_t)UINT32_MAX)

/* A decoded closure. payload points into the buffer it was decoded
 * from: it lives as long as that buffer. */
typedef struct tt_closure {
    tt_static_key key;
    const uint8_t *payload;
    size_t payload_len;
} tt_closure;

/* Encode a closure for k with payload[0 .. len) into out. Returns the
 * encoded size, TT_CLOSURE_HEADER + len, and writes only if cap is at
 * least that (call with cap 0 to size the buffer). Returns 0 with
 * TT_EINVAL if len is over TT_CLOSURE_MAX_PAYLOAD, or payload is NULL
 * with len > 0. */
TT_API size_t tt_closure_encode(tt_static_key k, const void *payload, size_t len, uint8_t *out,
                                size_t cap);

/* Decode the closure at the start of buf[0 .. len). Reads nothing outside
 * that range. On success fills *out, sets *used (if not NULL) to the
 * closure's size, so that several closures can follow each other, and
 * returns TT_OK. Otherwise *out is untouched and the last error says why:
 * TT_ERANGE if the buffer ends inside the header or the payload
 * (truncated), TT_EINVAL if it does not start with "TTC" or has another
 * version. */
TT_API int tt_closure_decode(const uint8_t *buf, size_t len, tt_closure *out, size_t *used);

#ifdef __cplusplus
}
#endif

#endif
