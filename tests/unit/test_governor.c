// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the swapcached governor, driven through simulated hours
 * with a simulated clock and an eager writer that always has pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "governor.h"

#define NS 1000000000ULL
#define TICK (NS / 10)
#define CLUSTER 65536ULL
#define MIB (1ull << 20)

static const struct sc_governor_config base = {
	.accrate_bytes = 1 * MIB,
	.maxburst_bytes = 64 * MIB,
	.minburst_bytes = 10 * MIB,
	.maxswappct = 75,
	.min_hysteresis_pages = 1024,
};

/*
 * A writing pass as the scanner takes it: clusters while the budget
 * allows, at most max_clusters.  Returns bytes written.
 */
static uint64_t eager_pass(struct sc_governor *g, unsigned max_clusters)
{
	uint64_t wrote = 0;

	for (unsigned i = 0; i < max_clusters && sc_governor_may_write(g);
	     i++) {
		sc_governor_charge(g, CLUSTER);
		wrote += CLUSTER;
	}
	sc_governor_pass_done(g, false);
	return wrote;
}

static void test_budget_never_exceeded_over_any_window(void **state)
{
	const uint64_t ticks = 3600 * 10;  /* one simulated hour */
	const int64_t initial = 200 * MIB; /* above maxburst: initial load */
	uint64_t *written = calloc(ticks + 1, sizeof(*written));
	struct sc_governor g;
	uint64_t total = 0;

	(void)state;
	sc_governor_init(&g, initial, 0);
	for (uint64_t t = 1; t <= ticks; t++) {
		uint64_t adds = 100000; /* plenty of new pages */

		if (sc_governor_tick(&g, &base, t * TICK, 0, 1ull << 40, 0,
				     &adds) == SC_TICK_WRITE)
			total += eager_pass(&g, 4096);
		written[t] = total;
	}
	/* From the start: the initial budget plus the refill. */
	assert_true(total <=
		    (uint64_t)initial + base.accrate_bytes * 3600 + CLUSTER);
	/* Most of it was used: the writer is eager. */
	assert_true(total >= (uint64_t)base.accrate_bytes * 3000);
	/* Over any window later on: maxburst plus the refill of the window. */
	for (uint64_t a = 2000; a < ticks; a += 37)
		for (uint64_t len = 1; a + len <= ticks; len = len * 3 + 1) {
			uint64_t w = written[a + len] - written[a];
			uint64_t allowed = (uint64_t)base.maxburst_bytes +
					   base.accrate_bytes * len / 10 +
					   CLUSTER;

			assert_true(w <= allowed);
		}
	free(written);
}

static void test_exhausted_waits_for_minburst(void **state)
{
	struct sc_governor g;
	uint64_t t = 0, adds;

	(void)state;
	sc_governor_init(&g, 20 * MIB, 0);
	adds = 100000;
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 0, 1ull << 40,
					  0, &adds),
			 SC_TICK_WRITE);
	eager_pass(&g, 100000); /* spends it all */
	assert_int_equal(g.burst, SC_BURST_RECOVERING);
	/* Nothing is written until the budget is back above 10 MiB. */
	for (;;) {
		adds = 100000;
		enum sc_tick_action a = sc_governor_tick(
			&g, &base, t += TICK, 0, 1ull << 40, 0, &adds);

		if (a == SC_TICK_WRITE)
			break;
		assert_int_equal(a, SC_TICK_IDLE);
		assert_true(t < 60 * NS);
	}
	assert_true(g.curburst_bytes > base.minburst_bytes);
	assert_int_equal(g.burst, SC_BURST_BURSTING);
	/* Refilled at 1 MiB/s from about zero: about ten seconds. */
	assert_true(t >= 9 * NS && t <= 12 * NS);
}

