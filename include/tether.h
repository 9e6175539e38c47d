/*
 * tether: an embeddable, precise, non-moving garbage-collected heap for C
 * code that lives beside foreign code.
 *
 *   tt_heap *h = tt_heap_open(NULL);
 *   tt_thread *t = tt_thread_attach(h);
 *   tt_frame f = tt_frame_push(t, 4);
 *   tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
 *   ...
 *   tt_frame_pop(t, f, TT_NO_LOCAL);
 *   tt_thread_detach(t);
 *   tt_heap_close(h);
 *
 * See docs/api.md for every function and docs/design.md for the internals.
 */
#ifndef TETHER_H
#define TETHER_H

#include "tether/core.h"
#include "tether/type.h"
#include "tether/fast.h"
#include "tether/alloc.h"
#include "tether/roots.h"
#include "tether/cleanup.h"
#include "tether/weak.h"
#include "tether/stats.h"
#include "tether/static.h"
#include "tether/threads.h"

#define TETHER_VERSION_MAJOR 0
#define TETHER_VERSION_MINOR 1
#define TETHER_VERSION_PATCH 0

#endif
