// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the RAM page pool: hits and misses, validators, LRU
 * recycling with the active queue's protection, the scanner's marker
 * (resuming, surviving removals), clustering inside the aligned cluster,
 * and pages dropped while the scanner holds them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"

static unsigned char page_of(uint64_t object, uint64_t pindex)
{
	return (unsigned char)(object * 31 + pindex * 7 + 1);
}

static void put(struct sc_pool *p, uint64_t object, uint64_t validator,
		uint64_t pindex)
{
	unsigned char buf[SC_PAGE_BYTES];

	memset(buf, page_of(object, pindex), sizeof(buf));
	assert_int_equal(sc_pool_insert(p, object, validator, pindex, buf,
					SC_PAGE_BYTES, false),
			 0);
}

static bool hit(struct sc_pool *p, uint64_t object, uint64_t validator,
		uint64_t pindex)
{
	unsigned char buf[SC_PAGE_BYTES];
	int n = sc_pool_read(p, object, validator, pindex, buf, NULL);

	if (n < 0)
		return false;
	assert_int_equal(buf[0], page_of(object, pindex));
	return true;
}

/* The n-th page index (from 0) of object that falls in colour. */
static uint64_t nth_in_colour(uint64_t object, unsigned colour, unsigned n)
{
	for (uint64_t pi = 0;; pi += SC_CLUSTER_PAGES)
		if (sc_pool_colour_of(object, pi) == colour && n-- == 0)
			return pi;
}

static bool always(void *arg, uint64_t object, uint64_t validator,
		   uint64_t pindex)
{
	(void)arg;
	(void)object;
	(void)validator;
	(void)pindex;
	return true;
}

static void test_insert_read_partial_and_miss(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 20, &err);
	unsigned char src[100], dst[SC_PAGE_BYTES];

	(void)state;
	assert_non_null(p);
	memset(src, 0xab, sizeof(src));
	assert_int_equal(sc_pool_insert(p, 1, 10, 5, src, 100, false), 0);
	memset(dst, 0xff, sizeof(dst));
	assert_int_equal(sc_pool_read(p, 1, 10, 5, dst, NULL), 100);
	assert_int_equal(dst[99], 0xab);
	assert_int_equal(dst[100], 0); /* the rest of the page reads zero */
	assert_int_equal(sc_pool_read(p, 1, 10, 6, dst, NULL), -ENOENT);
	assert_int_equal(sc_pool_read(p, 2, 10, 5, dst, NULL), -ENOENT);
	assert_int_equal(sc_pool_insert(p, 1, 10, 5, src, SC_PAGE_BYTES + 1,
					false),
			 -EINVAL);
	sc_pool_destroy(p);
	assert_null(sc_pool_create(4096, &err));
	assert_int_equal(err, -EINVAL);
}

static void test_other_validator_misses_and_frees(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 20, &err);
	struct sc_pool_stats st;

	(void)state;
	put(p, 1, 10, 0);
	/* Looking leaves the page as it is, under its own validator only. */
	assert_true(sc_pool_contains(p, 1, 10, 0));
	assert_false(sc_pool_contains(p, 1, 11, 0));
	assert_false(sc_pool_contains(p, 1, 10, 1));
	assert_true(sc_pool_contains(p, 1, 10, 0));
	put(p, 1, 10, 2);
	assert_int_equal(sc_pool_object_pages(p, 1, 10, 3), 2);
	assert_int_equal(sc_pool_object_pages(p, 1, 10, 2), 1);
	assert_int_equal(sc_pool_object_pages(p, 1, 11, 3), 0);
	assert_int_equal(sc_pool_object_pages(p, 2, 10, 3), 0);
	sc_pool_drop_range(p, 1, 2, 2);
	assert_false(hit(p, 1, 11, 0)); /* the file changed */
	assert_false(hit(p, 1, 10, 0)); /* and the old page is gone */
	sc_pool_get_stats(p, &st);
	assert_int_equal(st.free_pages, st.pages);
	sc_pool_destroy(p);
}

