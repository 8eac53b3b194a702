// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The byte-level codec of include/format.h.  Offsets here and in the
 * header's tables must agree; the unit tests decode hand-built bytes to
 * hold them to it.
 */
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "codec.h"
#include "le.h"

#define SB_CRC_AT (SC_SB_BYTES - 4)
#define RECORD_CRC_AT (SC_RECORD_BYTES - 4)

static void put(unsigned char *b, int at, uint64_t v, int bytes)
{
	sc_put_le(b + at, v, bytes);
}

static uint64_t get(const unsigned char *b, int at, int bytes)
{
	return sc_get_le(b + at, bytes);
}

void sc_sb_encode(const struct sc_superblock *sb, void *buf)
{
	unsigned char *b = buf;

	memset(b, 0, SC_SB_BYTES);
	memcpy(b, SC_FORMAT_MAGIC, 8);
	put(b, 8, sb->version, 4);
	put(b, 12, SC_SB_HEADER_BYTES, 4);
	put(b, 16, sb->sb_offset, 8);
	put(b, 24, sb->sequence, 8);
	memcpy(b + 32, sb->uuid, 16);
	put(b, 48, sb->hash_k0, 8);
	put(b, 56, sb->hash_k1, 8);
	put(b, 64, sb->page_bytes, 4);
	put(b, 68, sb->cluster_pages, 4);
	put(b, 72, sb->block_bytes, 4);
	put(b, 76, sb->record_bytes, 4);
	put(b, 80, sb->device_bytes, 8);
	put(b, 88, sb->index_offset, 8);
	put(b, 96, sb->index_bytes, 8);
	put(b, 104, sb->data_offset, 8);
	put(b, 112, sb->nslots, 8);
	put(b, 120, sb->clean, 4);
	put(b, 128, sb->format_ns, 8);
	put(b, 136, sb->mount_count, 8);
	put(b, 144, sb->write_bytes, 8);
	put(b, 152, sb->trailer_offset, 8);
	put(b, SB_CRC_AT, sc_crc32c(0, b, SB_CRC_AT), 4);
}

/* The layout a superblock claims must be the one its size implies. */
static bool geometry_consistent(const struct sc_superblock *sb)
{
	struct sc_superblock want;

	if (sc_geometry(sb->device_bytes, sb->block_bytes, &want) < 0)
		return false;
	return want.index_offset == sb->index_offset &&
	       want.index_bytes == sb->index_bytes &&
	       want.trailer_offset == sb->trailer_offset &&
	       want.data_offset == sb->data_offset && want.nslots == sb->nslots;
}

enum sc_sb_status sc_sb_decode(const void *buf, struct sc_superblock *ret_sb)
{
	const unsigned char *b = buf;
	struct sc_superblock sb;

	if (memcmp(b, SC_FORMAT_MAGIC, 8) != 0)
		return SC_SB_NOT_OURS;
	if (get(b, SB_CRC_AT, 4) != sc_crc32c(0, b, SB_CRC_AT))
		return SC_SB_CORRUPT;
	memset(&sb, 0, sizeof(sb));
	sb.version = (uint32_t)get(b, 8, 4);
	sb.sb_offset = get(b, 16, 8);
	sb.sequence = get(b, 24, 8);
	memcpy(sb.uuid, b + 32, 16);
	sb.hash_k0 = get(b, 48, 8);
	sb.hash_k1 = get(b, 56, 8);
	sb.page_bytes = (uint32_t)get(b, 64, 4);
	sb.cluster_pages = (uint32_t)get(b, 68, 4);
	sb.block_bytes = (uint32_t)get(b, 72, 4);
	sb.record_bytes = (uint32_t)get(b, 76, 4);
	sb.device_bytes = get(b, 80, 8);
	sb.index_offset = get(b, 88, 8);
	sb.index_bytes = get(b, 96, 8);
	sb.data_offset = get(b, 104, 8);
	sb.nslots = get(b, 112, 8);
	sb.clean = (uint32_t)get(b, 120, 4);
	sb.format_ns = get(b, 128, 8);
	sb.mount_count = get(b, 136, 8);
	sb.write_bytes = get(b, 144, 8);
	sb.trailer_offset = get(b, 152, 8);
	*ret_sb = sb;
	if (sb.version < SC_FORMAT_VERSION_OLDEST ||
	    sb.version > SC_FORMAT_VERSION || sb.page_bytes != SC_PAGE_BYTES ||
	    sb.cluster_pages != SC_CLUSTER_PAGES ||
	    sb.record_bytes != SC_RECORD_BYTES)
		return SC_SB_UNSUPPORTED;
	if (get(b, 12, 4) != SC_SB_HEADER_BYTES || sb.sb_offset % SC_SB_BYTES ||
	    sb.sb_offset >= SC_SB_COPIES * SC_SB_BYTES ||
	    !geometry_consistent(&sb))
		return SC_SB_CORRUPT;
	return SC_SB_OK;
}

