// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the swapcached thread against a real store on a cache
 * file and a real page pool: pages reach the SSD intact, data_enable and
 * the policy hold it back, the budget limits what is written, and a full
 * SSD is cleaned down to its low watermark.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "scanner.h"
#include "store.h"
#include "scratch.h"

#define MIB (1ull << 20)

struct fixture {
	char path[128];
	struct sc_store *store;
	struct sc_pool *pool;
	struct sc_tunables tun;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int err;

	assert_non_null(f);
	scratch_path(f->path, sizeof(f->path), "scanner");
	f->store = scratch_store(f->path, 64 * MIB, false, NULL);
	f->pool = sc_pool_create(32 * MIB, &err);
	assert_non_null(f->pool);
	sc_tunables_init(&f->tun);
	sc_tunable_set(&f->tun, SC_T_MIN_HYSTERESIS, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sc_pool_destroy(f->pool);
	sc_store_close(f->store);
	unlink(f->path);
	free(f);
	return 0;
}

static void fill_page(unsigned char *buf, uint64_t object, uint64_t pindex)
{
	for (int i = 0; i < 4096; i++)
		buf[i] = (unsigned char)(object * 13 + pindex * 7 + i);
}

static void add_pages(struct fixture *f, uint64_t object, uint64_t n)
{
	unsigned char buf[4096];

	for (uint64_t i = 0; i < n; i++) {
		fill_page(buf, object, i);
		assert_int_equal(sc_pool_insert(f->pool, object, 100 + object,
						i, buf, 4096, false),
				 0);
	}
}

/* Kick the scanner until cond holds or 10 s pass. */
static void run_until(struct sc_scanner *sc, bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 1000 && !cond(arg); i++) {
		const struct timespec pause = { .tv_nsec = 10000000 };

		sc_scanner_kick(sc);
		nanosleep(&pause, NULL);
	}
	assert_true(cond(arg));
}

static struct sc_scanner *the_scanner;
static uint64_t want_clusters;

static bool written_enough(void *arg)
{
	struct sc_scanner_stats st;

	(void)arg;
	sc_scanner_get_stats(the_scanner, &st);
	return st.clusters_written >= want_clusters;
}

/*
 * The stats tell the governor's budget from the start, not 0 until the
 * first tick (which waits for the RAM pool's refill after a mount).
 */
static void test_stats_tell_the_budget_before_the_first_tick(void **state)
{
	struct fixture *f = *state;
	struct sc_scanner_stats st;

	sc_tunable_set(&f->tun, SC_T_CURBURST, 123456789);
	assert_int_equal(sc_scanner_start(f->store, f->pool, &f->tun, NULL,
					  NULL, &the_scanner),
			 0);
	sc_scanner_get_stats(the_scanner, &st);
	sc_scanner_stop(the_scanner);
	assert_true(st.curburst_bytes >= 123456789); /* it only accrues, idle */
}

static void test_pages_reach_the_ssd_intact(void **state)
{
	struct fixture *f = *state;
	unsigned char *got = aligned_alloc(4096, SC_CLUSTER_BYTES);
	unsigned char want[4096];
	struct sc_scanner_stats st;
	struct sc_store_stats ss;

	add_pages(f, 1, 64);
	add_pages(f, 2, 40); /* two full clusters and a half one */
	assert_int_equal(sc_scanner_start(f->store, f->pool, &f->tun, NULL,
					  NULL, &the_scanner),
			 0);
	want_clusters = 4 + 3;
	run_until(the_scanner, written_enough, NULL);
	sc_scanner_get_stats(the_scanner, &st);
	sc_scanner_stop(the_scanner);
	/*
	 * The SSD is charged for what was written, not whole clusters: the
	 * half one is packed, its bytes and its table's first block.
	 */
	assert_int_equal(st.clusters_written, 7);
	sc_store_get_stats(f->store, &ss);
	assert_int_equal(st.write_count,
			 6 * (SC_CLUSTER_BYTES + SC_TRAILER_BYTES) +
				 8 * SC_PAGE_BYTES + ss.block_bytes);
	assert_int_equal(ss.members, 1);
	for (uint32_t c = 0; c < 4; c++) {
		uint16_t mask;

		assert_int_equal(sc_store_read(f->store, 1, 101, c, got, &mask),
				 0);
		assert_int_equal(mask, 0xffff);
		fill_page(want, 1, c * 16 + 5);
		assert_memory_equal(got + 5 * 4096, want, 4096);
	}
	{
		uint16_t mask;

		assert_int_equal(sc_store_read(f->store, 2, 102, 2, got, &mask),
				 0);
		assert_int_equal(mask, 0x00ff); /* pages 32..39 */
	}
	free(got);
}

static bool never(void *arg, uint64_t object, uint64_t validator,
		  uint64_t pindex)
{
	(void)validator;
	(void)pindex;
	++*(unsigned *)arg;
	return object == 99;
}