static void test_no_pass_below_a_seconds_budget(void **state)
{
	struct sc_governor g;
	uint64_t adds = 100000;

	(void)state;
	sc_governor_init(&g, 512 * 1024, 0); /* half of accrate */
	assert_int_equal(sc_governor_tick(&g, &base, TICK, 0, 1ull << 40, 0,
					  &adds),
			 SC_TICK_IDLE);
	assert_int_equal(adds, 100000); /* the heuristic did not consume */
}

static void test_cleaning_hysteresis(void **state)
{
	const uint64_t size = 1000 * MIB;
	struct sc_governor g;
	uint64_t adds = 0, t = 0;

	(void)state;
	sc_governor_init(&g, 0, 0);
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 750 * MIB, size,
					  0, &adds),
			 SC_TICK_IDLE); /* 75% exactly: still writing */
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 751 * MIB, size,
					  0, &adds),
			 SC_TICK_CLEAN);
	assert_int_equal(g.state, SC_SCAN_CLEANING);
	/* Cleaning until below 65%. */
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 700 * MIB, size,
					  0, &adds),
			 SC_TICK_CLEAN);
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 650 * MIB, size,
					  0, &adds),
			 SC_TICK_CLEAN);
	assert_int_not_equal(sc_governor_tick(&g, &base, t += TICK, 649 * MIB,
					      size, 0, &adds),
			     SC_TICK_CLEAN);
	assert_int_equal(g.state, SC_SCAN_WRITING);
	/* The budget kept accumulating while cleaning. */
	assert_true(g.curburst_bytes >= (int64_t)(base.accrate_bytes / 2));
}

static void test_heuristic_waits_for_enough_new_pages(void **state)
{
	struct sc_governor g;
	uint64_t adds, t = 0;

	(void)state;
	sc_governor_init(&g, 100 * MIB, 0);
	g.wtrigger = -1024; /* as after a pass that reached the end */
	adds = 500;
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 0, 1ull << 40,
					  0, &adds),
			 SC_TICK_IDLE);
	assert_int_equal(adds, 0);
	adds = 600; /* 1100 >= 1024 */
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 0, 1ull << 40,
					  0, &adds),
			 SC_TICK_WRITE);
	sc_governor_pass_done(&g, true); /* reached the end: reset */
	assert_int_equal(g.wtrigger, -1024);
	/*
	 * A large inactive queue raises the bar to a quarter of it, from the
	 * next reset on (as in the reference: the trigger is reset to the
	 * hysteresis computed at the last look).
	 */
	adds = 1100;
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 0, 1ull << 40,
					  40000, &adds),
			 SC_TICK_WRITE);
	assert_int_equal(g.hysteresis_pages, 10000);
	sc_governor_pass_done(&g, true);
	assert_int_equal(g.wtrigger, -10000);
	adds = 1100;
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 0, 1ull << 40,
					  40000, &adds),
			 SC_TICK_IDLE);
	adds = 9000;
	assert_int_equal(sc_governor_tick(&g, &base, t += TICK, 0, 1ull << 40,
					  40000, &adds),
			 SC_TICK_WRITE);
}

/* One tick at *t (advanced by a tick) with adds new pages. */
static enum sc_tick_action tick_adding(struct sc_governor *g, uint64_t *t,
				       uint64_t adds)
{
	*t += TICK;
	return sc_governor_tick(g, &base, *t, 0, 1ull << 40, 0, &adds);
}

