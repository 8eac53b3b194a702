// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Value parsers.  strtoull() alone accepts "-1" (as a huge number), leading
 * blanks and "0x"; users who type those made a mistake, so every parser
 * here checks the characters itself before converting.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

#define NS_PER_S 1000000000ULL
#define MAX_SECONDS (366ULL * 24 * 3600)

/* Convert the leading decimal digits; *ret_end points past them. */
static int parse_digits(const char *text, uint64_t *ret_value,
			const char **ret_end)
{
	uint64_t value = 0;
	const char *p = text;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (value > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		value = value * 10 + digit;
	}
	*ret_value = value;
	*ret_end = p;
	return 0;
}

static int suffix_shift(const char *suffix, unsigned *ret_shift)
{
	static const char units[] = "KMGTP";
	const char *unit;

	if (*suffix == '\0' || strcasecmp(suffix, "B") == 0) {
		*ret_shift = 0;
		return 0;
	}
	unit = strchr(units, toupper((unsigned char)*suffix));
	if (!unit)
		return -EINVAL;
	suffix++;
	if (*suffix != '\0' && strcasecmp(suffix, "B") != 0 &&
	    strcasecmp(suffix, "iB") != 0)
		return -EINVAL;
	*ret_shift = 10 * (unsigned)(unit - units + 1);
	return 0;
}

int sc_parse_size(const char *text, uint64_t *ret_bytes)
{
	const char *end;
	uint64_t value;
	unsigned shift;
	int ret;

	if (!text)
		return -EINVAL;
	ret = parse_digits(text, &value, &end);
	if (ret < 0)
		return ret;
	ret = suffix_shift(end, &shift);
	if (ret < 0)
		return ret;
	if (shift && value > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret_bytes = value << shift;
	return 0;
}

int sc_parse_rate(const char *text, uint64_t *ret_bytes_per_s)
{
	char buf[64];
	size_t len;

	if (!text)
		return -EINVAL;
	len = strlen(text);
	if (len >= 2 && strcasecmp(text + len - 2, "/s") == 0) {
		if (len - 2 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, text, len - 2);
		buf[len - 2] = '\0';
		return sc_parse_size(buf, ret_bytes_per_s);
	}
	return sc_parse_size(text, ret_bytes_per_s);
}

int sc_parse_seconds(const char *text, uint64_t *ret_ns)
{
	uint64_t whole, frac_ns = 0, scale = NS_PER_S / 10;
	const char *p;
	int ret;

	if (!text)
		return -EINVAL;
	ret = parse_digits(text, &whole, &p);
	if (ret < 0)
		return ret;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			frac_ns += (uint64_t)(*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p != '\0')
		return -EINVAL;
	if (whole > MAX_SECONDS)
		return -ERANGE;
	*ret_ns = whole * NS_PER_S + frac_ns;
	return 0;
}

int sc_parse_bool(const char *text, bool *ret_value)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	if (!text)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*ret_value = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*ret_value = false;
			return 0;
		}
	}
	return -EINVAL;
}

int sc_parse_uint(const char *text, uint64_t min, uint64_t max,
		  uint64_t *ret_value)
{
	const char *end;
	uint64_t value;
	int ret;

	if (!text)
		return -EINVAL;
	ret = parse_digits(text, &value, &end);
	if (ret < 0)
		return ret;
	if (*end != '\0')
		return -EINVAL;
	if (value < min || value > max)
		return -ERANGE;
	*ret_value = value;
	return 0;
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
