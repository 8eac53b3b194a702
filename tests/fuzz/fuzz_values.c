// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The value parsers: sizes, rates, durations, booleans and numbers as
 * given in mount options and in user.swapcache.* xattr values, and every
 * tunable's own parser, on any string.
 *
 * Properties: nothing is read past the string; a failure leaves the
 * output untouched; a size that parses prints back (in bytes) to the
 * same value.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"
#include "tunables.h"

#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256], printed[32];
	uint64_t v = UNTOUCHED, again;
	int64_t t;
	bool b;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';

	if (sc_parse_size(text, &v) == 0) {
		snprintf(printed, sizeof(printed), "%" PRIu64, v);
		FUZZ_CHECK(sc_parse_size(printed, &again) == 0 && again == v);
	} else {
		FUZZ_CHECK(v == UNTOUCHED);
	}
	v = UNTOUCHED;
	if (sc_parse_rate(text, &v) < 0)
		FUZZ_CHECK(v == UNTOUCHED);
	v = UNTOUCHED;
	if (sc_parse_seconds(text, &v) < 0)
		FUZZ_CHECK(v == UNTOUCHED);
	v = UNTOUCHED;
	if (sc_parse_uint(text, 0, 1000, &v) == 0)
		FUZZ_CHECK(v <= 1000);
	else
		FUZZ_CHECK(v == UNTOUCHED);
	sc_parse_bool(text, &b);
	sc_tunable_lookup(text);
	for (int id = 0; id < SC_T_COUNT; id++) {
		t = (int64_t)UNTOUCHED;
		if (sc_tunable_parse(id, text, &t) < 0)
			FUZZ_CHECK(t == (int64_t)UNTOUCHED);
	}
	return 0;
}
