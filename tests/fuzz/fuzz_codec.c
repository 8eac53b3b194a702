// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The decoders of the on-device format (superblocks, slot records, slot
 * trailers, packed slots' member tables) on any bytes.  Random bytes almost never carry a valid CRC,
 * so the first input byte can ask for the CRCs to be made right: the
 * fuzzer then reaches the field checks behind them.
 *
 * Properties: nothing is read out of bounds; a superblock accepted
 * describes a layout that fits its device; whatever is accepted encodes
 * back to the same bytes (a decoder that accepts what the encoder would
 * never write is a hole in the format's checks).
 */
#include <string.h>

#include "checksum.h"
#include "codec.h"
#include "fuzz.h"
#include "le.h"

#define CRC_AT (SC_SB_BYTES - 4) /* superblock and trailer alike */

static void fix_crc(unsigned char *b, size_t crc_at)
{
	sc_put_le(b + crc_at, sc_crc32c(0, b, crc_at), 4);
}

static void check_superblocks(const unsigned char *buf)
{
	struct sc_superblock sb, again_sb;
	unsigned char again[SC_SB_BYTES];

	if (sc_sb_pick(buf, &sb) != SC_SB_OK)
		return;
	FUZZ_CHECK(sb.index_offset >= SC_INDEX_OFFSET);
	FUZZ_CHECK(sb.index_bytes >= sb.nslots * SC_RECORD_BYTES);
	FUZZ_CHECK(sb.index_offset + sb.index_bytes <= sb.trailer_offset);
	FUZZ_CHECK(sb.trailer_offset + sb.nslots * SC_TRAILER_BYTES <=
		   sb.data_offset);
	FUZZ_CHECK(sb.data_offset % SC_CLUSTER_BYTES == 0);
	FUZZ_CHECK(sb.nslots > 0 && sb.nslots <= UINT32_MAX);
	FUZZ_CHECK(sb.data_offset + sb.nslots * SC_CLUSTER_BYTES <=
		   sb.device_bytes);
	FUZZ_CHECK(sb.data_offset < sb.device_bytes);
	sc_sb_encode(&sb, again);
	FUZZ_CHECK(sc_sb_decode(again, &again_sb) == SC_SB_OK);
	FUZZ_CHECK(memcmp(&sb, &again_sb, sizeof(sb)) == 0);
}

static void check_records(unsigned char *buf, size_t n, bool fix,
			  uint64_t format_id)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char *b = buf + i * SC_RECORD_BYTES;
		unsigned char again[SC_RECORD_BYTES];
		struct sc_record rec;

		if (fix)
			fix_crc(b, SC_RECORD_BYTES - 4);
		if (sc_record_decode(b, i, format_id, &rec) != SC_RECORD_VALID)
			continue;
		FUZZ_CHECK(rec.slot == i && rec.format_id == format_id);
		FUZZ_CHECK((rec.valid_mask != 0) !=
			   !!(rec.flags & SC_RECORD_PACKED));
		sc_record_encode(&rec, again);
		FUZZ_CHECK(memcmp(again, b, SC_RECORD_BYTES) == 0);
	}
}

static void check_trailer(const unsigned char *b)
{
	unsigned char again[SC_TRAILER_BYTES];
	struct sc_trailer t;

	if (sc_trailer_decode(b, &t) < 0)
		return;
	sc_trailer_encode(&t, again);
	FUZZ_CHECK(memcmp(again, b, SC_TRAILER_BYTES) == 0);
}

static void check_pack_table(const unsigned char *b)
{
	unsigned char again[SC_TRAILER_BYTES] = { 0 };
	uint64_t format_id = sc_get_le(b + 8, 8);
	uint32_t slot = (uint32_t)sc_get_le(b + 16, 4), n;

	if (sc_pack_decode_header(b, format_id, slot, &n) < 0)
		return;
	FUZZ_CHECK(n <= SC_PACK_MAX_MEMBERS);
	sc_pack_encode_header(format_id, slot, n, again);
	for (uint32_t i = 0; i < n; i++) {
		struct sc_pack_entry e;

		if (sc_pack_decode_entry(b, i, &e) < 0)
			continue;
		FUZZ_CHECK(e.offset + e.length <= SC_CLUSTER_BYTES);
		FUZZ_CHECK(e.length <= e.npages * SC_PAGE_BYTES);
		FUZZ_CHECK(e.first_page + e.npages <= SC_CLUSTER_PAGES);
		sc_pack_encode_entry(&e, again, i);
		FUZZ_CHECK(memcmp(again + SC_PACK_HEADER_BYTES +
					  i * SC_PACK_ENTRY_BYTES,
				  b + SC_PACK_HEADER_BYTES +
					  i * SC_PACK_ENTRY_BYTES,
				  SC_PACK_ENTRY_BYTES) == 0);
	}
	FUZZ_CHECK(memcmp(again, b, SC_PACK_HEADER_BYTES) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[SC_SB_COPIES * SC_SB_BYTES];
	bool fix;
	uint64_t format_id;

	if (size < 1)
		return 0;
	fix = data[0] & 1;
	data++;
	size--;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	if (fix)
		for (unsigned i = 0; i < SC_SB_COPIES; i++)
			fix_crc(buf + i * SC_SB_BYTES, CRC_AT);
	check_superblocks(buf);
	check_trailer(buf);
	check_pack_table(buf);
	/* Records: the format is the one the first record names. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	format_id = sc_get_le(buf + 40, 8);
	check_records(buf,
		      size / SC_RECORD_BYTES < 128 ? size / SC_RECORD_BYTES
						   : 128,
		      fix, format_id);
	return 0;
}
