// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the cache flags (src/cache/policy.c) on a real store:
 * the rule (noscache anywhere on the path wins, cache is inherited),
 * flags kept across a reopen, following renames and removals, and a
 * damaged set dropped whole and said so.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"
#include "store.h"
#include "scratch.h"

#define BACKING "/srv/backing"

struct fixture {
	char path[256];
	struct sc_store *store;
	struct sc_policy *policy;
};

static struct sc_policy *open_policy(struct fixture *x, bool *ret_dropped)
{
	struct sc_policy *p = NULL;
	bool dropped = true;

	assert_int_equal(sc_policy_open(x->store, BACKING, &p, &dropped), 0);
	if (ret_dropped)
		*ret_dropped = dropped;
	else
		assert_false(dropped);
	return p;
}

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	scratch_path(x->path, sizeof(x->path), "policy");
	x->store = scratch_store(x->path, 16ull << 20, true, NULL);
	x->policy = open_policy(x, NULL);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	sc_policy_close(x->policy);
	sc_store_close(x->store);
	unlink(x->path);
	free(x);
	return 0;
}

static void test_policy_noscache_anywhere_on_the_path_wins(void **state)
{
	struct fixture *x = *state;

	assert_false(sc_policy_allows(x->policy, "src/a.c"));
	assert_int_equal(sc_policy_set(x->policy, "src", SC_FLAG_CACHE), 0);
	assert_true(sc_policy_allows(x->policy, "src/a.c"));
	assert_true(sc_policy_allows(x->policy, "src/lib/b.c"));
	assert_false(sc_policy_allows(x->policy, "srcx/a.c"));
	assert_int_equal(sc_policy_set(x->policy, "src/lib", SC_FLAG_NOSCACHE),
			 0);
	assert_false(sc_policy_allows(x->policy, "src/lib/b.c"));
	assert_true(sc_policy_allows(x->policy, "src/a.c"));
	/* A file flagged cache under a noscache directory stays out. */
	assert_int_equal(sc_policy_set(x->policy, "src/lib/b.c", SC_FLAG_CACHE),
			 0);
	assert_false(sc_policy_allows(x->policy, "src/lib/b.c"));
}

static void test_policy_flags_survive_a_reopen(void **state)
{
	struct fixture *x = *state;

	assert_int_equal(sc_policy_set(x->policy, "a/b", SC_FLAG_CACHE), 0);
	assert_int_equal(sc_policy_set(x->policy, "c", SC_FLAG_NOSCACHE), 0);
	assert_int_equal(sc_policy_set(x->policy, "c", SC_FLAG_NONE), 0);
	sc_policy_close(x->policy);
	x->policy = open_policy(x, NULL);
	assert_int_equal(sc_policy_get(x->policy, "a/b"), SC_FLAG_CACHE);
	assert_int_equal(sc_policy_get(x->policy, "c"), SC_FLAG_NONE);
}

static void test_policy_flags_follow_renames_and_removals(void **state)
{
	struct fixture *x = *state;

	assert_int_equal(sc_policy_set(x->policy, "d", SC_FLAG_CACHE), 0);
	assert_int_equal(sc_policy_set(x->policy, "d/e", SC_FLAG_NOSCACHE), 0);
	sc_policy_rename(x->policy, "d", "moved");
	assert_int_equal(sc_policy_get(x->policy, "d"), SC_FLAG_NONE);
	assert_int_equal(sc_policy_get(x->policy, "moved"), SC_FLAG_CACHE);
	assert_int_equal(sc_policy_get(x->policy, "moved/e"), SC_FLAG_NOSCACHE);
	sc_policy_remove(x->policy, "moved");
	assert_int_equal(sc_policy_get(x->policy, "moved"), SC_FLAG_NONE);
	assert_int_equal(sc_policy_get(x->policy, "moved/e"), SC_FLAG_NONE);
}

static void test_policy_a_damaged_set_is_dropped_and_said(void **state)
{
	struct fixture *x = *state;
	char name[PATH_MAX + 16];
	int n = snprintf(name, sizeof(name), "%s%cflags", BACKING, '\0');
	unsigned char *buf = NULL;
	struct sc_store_write w = { .validator = SC_PINNED_VALIDATOR,
				    .valid_mask = 0xffff };
	bool dropped = false;
	uint16_t mask;

	assert_int_equal(sc_policy_set(x->policy, "a", SC_FLAG_CACHE), 0);
	sc_policy_close(x->policy);
	/* The header stands, the body's checksum no longer matches. */
	assert_int_equal(posix_memalign((void **)&buf, 4096, SC_CLUSTER_BYTES),
			 0);
	assert_int_equal(
		sc_store_read(x->store,
			      sc_store_object_name(x->store, name, (size_t)n) |
				      1,
			      SC_PINNED_VALIDATOR, 0, buf, &mask),
		0);
	buf[27] ^= 0x01; /* the path of the one flag */
	w.object = sc_store_object_name(x->store, name, (size_t)n) | 1;
	w.buf = buf;
	sc_store_write(x->store, &w, 1);
	assert_int_equal(w.result, 0);
	free(buf);
	x->policy = open_policy(x, &dropped);
	assert_true(dropped);
	assert_int_equal(sc_policy_get(x->policy, "a"), SC_FLAG_NONE);
}

static void test_policy_names_parse_and_print(void **state)
{
	enum sc_flag f;

	(void)state;
	assert_int_equal(sc_policy_parse("noscache", 8, &f), 0);
	assert_int_equal(f, SC_FLAG_NOSCACHE);
	assert_string_equal(sc_policy_name(SC_FLAG_CACHE), "cache");
	assert_int_equal(sc_policy_parse("cached", 6, &f), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_policy_noscache_anywhere_on_the_path_wins),
		T(test_policy_flags_survive_a_reopen),
		T(test_policy_flags_follow_renames_and_removals),
		T(test_policy_a_damaged_set_is_dropped_and_said),
		T(test_policy_names_parse_and_print),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