enum sc_sb_status sc_sb_pick(const void *buf, struct sc_superblock *ret_sb)
{
	enum sc_sb_status best = SC_SB_NOT_OURS;
	bool found = false;

	for (unsigned i = 0; i < SC_SB_COPIES; i++) {
		const unsigned char *copy =
			(const unsigned char *)buf + i * SC_SB_BYTES;
		struct sc_superblock sb;
		enum sc_sb_status st = sc_sb_decode(copy, &sb);

		/* A copy found at the wrong place is not this device's. */
		if (st == SC_SB_OK && sb.sb_offset != i * SC_SB_BYTES)
			st = SC_SB_CORRUPT;
		if (st == SC_SB_OK) {
			if (!found || sb.sequence > ret_sb->sequence)
				*ret_sb = sb;
			found = true;
		} else if (!found && st > best) {
			best = st;
			if (st == SC_SB_UNSUPPORTED)
				*ret_sb = sb;
		}
	}
	return found ? SC_SB_OK : best;
}

uint64_t sc_sb_format_id(const struct sc_superblock *sb)
{
	return sc_get_le(sb->uuid, 8);
}

void sc_record_encode(const struct sc_record *rec, void *buf)
{
	unsigned char *b = buf;

	memset(b, 0, SC_RECORD_BYTES);
	put(b, 0, rec->flags & SC_RECORD_PACKED ? rec->dead[0] : rec->object,
	    8);
	put(b, 8, rec->flags & SC_RECORD_PACKED ? rec->dead[1] : rec->validator,
	    8);
	put(b, 16, rec->cluster, 4);
	put(b, 20, rec->slot, 4);
	put(b, 24, rec->data_crc, 4);
	put(b, 28, rec->valid_mask, 2);
	put(b, 30, rec->flags, 2);
	put(b, 32, rec->sequence, 8);
	put(b, 40, rec->format_id, 8);
	if (rec->flags & SC_RECORD_PACKED) {
		put(b, 48, rec->ram[0], 8);
		put(b, 56, rec->ram[1] & 0xffffffffu, 4);
	} else {
		put(b, 48, rec->ram_mask, 2);
	}
	put(b, RECORD_CRC_AT, sc_crc32c(0, b, RECORD_CRC_AT), 4);
}

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static enum sc_record_status packed_record(struct sc_record *rec,
					   struct sc_record *ret_rec);

enum sc_record_status sc_record_decode(const void *buf, uint64_t slot,
				       uint64_t format_id,
				       struct sc_record *ret_rec)
{
	const unsigned char *b = buf;
	struct sc_record rec;

	if (all_zero(b, SC_RECORD_BYTES))
		return SC_RECORD_FREE;
	if (get(b, RECORD_CRC_AT, 4) != sc_crc32c(0, b, RECORD_CRC_AT))
		return SC_RECORD_CORRUPT;
	rec.object = get(b, 0, 8);
	rec.validator = get(b, 8, 8);
	rec.cluster = (uint32_t)get(b, 16, 4);
	rec.slot = (uint32_t)get(b, 20, 4);
	rec.data_crc = (uint32_t)get(b, 24, 4);
	rec.valid_mask = (uint16_t)get(b, 28, 2);
	rec.flags = (uint16_t)get(b, 30, 2);
	rec.sequence = get(b, 32, 8);
	rec.format_id = get(b, 40, 8);
	rec.ram_mask = (uint16_t)get(b, 48, 2);
	if (rec.format_id != format_id)
		return SC_RECORD_STALE;
	if (rec.slot != slot ||
	    (rec.flags & ~(SC_RECORD_USED | SC_RECORD_PACKED)))
		return SC_RECORD_CORRUPT;
	if (!(rec.flags & SC_RECORD_USED))
		return SC_RECORD_FREE;
	if (rec.flags & SC_RECORD_PACKED) {
		rec.ram[0] = get(b, 48, 8);
		rec.ram[1] = get(b, 56, 4);
		return packed_record(&rec, ret_rec);
	}
	if (!all_zero(b + 50, 10))
		return SC_RECORD_CORRUPT;
	if (rec.valid_mask == 0 || (rec.ram_mask & ~rec.valid_mask))
		return SC_RECORD_CORRUPT;
	rec.dead[0] = rec.dead[1] = rec.ram[0] = rec.ram[1] = 0;
	*ret_rec = rec;
	return SC_RECORD_VALID;
}