static void test_lru_recycles_oldest_and_spares_active(void **state)
{
	int err;
	/* 16 colours x 8 pages. */
	struct sc_pool *p = sc_pool_create(128 * SC_PAGE_BYTES, &err);
	uint64_t pi[20];

	(void)state;
	for (unsigned i = 0; i < 20; i++)
		pi[i] = nth_in_colour(7, 3, i);
	for (unsigned i = 0; i < 8; i++)
		put(p, 7, 1, pi[i]);
	assert_true(hit(p, 7, 1, pi[0])); /* pi[0] is now active */
	for (unsigned i = 8; i < 13; i++)
		put(p, 7, 1, pi[i]);
	assert_true(hit(p, 7, 1, pi[0]));  /* spared: it was read again */
	assert_false(hit(p, 7, 1, pi[1])); /* the oldest inactive went */
	assert_false(hit(p, 7, 1, pi[5]));
	assert_true(hit(p, 7, 1, pi[7]));
	assert_true(hit(p, 7, 1, pi[12]));
	sc_pool_destroy(p);
}

static enum sc_pool_origin origin_of_read(struct sc_pool *p, uint64_t object,
					  uint64_t pindex)
{
	unsigned char buf[SC_PAGE_BYTES];
	enum sc_pool_origin origin;

	assert_true(sc_pool_read(p, object, 1, pindex, buf, &origin) >= 0);
	return origin;
}

/*
 * A page counts where it came from on its first serve only: once the LRU
 * has aged it (its referenced bit cleared), a read of it is still a RAM
 * hit, not a second fetch from the SSD.
 */
static void test_origin_counts_a_fetch_once(void **state)
{
	int err;
	/* 16 colours x 8 pages; at most 5 of a colour's stay active. */
	struct sc_pool *p = sc_pool_create(128 * SC_PAGE_BYTES, &err);
	unsigned char buf[SC_PAGE_BYTES] = { 0 };
	uint64_t pi[8];

	(void)state;
	for (unsigned i = 0; i < 8; i++) {
		pi[i] = nth_in_colour(9, 5, i);
		assert_int_equal(sc_pool_insert(p, 9, 1, pi[i], buf,
						SC_PAGE_BYTES, true),
				 0);
	}
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(origin_of_read(p, 9, pi[i]), SC_POOL_SSD);
		/* Read again while on the SSD: to the active queue. */
		assert_int_equal(origin_of_read(p, 9, pi[i]), SC_POOL_RAM);
	}
	/* The sixth made the first one age out of the active queue. */
	assert_int_equal(origin_of_read(p, 9, pi[0]), SC_POOL_RAM);
	assert_int_equal(origin_of_read(p, 9, pi[7]), SC_POOL_SSD);
	sc_pool_destroy(p);
}

/*
 * A page read from the SSD again (with a neighbour) while it is here at
 * the same validator keeps its place and history; at another validator it
 * is replaced.
 */
static void test_ssd_fill_keeps_a_page_already_here(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(128 * SC_PAGE_BYTES, &err);
	unsigned char buf[SC_PAGE_BYTES], got[SC_PAGE_BYTES];

	(void)state;
	memset(buf, 1, sizeof(buf));
	assert_int_equal(sc_pool_insert(p, 9, 1, 3, buf, SC_PAGE_BYTES, true),
			 0);
	assert_int_equal(origin_of_read(p, 9, 3), SC_POOL_SSD);
	memset(buf, 2, sizeof(buf));
	assert_int_equal(sc_pool_insert(p, 9, 1, 3, buf, SC_PAGE_BYTES, true),
			 0);
	/* Kept: still served before, so a RAM hit. */
	assert_int_equal(origin_of_read(p, 9, 3), SC_POOL_RAM);
	assert_true(sc_pool_read(p, 9, 1, 3, got, NULL) >= 0);
	assert_int_equal(got[0], 1);
	/* Another validator: new contents replace it. */
	assert_int_equal(sc_pool_insert(p, 9, 2, 3, buf, SC_PAGE_BYTES, true),
			 0);
	assert_true(sc_pool_read(p, 9, 2, 3, got, NULL) >= 0);
	assert_int_equal(got[0], 2);
	sc_pool_destroy(p);
}

/*
 * A page read back at mount (a RAM hint) takes a free page only, never one
 * a reader's page holds (of any validator), and comes as an SSD page; the
 * listing for the next unmount names just the pages the SSD holds.
 */
