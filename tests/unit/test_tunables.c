// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the tunables table: names, defaults, parsing, ranges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tunables.h"

static void test_names_and_defaults_follow_dragonfly(void **state)
{
	struct sc_tunables t;

	(void)state;
	sc_tunables_init(&t);
	assert_int_equal(sc_tunable_lookup("maxswappct"), SC_T_MAXSWAPPCT);
	assert_int_equal(sc_tunable_lookup("cleanperobj"), SC_T_CLEANPEROBJ);
	assert_int_equal(sc_tunable_lookup("stats"), -ENOENT);
	assert_int_equal(sc_tunable_get(&t, SC_T_MAXSWAPPCT), 75);
	assert_int_equal(sc_tunable_get(&t, SC_T_CURBURST), 4ll << 30);
	assert_int_equal(sc_tunable_get(&t, SC_T_MAXBURST), 2ll << 30);
	assert_int_equal(sc_tunable_get(&t, SC_T_MINBURST), 10ll << 20);
	assert_int_equal(sc_tunable_get(&t, SC_T_CLEANPEROBJ), 16ll << 20);
	assert_int_equal(sc_tunable_get(&t, SC_T_MIN_HYSTERESIS), 1024);
	assert_int_equal(sc_tunable_get(&t, SC_T_MAXFILESIZE), 0);
	assert_int_equal(sc_tunable_get(&t, SC_T_READ_ENABLE), 1);
	assert_int_equal(sc_tunable_get(&t, SC_T_META_TIMEOUT), 60);
	assert_int_equal(sc_tunable_get(&t, SC_T_READ_POLL_US), 200);
	assert_int_equal(sc_tunable_lookup("meta_timeout"), SC_T_META_TIMEOUT);
	assert_int_equal(atomic_load(&t.curburst_request), -1);
}

static void test_parse_by_kind_and_range(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(sc_tunable_parse(SC_T_ACCRATE, "2M", &v), 0);
	assert_int_equal(v, 2 << 20);
	assert_int_equal(sc_tunable_parse(SC_T_ACCRATE, "100K/s", &v), 0);
	assert_int_equal(v, 100 << 10);
	assert_int_equal(sc_tunable_parse(SC_T_ACCRATE, "1", &v), -ERANGE);
	assert_int_equal(sc_tunable_parse(SC_T_MAXBURST, "4G", &v), 0);
	assert_int_equal(sc_tunable_parse(SC_T_DATA_ENABLE, "0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sc_tunable_parse(SC_T_DATA_ENABLE, "2", &v), -EINVAL);
	assert_int_equal(sc_tunable_parse(SC_T_MAXSWAPPCT, "101", &v), -ERANGE);
	assert_int_equal(sc_tunable_parse(SC_T_MAXSWAPPCT, "5", &v), -ERANGE);
	assert_int_equal(sc_tunable_parse(SC_T_MAXSWAPPCT, "50%", &v), -EINVAL);
	assert_int_equal(sc_tunable_parse(SC_T_MAXSCAN, "-3", &v), -EINVAL);
	assert_int_equal(sc_tunable_parse(SC_T_META_TIMEOUT, "0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sc_tunable_parse(SC_T_META_TIMEOUT, "3600", &v), 0);
	assert_int_equal(v, 3600);
	assert_int_equal(sc_tunable_parse(SC_T_META_TIMEOUT, "1e9", &v),
			 -EINVAL);
	assert_int_equal(sc_tunable_parse(SC_T_META_TIMEOUT, "99999999", &v),
			 -ERANGE);
	assert_int_equal(sc_tunable_parse(SC_T_READ_POLL_US, "0", &v), 0);
	assert_int_equal(sc_tunable_parse(SC_T_READ_POLL_US, "10000", &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(sc_tunable_parse(SC_T_READ_POLL_US, "10001", &v),
			 -ERANGE);
}

/* A refused value leaves the output alone (fuzzing found a bool that did not). */
static void test_refused_value_leaves_output_untouched(void **state)
{
	int64_t v = 12345;

	(void)state;
	assert_true(sc_tunable_parse(SC_T_READ_ENABLE, "maybe", &v) < 0);
	assert_int_equal(v, 12345);
	assert_true(sc_tunable_parse(SC_T_READ_ENABLE, "on", &v) == 0);
	assert_int_equal(v, 1);
}

static void test_setting_curburst_posts_to_the_scanner(void **state)
{
	struct sc_tunables t;

	(void)state;
	sc_tunables_init(&t);
	sc_tunable_set(&t, SC_T_ACCRATE, 12345);
	assert_int_equal(atomic_load(&t.curburst_request), -1);
	sc_tunable_set(&t, SC_T_CURBURST, 777);
	assert_int_equal(sc_tunable_get(&t, SC_T_CURBURST), 777);
	assert_int_equal(atomic_load(&t.curburst_request), 777);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_defaults_follow_dragonfly),
		cmocka_unit_test(test_parse_by_kind_and_range),
		cmocka_unit_test(test_refused_value_leaves_output_untouched),
		cmocka_unit_test(test_setting_curburst_posts_to_the_scanner),
	};

	return cmocka_run_group_tests_name("tunables", tests, NULL, NULL);
}