/* The rest of a packed record's checks (format.h): its fields moved. */
static enum sc_record_status packed_record(struct sc_record *rec,
					   struct sc_record *ret_rec)
{
	uint32_t n = rec->cluster;

	rec->dead[0] = rec->object;
	rec->dead[1] = rec->validator;
	rec->object = rec->validator = 0;
	rec->ram_mask = 0;
	/* Dead and in-RAM entries among those vouched for; never both. */
	if (n == 0 || n > SC_PACK_MAX_MEMBERS || rec->valid_mask)
		return SC_RECORD_CORRUPT;
	for (unsigned i = 0; i < 2; i++)
		if ((rec->dead[i] | rec->ram[i]) &
			    ~sc_pack_entries_below(n, i) ||
		    rec->dead[i] & rec->ram[i])
			return SC_RECORD_CORRUPT;
	*ret_rec = *rec;
	return SC_RECORD_VALID;
}

#define TRAILER_CRC_AT (SC_TRAILER_BYTES - 4)
#define TRAILER_PAGES_END (40 + 4 * SC_CLUSTER_PAGES) /* zero after */

void sc_trailer_encode(const struct sc_trailer *t, void *buf)
{
	unsigned char *b = buf;

	memset(b, 0, SC_TRAILER_BYTES);
	memcpy(b, SC_TRAILER_MAGIC, 8);
	put(b, 8, t->format_id, 8);
	put(b, 16, t->object, 8);
	put(b, 24, t->cluster, 4);
	put(b, 28, t->slot, 4);
	put(b, 32, t->data_crc, 4);
	put(b, 36, t->valid_mask, 2);
	for (int i = 0; i < 16; i++)
		put(b, 40 + 4 * i, t->page_crc[i], 4);
	put(b, TRAILER_CRC_AT, sc_crc32c(0, b, TRAILER_CRC_AT), 4);
}

int sc_trailer_decode(const void *buf, struct sc_trailer *ret)
{
	const unsigned char *b = buf;

	if (memcmp(b, SC_TRAILER_MAGIC, 8) != 0 ||
	    get(b, TRAILER_CRC_AT, 4) != sc_crc32c(0, b, TRAILER_CRC_AT))
		return -EBADMSG;
	ret->format_id = get(b, 8, 8);
	ret->object = get(b, 16, 8);
	ret->cluster = (uint32_t)get(b, 24, 4);
	ret->slot = (uint32_t)get(b, 28, 4);
	ret->data_crc = (uint32_t)get(b, 32, 4);
	ret->valid_mask = (uint16_t)get(b, 36, 2);
	for (int i = 0; i < 16; i++)
		ret->page_crc[i] = (uint32_t)get(b, 40 + 4 * i, 4);
	/* What the encoder never writes is not a trailer of ours. */
	if (ret->valid_mask == 0 || get(b, 38, 2) != 0 ||
	    !all_zero(b + TRAILER_PAGES_END,
		      TRAILER_CRC_AT - TRAILER_PAGES_END))
		return -EBADMSG;
	for (int i = 0; i < 16; i++)
		if (!(ret->valid_mask & (1u << i)) && ret->page_crc[i])
			return -EBADMSG;
	return 0;
}

#define PACK_ENTRY_AT(i) (SC_PACK_HEADER_BYTES + (i)*SC_PACK_ENTRY_BYTES)

void sc_pack_encode_header(uint64_t format_id, uint32_t slot, uint32_t n,
			   void *table)
{
	unsigned char *b = table;

	memset(b, 0, SC_PACK_HEADER_BYTES);
	memcpy(b, SC_PACK_MAGIC, 8);
	put(b, 8, format_id, 8);
	put(b, 16, slot, 4);
	put(b, 20, n, 4);
}