static void test_refill_takes_free_pages_only(void **state)
{
	int err;
	/* 16 colours x 8 pages. */
	struct sc_pool *p = sc_pool_create(128 * SC_PAGE_BYTES, &err);
	unsigned char buf[SC_PAGE_BYTES];
	struct sc_pool_page_id *ids;
	uint64_t pi[9];
	size_t n;

	(void)state;
	for (unsigned i = 0; i < 9; i++)
		pi[i] = nth_in_colour(4, 6, i);
	put(p, 4, 2, pi[0]); /* a reader's, of newer contents */
	memset(buf, page_of(4, pi[1]), sizeof(buf));
	assert_int_equal(sc_pool_refill(p, 4, 1, pi[0], buf), -EEXIST);
	assert_true(hit(p, 4, 2, pi[0]));
	for (unsigned i = 1; i < 8; i++) {
		memset(buf, page_of(4, pi[i]), sizeof(buf));
		assert_int_equal(sc_pool_refill(p, 4, 1, pi[i], buf), 0);
	}
	/* The colour is full: the ninth pushes nothing out. */
	memset(buf, page_of(4, pi[8]), sizeof(buf));
	assert_int_equal(sc_pool_refill(p, 4, 1, pi[8], buf), -ENOSPC);
	assert_true(hit(p, 4, 2, pi[0]));
	assert_false(hit(p, 4, 1, pi[8]));
	assert_int_equal(origin_of_read(p, 4, pi[1]), SC_POOL_SSD);
	assert_true(hit(p, 4, 1, pi[7]));

	ids = sc_pool_list_on_ssd(p, 6, &n);
	assert_non_null(ids);
	assert_int_equal(n, 7); /* not the reader's page from BACKING */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ids[i].object, 4);
		assert_int_equal(ids[i].validator, 1);
		assert_true(ids[i].pindex != pi[0]);
	}
	free(ids);
	ids = sc_pool_list_on_ssd(p, 5, &n);
	assert_int_equal(n, 0);
	free(ids);
	sc_pool_destroy(p);
}

static void test_marker_resumes_and_survives_removal(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 22, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	struct sc_pool_cluster cl;
	uint64_t pi[6];
	unsigned budget;

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		pi[i] = nth_in_colour(9, 5, i);
		put(p, 9, 1, pi[i]);
	}
	budget = 2;
	assert_int_equal(
		sc_pool_next_cluster(p, 5, &budget, always, NULL, buf, &cl), 1);
	assert_int_equal(cl.cluster, pi[0] / SC_CLUSTER_PAGES);
	sc_pool_cluster_done(p, &cl, true);
	/* The page right after the marker goes away under it. */
	sc_pool_drop_range(p, 9, pi[1], pi[1]);
	budget = 10;
	assert_int_equal(
		sc_pool_next_cluster(p, 5, &budget, always, NULL, buf, &cl), 1);
	assert_int_equal(cl.cluster, pi[2] / SC_CLUSTER_PAGES); /* resumed */
	sc_pool_cluster_done(p, &cl, true);
	/* Swapped pages are passed over; the end sends the marker home. */
	for (unsigned i = 3; i < 6; i++) {
		budget = 10;
		assert_int_equal(sc_pool_next_cluster(p, 5, &budget, always,
						      NULL, buf, &cl),
				 1);
		sc_pool_cluster_done(p, &cl, true);
	}
	budget = 10;
	assert_int_equal(sc_pool_next_cluster(p, 5, &budget, always, NULL, buf,
					      &cl),
			 -ENOENT);
	budget = 10;
	assert_int_equal(sc_pool_next_cluster(p, 5, &budget, always, NULL, buf,
					      &cl),
			 -ENOENT);    /* all on the SSD already */
	assert_int_equal(budget, 10); /* five such pages cost nothing */
	free(buf);
	sc_pool_destroy(p);
}

/*
 * Pages read back from the SSD are passed over at a sixteenth of what an
 * examined page costs the writing pass's budget: a reread of a file mostly
 * on the SSD does not use up the pass before it reaches the pages the SSD
 * lacks.
 */
static void test_pages_on_the_ssd_cost_a_sixteenth(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 22, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	unsigned char page[SC_PAGE_BYTES] = { 0 };
	struct sc_pool_cluster cl;
	uint64_t lacking = nth_in_colour(9, 3, 40);
	unsigned budget = 2;

	(void)state;
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(sc_pool_insert(p, 9, 1, nth_in_colour(9, 3, i),
						page, SC_PAGE_BYTES, true),
				 0);
	put(p, 9, 1, lacking);
	/* Two pages' worth of budget pass over 32 pages on the SSD... */
	assert_int_equal(
		sc_pool_next_cluster(p, 3, &budget, always, NULL, buf, &cl), 0);
	assert_int_equal(budget, 0);
	/* ... and one more reaches the page the SSD lacks, after 8 more. */
	budget = 2;
	assert_int_equal(
		sc_pool_next_cluster(p, 3, &budget, always, NULL, buf, &cl), 1);
	assert_int_equal(cl.cluster, lacking / SC_CLUSTER_PAGES);
	assert_int_equal(budget, 1);
	sc_pool_cluster_done(p, &cl, true);
	free(buf);
	sc_pool_destroy(p);
}

