// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the hold a worker keeps on its request while it writes
 * its reply where the watchdog's answer would go (a FUSE over io_uring
 * entry's payload): against the real watchdog thread, with a deadline of
 * a millisecond, so that every request not held is past it at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "clock.h"
#include "deadline.h"
#include "fs.h"

static struct sc_fs *fs;

/* Long enough for the watchdog (every 250 ms) to look twice. */
static void watchdog_looks(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 600000000 };

	nanosleep(&ts, NULL);
}

static bool never(struct sc_fs *unused)
{
	(void)unused;
	return false;
}

static int start(void **state)
{
	(void)state;
	fs = calloc(1, sizeof(*fs)); /* no session: nothing to end */
	assert_non_null(fs);
	return sc_deadline_start(fs, 1000000, never);
}

static int stop(void **state)
{
	(void)state;
	sc_deadline_stop();
	free(fs);
	return 0;
}

/* A held request is passed by: its worker answers it, however late. */
static void test_held_request_is_not_answered_by_the_watchdog(void **state)
{
	uint64_t expired = sc_deadline_expired();

	(void)state;
	assert_true(sc_deadline_begin(NULL));
	assert_true(sc_deadline_hold());
	watchdog_looks();
	assert_int_equal(sc_deadline_expired(), expired);
	assert_int_equal(sc_deadline_stuck(), 0);
	assert_true(sc_deadline_wait_end()); /* no wait: still held */
	assert_true(sc_deadline_own_reply());
}

/*
 * A wait on BACKING lets go: the watchdog answers, and from then on the
 * worker may write nothing (wait_end and hold say so until the next
 * request), and its reply is dropped.
 */
static void test_wait_lets_the_watchdog_answer_and_the_loss_sticks(void **state)
{
	(void)state;
	assert_true(sc_deadline_begin(NULL));
	assert_true(sc_deadline_hold());
	sc_deadline_wait_begin();
	watchdog_looks();
	assert_true(sc_deadline_stuck() >= 1);
	assert_false(sc_deadline_wait_end());
	assert_false(sc_deadline_hold());
	assert_false(sc_deadline_wait_end());
	sc_deadline_wait_begin();
	assert_false(sc_deadline_wait_end());
	assert_false(sc_deadline_own_reply());
	/* The next request starts afresh. */
	assert_true(sc_deadline_begin(NULL));
	assert_true(sc_deadline_hold());
	assert_true(sc_deadline_own_reply());
}

/* A released hold is a plain deadline again. */
static void test_released_request_expires(void **state)
{
	(void)state;
	assert_true(sc_deadline_begin(NULL));
	assert_true(sc_deadline_hold());
	sc_deadline_release();
	watchdog_looks();
	assert_false(sc_deadline_own_reply());
}

/* Without a hold, a wait changes nothing: the deadline runs throughout. */
static void test_wait_without_hold_is_a_no_op(void **state)
{
	(void)state;
	assert_true(sc_deadline_begin(NULL));
	sc_deadline_wait_begin();
	assert_true(sc_deadline_wait_end());
	assert_true(sc_deadline_own_reply());
	/* An exempt request has nothing to hold: a hold is had at once. */
	assert_true(sc_deadline_begin(NULL));
	sc_deadline_exempt();
	assert_true(sc_deadline_hold());
	watchdog_looks();
	assert_true(sc_deadline_own_reply());
}

/*
 * The watchdog takes the time once per look, then reads each request's
 * start: one begun after that (the look preempted under load) is young.
 * Taken as now minus start, it was 2^64 ns old and answered ETIMEDOUT at
 * once (seen under ThreadSanitizer with a busy CPU, 25 s into a mount
 * with backing_timeout=60).
 */
static void test_a_request_begun_after_the_look_began_is_young(void **state)
{
	uint64_t now = sc_monotonic_coarse_ns();

	(void)state;
	assert_int_equal(sc_elapsed_ns(now + 4000000, now), 0);
	assert_int_equal(sc_elapsed_ns(now, now), 0);
	assert_int_equal(sc_elapsed_ns(now - 5, now), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_held_request_is_not_answered_by_the_watchdog),
		cmocka_unit_test(
			test_wait_lets_the_watchdog_answer_and_the_loss_sticks),
		cmocka_unit_test(test_released_request_expires),
		cmocka_unit_test(test_wait_without_hold_is_a_no_op),
		cmocka_unit_test(
			test_a_request_begun_after_the_look_began_is_young),
	};

	return cmocka_run_group_tests(tests, start, stop);
}