int sc_pack_decode_header(const void *table, uint64_t format_id, uint32_t slot,
			  uint32_t *ret_n)
{
	const unsigned char *b = table;

	*ret_n = (uint32_t)get(b, 20, 4);
	if (memcmp(b, SC_PACK_MAGIC, 8) != 0 || get(b, 8, 8) != format_id ||
	    get(b, 16, 4) != slot || *ret_n > SC_PACK_MAX_MEMBERS ||
	    !all_zero(b + 24, SC_PACK_HEADER_BYTES - 24))
		return -EBADMSG;
	return 0;
}

void sc_pack_encode_entry(const struct sc_pack_entry *e, void *table,
			  uint32_t i)
{
	unsigned char *b = (unsigned char *)table + PACK_ENTRY_AT(i);

	memset(b, 0, SC_PACK_ENTRY_BYTES);
	put(b, 0, e->object, 8);
	put(b, 8, e->validator, 8);
	put(b, 16, e->cluster, 4);
	put(b, 20, e->data_crc, 4);
	put(b, 24, e->offset, 2);
	put(b, 26, e->length, 2);
	put(b, 28, e->first_page, 1);
	put(b, 29, e->npages, 1);
}

int sc_pack_decode_entry(const void *table, uint32_t i,
			 struct sc_pack_entry *ret)
{
	const unsigned char *b =
		(const unsigned char *)table + PACK_ENTRY_AT(i);
	struct sc_pack_entry e = {
		.object = get(b, 0, 8),
		.validator = get(b, 8, 8),
		.cluster = (uint32_t)get(b, 16, 4),
		.data_crc = (uint32_t)get(b, 20, 4),
		.offset = (uint16_t)get(b, 24, 2),
		.length = (uint16_t)get(b, 26, 2),
		.first_page = (uint8_t)get(b, 28, 1),
		.npages = (uint8_t)get(b, 29, 1),
	};

	if (i >= SC_PACK_MAX_MEMBERS || e.npages == 0 ||
	    e.npages >= SC_CLUSTER_PAGES ||
	    e.first_page + e.npages > SC_CLUSTER_PAGES || e.length == 0 ||
	    e.length > e.npages * SC_PAGE_BYTES ||
	    (uint32_t)e.offset + e.length > SC_CLUSTER_BYTES || get(b, 30, 2))
		return -EBADMSG;
	*ret = e;
	return 0;
}

uint32_t sc_pack_entries_crc(const void *table, uint32_t n)
{
	return sc_crc32c(0, (const unsigned char *)table + PACK_ENTRY_AT(0),
			 (size_t)n * SC_PACK_ENTRY_BYTES);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int sc_geometry(uint64_t device_bytes, uint32_t block_bytes,
		struct sc_superblock *sb)
{
	uint64_t nslots, index_bytes, trailer_offset, data_offset;

	if (block_bytes == 0 || block_bytes > SC_PAGE_BYTES ||
	    (block_bytes & (block_bytes - 1)) ||
	    device_bytes < SC_MIN_DEVICE_BYTES)
		return -ENOSPC;
	/* Each slot costs its cluster, its trailer and its record. */
	nslots = (device_bytes - SC_INDEX_OFFSET) /
		 (SC_CLUSTER_BYTES + SC_TRAILER_BYTES + SC_RECORD_BYTES);
	for (;;) {
		index_bytes =
			align_up(nslots * SC_RECORD_BYTES, SC_SECTOR_BYTES);
		trailer_offset = SC_INDEX_OFFSET + index_bytes;
		data_offset =
			align_up(trailer_offset + nslots * SC_TRAILER_BYTES,
				 SC_CLUSTER_BYTES);
		if (data_offset + nslots * SC_CLUSTER_BYTES <= device_bytes)
			break;
		nslots--;
	}
	if (nslots == 0 || nslots > UINT32_MAX)
		return -ENOSPC;
	sb->page_bytes = SC_PAGE_BYTES;
	sb->cluster_pages = SC_CLUSTER_PAGES;
	sb->record_bytes = SC_RECORD_BYTES;
	sb->block_bytes = block_bytes;
	sb->device_bytes = device_bytes;
	sb->index_offset = SC_INDEX_OFFSET;
	sb->index_bytes = index_bytes;
	sb->trailer_offset = trailer_offset;
	sb->data_offset = data_offset;
	sb->nslots = nslots;
	return 0;
}