/*
 * A cluster is not gathered again while a write of it is in flight: the
 * second write would hold only the pages the first lacks and replace it
 * on the SSD, and the first one's pages, marked as on the SSD, would never
 * be written again.  The next pass writes the cluster whole.
 */
static void test_no_second_write_of_a_cluster_in_flight(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 22, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	struct sc_pool_cluster first, again;
	unsigned colour = sc_pool_colour_of(9, 0);
	unsigned budget = 100;

	(void)state;
	for (uint64_t pg = 0; pg < 8; pg++)
		put(p, 9, 1, pg);
	assert_int_equal(sc_pool_next_cluster(p, colour, &budget, always, NULL,
					      buf, &first),
			 1);
	assert_int_equal(first.valid_mask, 0x00ff);
	for (uint64_t pg = 8; pg < 16; pg++)
		put(p, 9, 1, pg); /* arrive while it is written */
	budget = 100;
	assert_int_equal(sc_pool_next_cluster(p, colour, &budget, always, NULL,
					      buf, &again),
			 0);
	sc_pool_cluster_done(p, &first, true);
	budget = 100;
	assert_int_equal(sc_pool_next_cluster(p, colour, &budget, always, NULL,
					      buf, &again),
			 1);
	assert_int_equal(again.cluster, 0);
	assert_int_equal(again.valid_mask, 0xffff);
	sc_pool_cluster_done(p, &again, true);
	free(buf);
	sc_pool_destroy(p);
}

static void test_cluster_gathers_only_its_aligned_pages(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 22, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	struct sc_pool_cluster cl;
	unsigned colour = sc_pool_colour_of(4, 16);
	unsigned budget = 100;

	(void)state;
	/* Pages 15..33: clusters 0, 1 and 2; start scanning in cluster 1. */
	put(p, 4, 1, 20);
	for (uint64_t i = 15; i <= 33; i++)
		if (i != 20 && i != 25)
			put(p, 4, 1, i);
	put(p, 5, 1, 21); /* another object */
	assert_int_equal(sc_pool_next_cluster(p, colour, &budget, always, NULL,
					      buf, &cl),
			 1);
	assert_int_equal(cl.object, 4);
	assert_int_equal(cl.cluster, 1);
	/* Pages 16..31 but 25: bits 0..15 but 9. */
	assert_int_equal(cl.valid_mask, 0xffff & ~(1u << 9));
	assert_int_equal(buf[(20 - 16) * SC_PAGE_BYTES], page_of(4, 20));
	assert_int_equal(buf[(31 - 16) * SC_PAGE_BYTES], page_of(4, 31));
	assert_int_equal(buf[9 * SC_PAGE_BYTES], 0);
	assert_int_equal(cl.bytes[0], SC_PAGE_BYTES);
	sc_pool_cluster_done(p, &cl, true);
	free(buf);
	sc_pool_destroy(p);
}

static void test_drop_while_busy_frees_after_done(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 22, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	struct sc_pool_cluster cl;
	struct sc_pool_stats st;
	unsigned budget = 10;

	(void)state;
	put(p, 8, 1, 0);
	put(p, 8, 1, 1);
	assert_int_equal(sc_pool_next_cluster(p, sc_pool_colour_of(8, 0),
					      &budget, always, NULL, buf, &cl),
			 1);
	assert_int_equal(cl.valid_mask, 0x3);
	sc_pool_drop_object(p, 8); /* a write through the mount */
	assert_false(hit(p, 8, 1, 0));
	sc_pool_get_stats(p, &st);
	assert_int_equal(st.free_pages, st.pages - 2); /* still held */
	sc_pool_cluster_done(p, &cl, true);
	sc_pool_get_stats(p, &st);
	assert_int_equal(st.free_pages, st.pages);
	assert_false(hit(p, 8, 1, 1)); /* not resurrected as swapped */
	free(buf);
	sc_pool_destroy(p);
}