static void test_tail_of_a_burst_written_once_quiet(void **state)
{
	struct sc_governor g;
	uint64_t t = 0;

	(void)state;
	sc_governor_init(&g, 100 * MIB, 0);
	g.wtrigger = -1024; /* as after a pass that reached the end */
	/* A trickle, one page a tick for 5 s: never a pass for it. */
	for (int i = 0; i < 50; i++)
		assert_int_equal(tick_adding(&g, &t, 1), SC_TICK_IDLE);
	/* Quiet: a second after the last page came, the tail is written. */
	for (int i = 0; i < 9; i++)
		assert_int_equal(tick_adding(&g, &t, 0), SC_TICK_IDLE);
	assert_int_equal(tick_adding(&g, &t, 0), SC_TICK_WRITE);
	/* Once: the pass reached the end, and nothing came since. */
	sc_governor_pass_done(&g, true);
	for (int i = 0; i < 30; i++)
		assert_int_equal(tick_adding(&g, &t, 0), SC_TICK_IDLE);
	/* A pass that stopped short (maxscan) is taken again next tick. */
	assert_int_equal(tick_adding(&g, &t, 5), SC_TICK_IDLE);
	for (int i = 0; i < 9; i++)
		assert_int_equal(tick_adding(&g, &t, 0), SC_TICK_IDLE);
	assert_int_equal(tick_adding(&g, &t, 0), SC_TICK_WRITE);
	sc_governor_pass_done(&g, false);
	assert_int_equal(tick_adding(&g, &t, 0), SC_TICK_WRITE);
}

static void test_user_curburst_above_maxburst_is_kept(void **state)
{
	struct sc_governor g;
	uint64_t adds = 0;

	(void)state;
	sc_governor_init(&g, 4096 * MIB, 0);
	sc_governor_tick(&g, &base, 100 * NS, 0, 1ull << 40, 0, &adds);
	assert_int_equal(g.curburst_bytes, 4096 * MIB); /* not cut to 64 MiB */
	sc_governor_charge(&g, 4090 * MIB);
	sc_governor_tick(&g, &base, 200 * NS, 0, 1ull << 40, 0, &adds);
	assert_int_equal(g.curburst_bytes, 64 * MIB); /* refill caps */
}

static void test_refill_is_exact_for_late_ticks(void **state)
{
	struct sc_governor g;
	struct sc_governor_config c = base;
	uint64_t adds = 0;

	(void)state;
	c.accrate_bytes = 100000; /* DragonFly's 100K/s */
	c.maxburst_bytes = 1ll << 40;
	sc_governor_init(&g, 0, 0);
	/* 3 ticks of 1/3 s: no byte lost to rounding. */
	sc_governor_tick(&g, &c, NS / 3, 0, 1ull << 40, 0, &adds);
	sc_governor_tick(&g, &c, 2 * NS / 3, 0, 1ull << 40, 0, &adds);
	sc_governor_tick(&g, &c, NS, 0, 1ull << 40, 0, &adds);
	assert_int_equal(g.curburst_bytes, 100000);
	sc_governor_tick(&g, &c, NS + 3600 * NS, 0, 1ull << 40, 0, &adds);
	assert_int_equal(g.curburst_bytes, 100000 + 360000000LL);
}

static void test_interval_10hz_or_5s(void **state)
{
	(void)state;
	assert_int_equal(sc_governor_interval_ns(true, false, 0, 1 << 30, 75),
			 NS / 10);
	assert_int_equal(sc_governor_interval_ns(false, true, 0, 1 << 30, 75),
			 NS / 10);
	assert_int_equal(sc_governor_interval_ns(false, false, 0, 1 << 30, 75),
			 5 * NS);
	/* Disabled but over the watermark: keep cleaning at 10 Hz. */
	assert_int_equal(sc_governor_interval_ns(false, false, 900, 1000, 75),
			 NS / 10);
	assert_int_equal(sc_governor_interval_ns(true, true, 0, 0, 75), 5 * NS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_never_exceeded_over_any_window),
		cmocka_unit_test(test_exhausted_waits_for_minburst),
		cmocka_unit_test(test_no_pass_below_a_seconds_budget),
		cmocka_unit_test(test_cleaning_hysteresis),
		cmocka_unit_test(test_heuristic_waits_for_enough_new_pages),
		cmocka_unit_test(test_tail_of_a_burst_written_once_quiet),
		cmocka_unit_test(test_user_curburst_above_maxburst_is_kept),
		cmocka_unit_test(test_refill_is_exact_for_late_ticks),
		cmocka_unit_test(test_interval_10hz_or_5s),
	};

	return cmocka_run_group_tests_name("governor", tests, NULL, NULL);
}