static void test_data_enable_and_policy_hold_back(void **state)
{
	struct fixture *f = *state;
	struct sc_store_stats st;
	struct sc_scanner *sc;
	unsigned asked = 0;

	add_pages(f, 3, 64);
	sc_tunable_set(&f->tun, SC_T_DATA_ENABLE, 0);
	assert_int_equal(sc_scanner_start(f->store, f->pool, &f->tun, never,
					  &asked, &sc),
			 0);
	for (int i = 0; i < 20; i++) {
		const struct timespec pause = { .tv_nsec = 5000000 };

		sc_scanner_kick(sc);
		nanosleep(&pause, NULL);
	}
	sc_store_get_stats(f->store, &st);
	assert_int_equal(st.used_slots, 0);
	assert_int_equal(asked, 0); /* data_enable=0 decides first */
	sc_tunable_set(&f->tun, SC_T_DATA_ENABLE, 1);
	/*
	 * Those pages were passed over; as in DragonFly, the next pass waits
	 * for new pages to build up, then starts from the queue's head.
	 */
	add_pages(f, 5, 64);
	for (int i = 0; i < 20; i++) {
		const struct timespec pause = { .tv_nsec = 5000000 };

		sc_scanner_kick(sc);
		nanosleep(&pause, NULL);
	}
	sc_scanner_stop(sc);
	sc_store_get_stats(f->store, &st);
	assert_int_equal(st.used_slots, 0); /* the policy said no */
	assert_true(asked >= 128);
}

static void test_budget_limits_the_writes(void **state)
{
	struct fixture *f = *state;
	struct sc_scanner_stats st;
	struct sc_scanner *sc;
	const uint64_t cost = SC_CLUSTER_BYTES + SC_TRAILER_BYTES;

	add_pages(f, 4, 16 * 40); /* 40 clusters in RAM */
	/* Budget for 5 clusters, and a refill too slow to matter. */
	sc_tunable_set(&f->tun, SC_T_ACCRATE, 4096);
	sc_tunable_set(&f->tun, SC_T_CURBURST, 5 * (int64_t)cost);
	sc_tunable_set(&f->tun, SC_T_MINBURST, 64 * (int64_t)MIB);
	assert_int_equal(sc_scanner_start(f->store, f->pool, &f->tun, NULL,
					  NULL, &sc),
			 0);
	for (int i = 0; i < 30; i++) {
		const struct timespec pause = { .tv_nsec = 5000000 };

		sc_scanner_kick(sc);
		nanosleep(&pause, NULL);
	}
	sc_scanner_get_stats(sc, &st);
	sc_scanner_stop(sc);
	/* At most one cluster beyond the budget, as in DragonFly. */
	assert_true(st.clusters_written >= 5);
	assert_true(st.clusters_written <= 6);
	assert_int_equal(st.write_count, st.clusters_written * cost);
	assert_int_equal(st.burst, SC_BURST_RECOVERING);
}

static struct sc_store *the_store;

static bool cleaned_down(void *arg)
{
	struct sc_store_stats st;

	(void)arg;
	sc_store_get_stats(the_store, &st);
	return st.cleaned > 0 && st.used_bytes < st.data_bytes * 65 / 100;
}

static void test_full_ssd_is_cleaned_to_low_watermark(void **state)
{
	struct fixture *f = *state;
	struct sc_store_stats st;
	struct sc_scanner *sc;
	unsigned char *buf = aligned_alloc(4096, SC_CLUSTER_BYTES);

	/* Fill the SSD to 90% directly. */
	sc_store_get_stats(f->store, &st);
	memset(buf, 7, SC_CLUSTER_BYTES);
	for (uint32_t c = 0; c < st.nslots * 9 / 10; c++) {
		struct sc_store_write w = { .object = 50 + c / 100,
					    .validator = 1,
					    .cluster = c % 100,
					    .valid_mask = 0xffff,
					    .buf = buf };

		assert_int_equal(sc_store_write(f->store, &w, 1), 1);
	}
	assert_int_equal(sc_scanner_start(f->store, f->pool, &f->tun, NULL,
					  NULL, &sc),
			 0);
	the_store = f->store;
	run_until(sc, cleaned_down, NULL);
	sc_scanner_stop(sc);
	sc_store_get_stats(f->store, &st);
	assert_true(st.used_bytes >= st.data_bytes * 60 / 100);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_stats_tell_the_budget_before_the_first_tick),
		T(test_pages_reach_the_ssd_intact),
		T(test_data_enable_and_policy_hold_back),
		T(test_budget_limits_the_writes),
		T(test_full_ssd_is_cleaned_to_low_watermark),
#undef T
	};

	return cmocka_run_group_tests_name("scanner", tests, NULL, NULL);
}
