// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the value parsers in src/parse.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parse.h"

#define TB 1000000000000ULL
#define YEAR (365ULL * 86400)

static void test_size_plain_and_suffixes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(sc_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sc_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(sc_parse_size("64K", &v), 0);
	assert_int_equal(v, 64 * 1024);
	assert_int_equal(sc_parse_size("10m", &v), 0);
	assert_int_equal(v, 10ULL << 20);
	assert_int_equal(sc_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(sc_parse_size("1T", &v), 0);
	assert_int_equal(v, 1ULL << 40);
	assert_int_equal(sc_parse_size("3GiB", &v), 0);
	assert_int_equal(v, 3ULL << 30);
	assert_int_equal(sc_parse_size("5kb", &v), 0);
	assert_int_equal(v, 5 * 1024);
	assert_int_equal(sc_parse_size("7B", &v), 0);
	assert_int_equal(v, 7);
}

static void test_size_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"",   "-1",  " 1",  "1 ",  "0x10", "1.5G",  "G",
		"1X", "1GG", "1Gx", "1iB", "+5",   "1,000",
	};
	uint64_t v = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sc_parse_size(bad[i], &v), -EINVAL);
		assert_int_equal(v, 12345); /* untouched on error */
	}
	assert_int_equal(sc_parse_size(NULL, &v), -EINVAL);
}

static void test_size_overflow_is_erange(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(sc_parse_size("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(sc_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(sc_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(sc_parse_size("16777215T", &v), 0);
}

static void test_rate_accepts_per_second(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(sc_parse_rate("100K/s", &v), 0);
	assert_int_equal(v, 100 * 1024);
	assert_int_equal(sc_parse_rate("2M", &v), 0);
	assert_int_equal(v, 2 << 20);
	assert_int_equal(sc_parse_rate("/s", &v), -EINVAL);
	assert_int_equal(sc_parse_rate("2M/h", &v), -EINVAL);
}

static void test_seconds_decimal(void **state)
{
	uint64_t ns;

	(void)state;
	assert_int_equal(sc_parse_seconds("1", &ns), 0);
	assert_int_equal(ns, 1000000000ULL);
	assert_int_equal(sc_parse_seconds("0.5", &ns), 0);
	assert_int_equal(ns, 500000000ULL);
	assert_int_equal(sc_parse_seconds("60.125", &ns), 0);
	assert_int_equal(ns, 60125000000ULL);
	assert_int_equal(sc_parse_seconds("0", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(sc_parse_seconds("-1", &ns), -EINVAL);
	assert_int_equal(sc_parse_seconds("1.", &ns), -EINVAL);
	assert_int_equal(sc_parse_seconds(".5", &ns), -EINVAL);
	assert_int_equal(sc_parse_seconds("1s", &ns), -EINVAL);
	assert_int_equal(sc_parse_seconds("99999999", &ns), -ERANGE);
}

static void test_bool_words(void **state)
{
	bool b = false;

	(void)state;
	assert_int_equal(sc_parse_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(sc_parse_bool("0", &b), 0);
	assert_false(b);
	assert_int_equal(sc_parse_bool("ON", &b), 0);
	assert_true(b);
	assert_int_equal(sc_parse_bool("2", &b), -EINVAL);
	assert_int_equal(sc_parse_bool("", &b), -EINVAL);
}

static void test_uint_bounds(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(sc_parse_uint("75", 0, 100, &v), 0);
	assert_int_equal(v, 75);
	assert_int_equal(sc_parse_uint("101", 0, 100, &v), -ERANGE);
	assert_int_equal(sc_parse_uint("0", 1, 100, &v), -ERANGE);
	assert_int_equal(sc_parse_uint("5%", 0, 100, &v), -EINVAL);
}

static void test_endurance_and_lifetime(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(sc_parse_endurance("600T", &v), 0);
	assert_int_equal(v, 600 * TB);
	assert_int_equal(sc_parse_endurance("1.2P", &v), 0);
	assert_int_equal(v, 1200 * TB);
	assert_int_equal(sc_parse_endurance("600t", &v), 0);
	assert_int_equal(sc_parse_endurance("5000000", &v), 0);
	assert_int_equal(v, 5000000);
	assert_int_equal(sc_parse_lifetime("5y", &v), 0);
	assert_int_equal(v, 5 * YEAR);
	assert_int_equal(sc_parse_lifetime("90d", &v), 0);
	assert_int_equal(v, 90 * 86400);
	assert_int_equal(sc_parse_lifetime("36h", &v), 0);
	assert_int_equal(v, 36 * 3600);
	assert_int_equal(sc_parse_lifetime("2w", &v), 0);
	assert_int_equal(v, 14 * 86400);
	v = 7;
	const char *bad[] = { "",    "T",   "600TB", "6x",  "1e3", "0x10",
			      "inf", "-5y", "1..2y", "5 y", "5yy", NULL };
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(sc_parse_endurance(bad[i], &v), -EINVAL);
		assert_int_equal(sc_parse_lifetime(bad[i], &v), -EINVAL);
	}
	assert_int_equal(v, 7);
	assert_int_equal(sc_parse_endurance("2000P", &v), -ERANGE);
	assert_int_equal(sc_parse_lifetime("101y", &v), -ERANGE);
	assert_int_equal(sc_parse_endurance(NULL, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain_and_suffixes),
		cmocka_unit_test(test_size_rejects_malformed),
		cmocka_unit_test(test_size_overflow_is_erange),
		cmocka_unit_test(test_rate_accepts_per_second),
		cmocka_unit_test(test_seconds_decimal),
		cmocka_unit_test(test_bool_words),
		cmocka_unit_test(test_uint_bounds),
		cmocka_unit_test(test_endurance_and_lifetime),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
