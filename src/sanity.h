/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Invariant checkers (STYLE rule 13): each module's x_sanity() walks its
 * structures and says whether they hold together.  The debug and
 * sanitizer builds define SC_SANITY (meson.build) and assert the checks
 * at a few places where a module is looked at anyway; other builds
 * compile them out.
 */
#ifndef SC_SANITY_H
#define SC_SANITY_H

#include <assert.h>

#ifdef SC_SANITY
#define SC_SANITY_CHECK(expr) assert(expr)
#else
#define SC_SANITY_CHECK(expr) ((void)0)
#endif

#endif
