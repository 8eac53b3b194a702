// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The tunables table (see tunables.h).  Defaults follow DragonFly except
 * accrate, which is sized for today's SSDs (see swapcachefs(8), TUNING),
 * and the enables, which are on: a user who mounts a cache wants it used.
 */
#include <errno.h>
#include <string.h>

#include "parse.h"
#include "tunables.h"

#define KB 1024LL
#define MB (1024LL * KB)
#define GB (1024LL * MB)
#define TB (1024LL * GB)

const struct sc_tunable_desc sc_tunable_descs[SC_T_COUNT] = {
	[SC_T_READ_ENABLE] = { "read_enable", SC_TK_BOOL, 1, 0, 1 },
	[SC_T_DATA_ENABLE] = { "data_enable", SC_TK_BOOL, 1, 0, 1 },
	[SC_T_META_ENABLE] = { "meta_enable", SC_TK_BOOL, 1, 0, 1 },
	[SC_T_USE_CHFLAGS] = { "use_chflags", SC_TK_BOOL, 0, 0, 1 },
	[SC_T_MAXSWAPPCT] = { "maxswappct", SC_TK_PCT, 75, 10, 100 },
	/* 1M/s: 86 GB a day, a sixth of a 600 TBW drive over 5 years. */
	[SC_T_ACCRATE] = { "accrate", SC_TK_RATE, 1 * MB, 4 * KB, 16 * GB },
	[SC_T_CURBURST] = { "curburst", SC_TK_SIZE, 4 * GB, 0, 64 * TB },
	[SC_T_MAXBURST] = { "maxburst", SC_TK_SIZE, 2 * GB, 64 * KB, 64 * TB },
	[SC_T_MINBURST] = { "minburst", SC_TK_SIZE, 10 * MB, 0, 64 * TB },
	[SC_T_MAXFILESIZE] = { "maxfilesize", SC_TK_SIZE, 0, 0, 1024 * TB },
	[SC_T_MAXLAUNDER] = { "maxlaunder", SC_TK_COUNT, 4096, 16, 1 << 24 },
	[SC_T_MAXSCAN] = { "maxscan", SC_TK_COUNT, 8192, 16, 1 << 24 },
	[SC_T_MIN_HYSTERESIS] = { "min_hysteresis", SC_TK_COUNT, 1024, 0,
				  1 << 24 },
	[SC_T_CLEANPEROBJ] = { "cleanperobj", SC_TK_SIZE, 16 * MB, 64 * KB,
			       64 * TB },
	/* NFS's acregmax; a year at most, so a time in ns never overflows. */
	[SC_T_META_TIMEOUT] = { "meta_timeout", SC_TK_SECONDS, 60, 0,
				366 * 86400 },
	[SC_T_ENDURANCE] = { "endurance", SC_TK_ENDURANCE, 0, 0,
			     1000000000000000000LL },
	[SC_T_LIFETIME] = { "lifetime", SC_TK_LIFETIME, 0, 0,
			    100LL * 365 * 86400 },
	[SC_T_DIRECT_ENABLE] = { "direct_enable", SC_TK_BOOL, 1, 0, 1 },
	[SC_T_LAZY_OPEN] = { "lazy_open", SC_TK_BOOL, 1, 0, 1 },
	[SC_T_BACKING_DIRECT] = { "backing_direct", SC_TK_BOOL, 1, 0, 1 },
	/* Longer than most SSD reads take: see swapcachefs(8). */
	[SC_T_READ_POLL_US] = { "read_poll_us", SC_TK_MICROSECONDS, 200, 0,
				10000 },
	[SC_T_STRICT_OPEN] = { "strict_open", SC_TK_BOOL, 0, 0, 1 },
};

void sc_tunables_init(struct sc_tunables *t)
{
	for (int i = 0; i < SC_T_COUNT; i++)
		atomic_init(&t->v[i], sc_tunable_descs[i].def);
	atomic_init(&t->curburst_request, -1);
}

int sc_tunable_lookup(const char *name)
{
	for (int i = 0; i < SC_T_COUNT; i++)
		if (strcmp(name, sc_tunable_descs[i].name) == 0)
			return i;
	return -ENOENT;
}

int sc_tunable_parse(int id, const char *text, int64_t *ret_value)
{
	const struct sc_tunable_desc *d = &sc_tunable_descs[id];
	uint64_t v;
	bool b;
	int ret;

	switch (d->kind) {
	case SC_TK_BOOL:
		ret = sc_parse_bool(text, &b);
		v = ret == 0 && b;
		break;
	case SC_TK_PCT:
	case SC_TK_COUNT:
	case SC_TK_SECONDS:
	case SC_TK_MICROSECONDS:
		ret = sc_parse_uint(text, 0, UINT64_MAX, &v);
		break;
	case SC_TK_SIZE:
		ret = sc_parse_size(text, &v);
		break;
	case SC_TK_RATE:
		ret = sc_parse_rate(text, &v);
		break;
	case SC_TK_ENDURANCE:
		ret = sc_parse_endurance(text, &v);
		break;
	case SC_TK_LIFETIME:
		ret = sc_parse_lifetime(text, &v);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret < 0)
		return ret;
	if (v > (uint64_t)d->max || (int64_t)v < d->min)
		return -ERANGE;
	*ret_value = (int64_t)v;
	return 0;
}

void sc_tunable_set(struct sc_tunables *t, int id, int64_t value)
{
	atomic_store(&t->v[id], value);
	if (id == SC_T_CURBURST)
		atomic_store(&t->curburst_request, value);
}
