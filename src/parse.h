/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsers for the values users type: sizes with K/M/G/T suffixes, rates,
 * durations, booleans and percentages, drive endurance and lifetimes.  Pure functions with no allocation,
 * shared by the mount options, the runtime xattrs and the tests.
 */
#ifndef SC_PARSE_H
#define SC_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * "4096", "64K", "10M", "2G", "1T" (binary multiples; an optional trailing
 * "B" or "iB" is accepted, case-insensitively).  Returns 0 or -EINVAL for
 * anything malformed, negative or empty, -ERANGE on overflow.
 */
int sc_parse_size(const char *text, uint64_t *ret_bytes);

/* A size per second: a size optionally followed by "/s". */
int sc_parse_rate(const char *text, uint64_t *ret_bytes_per_s);

/*
 * Seconds as a non-negative decimal ("1", "0.5", "60"), at most a year,
 * converted to nanoseconds.  -EINVAL or -ERANGE otherwise.
 */
int sc_parse_seconds(const char *text, uint64_t *ret_ns);

/* "0"/"1", "no"/"yes", "false"/"true", "off"/"on". */
int sc_parse_bool(const char *text, bool *ret_value);

/* An unsigned integer within [min, max], decimal only. */
int sc_parse_uint(const char *text, uint64_t min, uint64_t max,
		  uint64_t *ret_value);

/*
 * "600T" (decimal multiples, as drives are rated: 600 TB written), "1.2P".
 * 0, -EINVAL or -ERANGE.
 */
int sc_parse_endurance(const char *text, uint64_t *ret_bytes);

/* "5y", "18w", "90d", "36h" or plain seconds.  0, -EINVAL or -ERANGE. */
int sc_parse_lifetime(const char *text, uint64_t *ret_seconds);

#endif