/*
 * Every call of the pool, in a seeded random mix on a small pool (pages
 * recycled, dropped while the scanner holds them, refilled, protected),
 * leaves its invariants whole.
 */
static void test_pool_invariants_hold_through_a_random_mix(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(64 * SC_PAGE_BYTES, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	struct sc_pool_cluster held[8];
	unsigned nheld = 0, seed = 12345;

	(void)state;
	assert_non_null(p);
	assert_non_null(buf);
	memset(buf, 7, SC_CLUSTER_BYTES);
	for (unsigned step = 0; step < 20000; step++) {
		uint64_t object = 1 + rand_r(&seed) % 5;
		uint64_t pindex = (uint64_t)(rand_r(&seed) % 48);
		uint64_t validator = 1 + rand_r(&seed) % 2;
		unsigned budget = 8;

		switch (rand_r(&seed) % 8) {
		case 0:
		case 1:
			sc_pool_insert(p, object, validator, pindex, buf,
				       SC_PAGE_BYTES, rand_r(&seed) % 2);
			break;
		case 2:
		case 3:
			sc_pool_read(p, object, validator, pindex, buf, NULL);
			break;
		case 4:
			if (nheld < 8 &&
			    sc_pool_next_cluster(p,
						 (unsigned)rand_r(&seed) %
							 SC_POOL_COLOURS,
						 &budget, always, NULL, buf,
						 &held[nheld]) == 1)
				nheld++;
			break;
		case 5:
			if (nheld)
				sc_pool_cluster_done(p, &held[--nheld],
						     rand_r(&seed) % 2);
			break;
		case 6:
			if (rand_r(&seed) % 4 == 0)
				sc_pool_drop_object(p, object);
			else
				sc_pool_drop_range(p, object, pindex,
						   pindex + 16);
			break;
		default:
			sc_pool_refill(p, object, validator, pindex, buf);
			break;
		}
		if (step % 64 == 0)
			assert_true(sc_pool_sanity(p));
	}
	while (nheld)
		sc_pool_cluster_done(p, &held[--nheld], false);
	assert_true(sc_pool_sanity(p));
	free(buf);
	sc_pool_destroy(p);
}

static bool only_object_2(void *arg, uint64_t object, uint64_t validator,
			  uint64_t pindex)
{
	(void)validator;
	(void)pindex;
	++*(unsigned *)arg;
	return object == 2;
}

static void test_eligibility_and_adds(void **state)
{
	int err;
	struct sc_pool *p = sc_pool_create(1 << 22, &err);
	unsigned char *buf = malloc(SC_CLUSTER_BYTES);
	struct sc_pool_cluster cl;
	unsigned asked = 0, found = 0;

	(void)state;
	for (uint64_t i = 0; i < 64; i++) {
		put(p, 1, 1, i);
		put(p, 2, 1, i);
	}
	assert_int_equal(sc_pool_take_adds(p), 128);
	assert_int_equal(sc_pool_take_adds(p), 0);
	for (unsigned c = 0; c < SC_POOL_COLOURS; c++) {
		for (;;) {
			unsigned budget = 1000;
			int r = sc_pool_next_cluster(
				p, c, &budget, only_object_2, &asked, buf, &cl);

			if (r != 1)
				break;
			assert_int_equal(cl.object, 2);
			found++;
			sc_pool_cluster_done(p, &cl, true);
		}
	}
	assert_int_equal(found, 4); /* 64 pages of object 2: 4 clusters */
	assert_true(asked >= 64);
	free(buf);
	sc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_read_partial_and_miss),
		cmocka_unit_test(test_other_validator_misses_and_frees),
		cmocka_unit_test(test_lru_recycles_oldest_and_spares_active),
		cmocka_unit_test(test_origin_counts_a_fetch_once),
		cmocka_unit_test(test_ssd_fill_keeps_a_page_already_here),
		cmocka_unit_test(test_refill_takes_free_pages_only),
		cmocka_unit_test(test_marker_resumes_and_survives_removal),
		cmocka_unit_test(test_pages_on_the_ssd_cost_a_sixteenth),
		cmocka_unit_test(test_no_second_write_of_a_cluster_in_flight),
		cmocka_unit_test(test_cluster_gathers_only_its_aligned_pages),
		cmocka_unit_test(test_drop_while_busy_frees_after_done),
		cmocka_unit_test(
			test_pool_invariants_hold_through_a_random_mix),
		cmocka_unit_test(test_eligibility_and_adds),
	};

	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
