// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the wear budget: the accrate a drive can afford, the days
 * it has left, and the parsers of endurance and lifetime.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tunables.h"
#include "wear.h"

#define TB 1000000000000ULL
#define YEAR (365ULL * 86400)

static void test_accrate_spends_what_is_left_over_the_lifetime(void **state)
{
	(void)state;
	/* 600 TBW over 5 years, new: 3.8 MB/s. */
	assert_int_equal(sc_wear_accrate(600 * TB, 0, 5 * YEAR, 4096),
			 600 * TB / (5 * YEAR));
	assert_int_equal(sc_wear_accrate(600 * TB, 0, 5 * YEAR, 4096), 3805175);
	/* Half worn: half the rate for the same lifetime. */
	assert_int_equal(sc_wear_accrate(600 * TB, 300 * TB, 5 * YEAR, 4096),
			 300 * TB / (5 * YEAR));
	/* Worn out, or past its rating: the floor, never zero. */
	assert_int_equal(sc_wear_accrate(600 * TB, 600 * TB, YEAR, 4096), 4096);
	assert_int_equal(sc_wear_accrate(600 * TB, 900 * TB, YEAR, 4096), 4096);
	assert_int_equal(sc_wear_accrate(600 * TB, 0, 0, 4096), 4096);
}

static void test_days_left(void **state)
{
	(void)state;
	/* 100 TB left at 1 MB/s: 1157 days. */
	assert_int_equal((int)sc_wear_days_left(600 * TB, 500 * TB, 1e6, 0, 0),
			 1157);
	assert_true(sc_wear_days_left(600 * TB, 600 * TB, 1e6, 0, 0) == 0);
	assert_true(sc_wear_days_left(600 * TB, 0, 0, 0, 0) < 0);
	/* No rating: the drive's own percentage used over its hours. */
	assert_int_equal((int)sc_wear_days_left(0, 0, 0, 10, 8760), 3285);
	assert_true(sc_wear_days_left(0, 0, 0, 0, 8760) < 0);
	assert_true(sc_wear_days_left(0, 0, 0, 100, 8760) == 0);
}

static void test_tunables_take_them(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(sc_tunable_parse(SC_T_ENDURANCE, "600T", &v), 0);
	assert_int_equal(v, (int64_t)(600 * TB));
	assert_int_equal(sc_tunable_parse(SC_T_LIFETIME, "5y", &v), 0);
	assert_int_equal(v, (int64_t)(5 * YEAR));
	assert_int_equal(sc_tunable_parse(SC_T_LIFETIME, "forever", &v),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_accrate_spends_what_is_left_over_the_lifetime),
		cmocka_unit_test(test_days_left),
		cmocka_unit_test(test_tunables_take_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
