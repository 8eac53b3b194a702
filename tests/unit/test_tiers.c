// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the cache's tiers on a real pool and a real store (a cache
 * file through io_uring), without a mount: where a page comes from, that
 * a changed file or a stale version is never served, and that a put
 * raced by a change keeps nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tiers.h"
#include "scratch.h"

#define OBJECT 0x1234567ull
#define VALIDATOR 77ull
#define FILE_BYTES (3ull * SC_CLUSTER_BYTES + 1000) /* a short last page */

struct fixture {
	char path[256];
	struct sc_store *store;
	struct sc_pool *pool;
	struct sc_tunables tunables;
	struct sc_tiers t;
	struct sc_tiers_file f;
	unsigned char *data;	/* the file's bytes */
	unsigned char *scratch; /* a cluster, aligned */
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	int err;

	assert_non_null(x);
	scratch_path(x->path, sizeof(x->path), "tiers");
	x->store = scratch_store(x->path, 16ull << 20, true, NULL);
	x->pool = sc_pool_create(8ull << 20, &err);
	assert_non_null(x->pool);
	sc_tunables_init(&x->tunables);
	sc_tunable_set(&x->tunables, SC_T_READ_POLL_US, 0);
	sc_tiers_init(&x->t, x->pool, x->store, 8ull << 20, &x->tunables);
	x->f = (struct sc_tiers_file){ .object = OBJECT,
				       .validator = VALIDATOR,
				       .size = FILE_BYTES };
	assert_int_equal(posix_memalign((void **)&x->data, 4096,
					4 * SC_CLUSTER_BYTES),
			 0);
	for (size_t i = 0; i < 4 * SC_CLUSTER_BYTES; i++)
		x->data[i] = (unsigned char)(i * 7 + i / 4096);
	memset(x->data + FILE_BYTES, 0, 4 * SC_CLUSTER_BYTES - FILE_BYTES);
	assert_int_equal(posix_memalign((void **)&x->scratch, 4096,
					SC_CLUSTER_BYTES),
			 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	sc_store_close(x->store);
	sc_pool_destroy(x->pool);
	unlink(x->path);
	free(x->data);
	free(x->scratch);
	free(x);
	return 0;
}

/* Put the whole file into the pool, as a fetch from BACKING does. */
static void put_file(struct fixture *x)
{
	uint32_t epoch = sc_tiers_epoch(&x->t, OBJECT);

	assert_int_equal(
		sc_tiers_put(&x->t, &x->f, 0, x->data, FILE_BYTES, epoch), 0);
}

/* Write cluster c of the file to the SSD, as the scanner does. */
static void write_cluster(struct fixture *x, uint32_t c)
{
	uint64_t pages = (FILE_BYTES - (uint64_t)c * SC_CLUSTER_BYTES +
			  SC_PAGE_BYTES - 1) /
			 SC_PAGE_BYTES;
	struct sc_store_write w = {
		.object = OBJECT,
		.validator = VALIDATOR,
		.cluster = c,
		.valid_mask = pages >= SC_CLUSTER_PAGES
				      ? 0xffff
				      : (uint16_t)((1u << pages) - 1),
		.buf = x->data + (size_t)c * SC_CLUSTER_BYTES,
	};

	sc_store_write(x->store, &w, 1);
	assert_int_equal(w.result, 0);
}

/* Get page pindex; assert it is the file's bytes.  Returns its origin. */
static enum sc_pool_origin get_page(struct fixture *x, uint64_t pindex,
				    uint64_t left)
{
	struct sc_tiers_ask ask = { .pindex = pindex, .left = left };
	unsigned char dst[SC_PAGE_BYTES];
	enum sc_pool_origin origin;
	unsigned placed;
	int ret = sc_tiers_get(&x->t, &x->f, &ask, dst, x->scratch, &placed,
			       &origin);

	assert_int_equal(ret, (int)sc_tiers_page_bytes(&x->f, pindex));
	assert_memory_equal(dst, x->data + pindex * SC_PAGE_BYTES, (size_t)ret);
	return origin;
}

static int ask_page(struct fixture *x, uint64_t pindex)
{
	struct sc_tiers_ask ask = { .pindex = pindex, .left = 1 };
	unsigned char dst[SC_PAGE_BYTES];
	enum sc_pool_origin origin;
	unsigned placed;

	return sc_tiers_get(&x->t, &x->f, &ask, dst, x->scratch, &placed,
			    &origin);
}

static void test_tiers_miss_when_neither_tier_has_the_page(void **state)
{
	struct fixture *x = *state;

	assert_int_equal(ask_page(x, 0), SC_TIERS_MISS);
	assert_int_equal(sc_tiers_missing_run(&x->t, &x->f, 0, 4), 4);
	assert_false(sc_tiers_in_ram(&x->t, &x->f, 0));
}

static void test_tiers_serve_a_put_page_from_ram_and_count_it_once(void **state)
{
	struct fixture *x = *state;

	put_file(x);
	/* The first serve of a fetched page counts as BACKING's. */
	assert_int_equal(get_page(x, 5, 1), SC_POOL_BACKING);
	assert_int_equal(get_page(x, 5, 1), SC_POOL_RAM);
	/* The short last page: its bytes, no more. */
	assert_int_equal(get_page(x, FILE_BYTES / SC_PAGE_BYTES, 1),
			 SC_POOL_BACKING);
	assert_true(sc_tiers_in_ram(&x->t, &x->f, 3));
}

static void test_tiers_read_the_ssd_copy_when_ram_lacks_the_page(void **state)
{
	struct fixture *x = *state;

	for (uint32_t c = 0; c < 4; c++)
		write_cluster(x, c);
	assert_int_equal(sc_tiers_missing_run(&x->t, &x->f, 0, 4), 0);
	/* Part of a cluster, at random: from the SSD, into the pool. */
	assert_int_equal(get_page(x, 18, 1), SC_POOL_SSD);
	assert_int_equal(get_page(x, 18, 1), SC_POOL_RAM);
	/* Sequential: the whole cluster comes, its neighbours are RAM hits. */
	assert_int_equal(get_page(x, 32, SC_CLUSTER_PAGES), SC_POOL_SSD);
	assert_int_equal(get_page(x, 47, 1), SC_POOL_SSD); /* first serve */
	assert_int_equal(get_page(x, 47, 1), SC_POOL_RAM);
	/* The short last page of the file, from its SSD copy. */
	assert_int_equal(get_page(x, FILE_BYTES / SC_PAGE_BYTES, 1),
			 SC_POOL_SSD);
}

static void test_tiers_miss_a_page_the_ssd_copy_lacks(void **state)
{
	struct fixture *x = *state;
	struct sc_store_write w = { .object = OBJECT,
				    .validator = VALIDATOR,
				    .cluster = 0,
				    .valid_mask = 0x000f, /* pages 0-3 */
				    .buf = x->data };

	sc_store_write(x->store, &w, 1);
	assert_int_equal(w.result, 0);
	assert_int_equal(get_page(x, 2, 1), SC_POOL_SSD);
	assert_int_equal(ask_page(x, 5), SC_TIERS_MISS);
	/* Nor does a whole-cluster read serve the pages it has. */
	assert_int_equal(ask_page(x, SC_CLUSTER_PAGES - 1), SC_TIERS_MISS);
}

static void test_tiers_never_serve_another_version(void **state)
{
	struct fixture *x = *state;
	struct sc_tiers_file other = x->f;

	put_file(x);
	write_cluster(x, 0);
	other.validator = VALIDATOR + 1;
	x->f = other;
	assert_int_equal(ask_page(x, 0), SC_TIERS_MISS);
	assert_int_equal(sc_tiers_missing_run(&x->t, &x->f, 0, 1), 1);
}

static void test_tiers_drop_a_changed_file_from_both_tiers(void **state)
{
	struct fixture *x = *state;

	put_file(x);
	write_cluster(x, 1);
	sc_tiers_changed(&x->t, OBJECT);
	assert_int_equal(ask_page(x, 0), SC_TIERS_MISS);
	assert_int_equal(ask_page(x, SC_CLUSTER_PAGES), SC_TIERS_MISS);
	assert_int_equal(sc_tiers_missing_run(&x->t, &x->f, 1, 1), 1);
}

static void test_tiers_put_raced_by_a_change_keeps_nothing(void **state)
{
	struct fixture *x = *state;
	uint32_t epoch = sc_tiers_epoch(&x->t, OBJECT);

	/* The change lands between the read of BACKING and the put. */
	sc_tiers_changed(&x->t, OBJECT);
	assert_int_equal(sc_tiers_put(&x->t, &x->f, 0, x->data, FILE_BYTES,
				      epoch),
			 -EAGAIN);
	assert_false(sc_tiers_in_ram(&x->t, &x->f, 0));
	assert_int_equal(ask_page(x, 0), SC_TIERS_MISS);
}

static void test_tiers_keep_no_page_past_a_shrunk_files_end(void **state)
{
	struct fixture *x = *state;
	uint32_t epoch = sc_tiers_epoch(&x->t, OBJECT);

	/* BACKING gave 100 bytes of a page the open saw whole. */
	assert_int_equal(sc_tiers_put(&x->t, &x->f, 0, x->data,
				      SC_PAGE_BYTES + 100, epoch),
			 0);
	assert_int_equal(get_page(x, 0, 1), SC_POOL_BACKING);
	assert_int_equal(ask_page(x, 1), SC_TIERS_MISS);
}

static void test_tiers_read_no_ssd_copy_without_read_enable(void **state)
{
	struct fixture *x = *state;

	write_cluster(x, 0);
	sc_tunable_set(&x->tunables, SC_T_READ_ENABLE, 0);
	assert_int_equal(ask_page(x, 0), SC_TIERS_MISS);
	assert_int_equal(sc_tiers_missing_run(&x->t, &x->f, 0, 3), 3);
	sc_tunable_set(&x->tunables, SC_T_READ_ENABLE, 1);
	assert_int_equal(get_page(x, 0, 1), SC_POOL_SSD);
}

static void test_tiers_batch_reads_whole_clusters_in_place(void **state)
{
	struct fixture *x = *state;
	uint64_t placed[SC_TIERS_PLACED_WORDS] = { 0 };
	unsigned char *out = NULL, *scratch2 = NULL;

	for (uint32_t c = 0; c < 3; c++)
		write_cluster(x, c);
	assert_int_equal(
		posix_memalign((void **)&out, 4096, 3 * SC_CLUSTER_BYTES), 0);
	assert_int_equal(posix_memalign((void **)&scratch2, 4096,
					2 * SC_CLUSTER_BYTES),
			 0);
	sc_tiers_get_batch(&x->t, &x->f, 0, 3 * SC_CLUSTER_BYTES, false, out,
			   scratch2, placed);
	/* Every page of the three clusters, in place and right. */
	for (unsigned k = 0; k < 3 * SC_CLUSTER_PAGES; k++)
		assert_true(placed[k / 64] & (1ull << (k % 64)));
	assert_memory_equal(out, x->data, 3 * SC_CLUSTER_BYTES);
	/* A buffered reader's pages went to the kernel alone. */
	assert_false(sc_tiers_in_ram(&x->t, &x->f, 1));
	free(out);
	free(scratch2);
}

static void
test_tiers_bypass_the_pool_only_for_large_direct_random(void **state)
{
	struct fixture *x = *state;
	struct sc_tiers_file big = { .object = OBJECT,
				     .validator = VALIDATOR,
				     .size = 64ull << 20,
				     .direct = true };

	assert_true(sc_tiers_bypass_pool(&x->t, &big, false));
	assert_false(sc_tiers_bypass_pool(&x->t, &big, true));
	big.direct = false;
	assert_false(sc_tiers_bypass_pool(&x->t, &big, false));
	assert_false(sc_tiers_bypass_pool(&x->t, &x->f, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_tiers_miss_when_neither_tier_has_the_page),
		T(test_tiers_serve_a_put_page_from_ram_and_count_it_once),
		T(test_tiers_read_the_ssd_copy_when_ram_lacks_the_page),
		T(test_tiers_miss_a_page_the_ssd_copy_lacks),
		T(test_tiers_never_serve_another_version),
		T(test_tiers_drop_a_changed_file_from_both_tiers),
		T(test_tiers_put_raced_by_a_change_keeps_nothing),
		T(test_tiers_keep_no_page_past_a_shrunk_files_end),
		T(test_tiers_read_no_ssd_copy_without_read_enable),
		T(test_tiers_batch_reads_whole_clusters_in_place),
		T(test_tiers_bypass_the_pool_only_for_large_direct_random),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
