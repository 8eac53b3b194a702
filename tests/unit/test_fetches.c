// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the fetches in flight: claims cut short where another
 * begins, a reader that finds its cluster being fetched waits for that
 * fetch and then looks again, and a fetch that ended since the reader
 * looked sends it to look again rather than fetch.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "fetches.h"

static void test_fetches_claims_are_cut_where_another_begins(void **state)
{
	struct sc_fetches q = { 0 };
	unsigned n = 0;
	int a, b;

	(void)state;
	sc_fetches_init(&q);
	a = sc_fetches_claim(&q, 6, 4, 0, &n);
	assert_true(a >= 0);
	assert_int_equal(n, 4); /* [6, 10) */
	b = sc_fetches_claim(&q, 2, 8, 0, &n);
	assert_true(b >= 0 && b != a);
	assert_int_equal(n, 4); /* [2, 6): cut where [6, 10) begins */
	sc_fetches_release(&q, a);
	sc_fetches_release(&q, b);
	assert_int_equal(atomic_load(&q.completed), 2);
	sc_fetches_destroy(&q);
}

static void
test_fetches_a_fetch_ended_since_the_look_means_look_again(void **state)
{
	struct sc_fetches q = { 0 };
	unsigned n = 0;
	int a;

	(void)state;
	sc_fetches_init(&q);
	a = sc_fetches_claim(&q, 0, 1, 0, &n);
	sc_fetches_release(&q, a); /* completed: 1 */
	/* The reader looked before that fetch ended: it may have the page. */
	assert_int_equal(sc_fetches_claim(&q, 0, 1, 0, &n), -1);
	/* Looked since: it claims. */
	assert_true(sc_fetches_claim(&q, 0, 1, 1, &n) >= 0);
	sc_fetches_destroy(&q);
}

struct waiter {
	struct sc_fetches *q;
	int slot;
};

static void *claim_covered(void *arg)
{
	struct waiter *w = arg;
	unsigned n;

	w->slot = sc_fetches_claim(w->q, 3, 1, 0, &n);
	return NULL;
}

static void test_fetches_a_covered_cluster_waits_for_its_fetch(void **state)
{
	struct sc_fetches q = { 0 };
	struct waiter w = { .q = &q, .slot = 99 };
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	pthread_t t;
	unsigned n;
	int a;

	(void)state;
	sc_fetches_init(&q);
	a = sc_fetches_claim(&q, 0, 8, 0, &n);
	assert_int_equal(pthread_create(&t, NULL, claim_covered, &w), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(w.slot, 99); /* still waiting on [0, 8) */
	sc_fetches_release(&q, a);
	pthread_join(t, NULL);
	assert_int_equal(w.slot, -1); /* look again: the fetch brought it */
	sc_fetches_destroy(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_fetches_claims_are_cut_where_another_begins),
		cmocka_unit_test(
			test_fetches_a_fetch_ended_since_the_look_means_look_again),
		cmocka_unit_test(
			test_fetches_a_covered_cluster_waits_for_its_fetch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
