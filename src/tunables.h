/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tunables of a mount: swapcached's by DragonFly's names and
 * meanings, and ours.  One table serves the mount options (-o accrate=2M),
 * the runtime xattrs (setfattr -n user.swapcache.accrate -v 2M MNT), the
 * stats, the scanner and the cache, so a tunable is declared once and read
 * one way (sc_tunable_get) by every layer.
 *
 * Values are int64_t, read and written atomically: the daemon sets them
 * from any FUSE thread while the scanner and the readers use them.
 */
#ifndef SC_TUNABLES_H
#define SC_TUNABLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* In the order of DragonFly's tunables block. */
enum sc_tunable {
	SC_T_READ_ENABLE,
	SC_T_DATA_ENABLE,
	SC_T_META_ENABLE,
	SC_T_USE_CHFLAGS,
	SC_T_MAXSWAPPCT,
	SC_T_ACCRATE,
	SC_T_CURBURST,
	SC_T_MAXBURST,
	SC_T_MINBURST,
	SC_T_MAXFILESIZE,
	SC_T_MAXLAUNDER,
	SC_T_MAXSCAN,
	SC_T_MIN_HYSTERESIS,
	SC_T_CLEANPEROBJ,
	SC_T_META_TIMEOUT,   /* ours: seconds cached metadata is trusted */
	SC_T_ENDURANCE,	     /* ours: bytes the drive is rated to write */
	SC_T_LIFETIME,	     /* ours: seconds it should last; with endurance,
			    * they set accrate (scan/wear.h) */
	SC_T_DIRECT_ENABLE,  /* ours: O_DIRECT reads served by the cache too */
	SC_T_LAZY_OPEN,	     /* ours: cached files opened on BACKING lazily */
	SC_T_BACKING_DIRECT, /* ours: cached files read from BACKING O_DIRECT */
	SC_T_READ_POLL_US,   /* ours: a lone SSD reader polls this long */
	SC_T_STRICT_OPEN,    /* ours: every open asks BACKING (close-to-open) */
	SC_T_COUNT,
};

enum sc_tunable_kind {
	SC_TK_BOOL,  /* 0 or 1 */
	SC_TK_PCT,   /* a percentage */
	SC_TK_SIZE,  /* bytes, K/M/G/T suffixes */
	SC_TK_RATE,  /* bytes per second, "/s" optional */
	SC_TK_COUNT, /* pages */
	SC_TK_SECONDS,
	SC_TK_MICROSECONDS,
	SC_TK_ENDURANCE, /* bytes, decimal K/M/G/T/P as drives are rated */
	SC_TK_LIFETIME,	 /* seconds, h/d/w/y suffixes */
};

struct sc_tunable_desc {
	const char *name;
	enum sc_tunable_kind kind;
	int64_t def, min, max;
};

extern const struct sc_tunable_desc sc_tunable_descs[SC_T_COUNT];

struct sc_tunables {
	_Atomic int64_t v[SC_T_COUNT];
	/* A curburst set by the user, for the scanner to take: -1 none. */
	_Atomic int64_t curburst_request;
};

void sc_tunables_init(struct sc_tunables *t);

/* The tunable called name, or -ENOENT. */
int sc_tunable_lookup(const char *name);

/* Parse text as a value of tunable id: 0, -EINVAL, or -ERANGE. */
int sc_tunable_parse(int id, const char *text, int64_t *ret_value);

static inline int64_t sc_tunable_get(const struct sc_tunables *t, int id)
{
	return atomic_load_explicit(&t->v[id], memory_order_relaxed);
}

/* Set tunable id; a curburst also goes to the scanner's mailbox. */
void sc_tunable_set(struct sc_tunables *t, int id, int64_t value);

#endif
