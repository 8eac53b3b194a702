// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The decoder of directory metadata records on any bytes.  The first
 * input byte can ask for the checksum to be made right, so the fuzzer
 * reaches the field checks behind it.
 *
 * Properties: nothing is read out of bounds; a record accepted holds
 * valid, distinct names, and encodes back to exactly the bytes it was
 * decoded from (a decoder that accepts what the encoder would never
 * write is a hole in the format's checks).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "le.h"
#include "metarec.h"

#define OBJECT 0x5eedULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_metarec r;
	unsigned char *buf, *again;

	if (size < 1 + SC_META_HEADER_BYTES)
		return 0;
	buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1) {
		/* A well-formed header round the fuzzed body. */
		memcpy(buf, SC_META_MAGIC, 8);
		sc_put_le(buf + 8, SC_META_VERSION, 4);
		sc_put_le(buf + 24, size - 1, 4);
		sc_put_le(buf + 40, OBJECT, 8);
		sc_put_le(buf + 28, sc_metarec_checksum(buf, size - 1), 4);
	}
	sc_metarec_init(&r);
	if (sc_metarec_decode(buf, size - 1, OBJECT, &r) == 0) {
		FUZZ_CHECK(sc_metarec_encoded_bytes(&r) == size - 1);
		for (uint32_t i = 0; i < r.n; i++)
			FUZZ_CHECK(sc_metarec_find(&r, r.entries[i].name) ==
				   &r.entries[i]);
		again = malloc(size - 1);
		FUZZ_CHECK(again != NULL);
		sc_metarec_encode(&r, OBJECT, again);
		FUZZ_CHECK(memcmp(again, buf, size - 1) == 0);
		free(again);
		sc_metarec_free(&r);
	}
	free(buf);
	return 0;
}
