// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The wear budget (see wear.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wear.h"

#define SECONDS_PER_DAY 86400.0

uint64_t sc_wear_accrate(uint64_t endurance, uint64_t written,
			 uint64_t lifetime_s, uint64_t min_rate)
{
	uint64_t left = endurance > written ? endurance - written : 0;
	uint64_t rate = lifetime_s ? left / lifetime_s : 0;

	return rate > min_rate ? rate : min_rate;
}

double sc_wear_days_left(uint64_t endurance, uint64_t written, double rate,
			 unsigned percent_used, uint64_t power_on_hours)
{
	if (endurance) {
		if (written >= endurance)
			return 0;
		if (rate <= 0)
			return -1;
		return (double)(endurance - written) / rate / SECONDS_PER_DAY;
	}
	if (percent_used == 0 || power_on_hours == 0)
		return -1;
	if (percent_used >= 100)
		return 0;
	return (double)power_on_hours * (100 - percent_used) / percent_used /
	       24.0;
}

/*
 * A decimal number ("5", "1.5") and one suffix from units, each worth the
 * matching multiplier (optional: none means 1); rounded down, at most max.
 * Only digits and a point: strtod alone would take "1e3", "0x10", "inf".
 */
static int parse_with_unit(const char *text, const char *units,
			   const double *multipliers, double max, uint64_t *ret)
{
	size_t n = text ? strspn(text, "0123456789.") : 0;
	const char *unit = NULL;
	char number[32];
	char *end;
	double v;

	if (n == 0 || n >= sizeof(number) || !isdigit((unsigned char)text[0]))
		return -EINVAL;
	if (text[n] != '\0') {
		unit = strchr(units, toupper((unsigned char)text[n]));
		if (!unit || text[n + 1] != '\0')
			return -EINVAL;
	}
	memcpy(number, text, n);
	number[n] = '\0';
	v = strtod(number, &end);
	if (*end != '\0')
		return -EINVAL; /* two points */
	if (unit)
		v *= multipliers[unit - units];
	if (v > max)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

int sc_parse_endurance(const char *text, uint64_t *ret_bytes)
{
	static const double m[] = { 1e3, 1e6, 1e9, 1e12, 1e15 };

	/* An exabyte written: beyond any drive, and far inside uint64_t. */
	return parse_with_unit(text, "KMGTP", m, 1e18, ret_bytes);
}

int sc_parse_lifetime(const char *text, uint64_t *ret_seconds)
{
	static const double m[] = { 3600, 86400, 7 * 86400.0, 365 * 86400.0 };

	return parse_with_unit(text, "HDWY", m, 100 * 365 * 86400.0,
			       ret_seconds);
}
