// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading the index at open: every record on the device is read and
 * checked, two records for one cluster resolve to the newer, and the RAM
 * hints of a clean unmount are kept for the daemon's pool.
 */
#include "store_int.h"

int store_alloc_index(struct sc_store *s)
{
	uint64_t n = s->sb.nslots;

	s->nsectors = (n + SC_RECORDS_PER_SECTOR - 1) / SC_RECORDS_PER_SECTOR;
	s->slots = calloc(n, sizeof(*s->slots));
	s->free_slots = calloc(n, sizeof(*s->free_slots));
	s->dirty = calloc((s->nsectors + 63) / 64, sizeof(uint64_t));
	s->crc_cache_entries =
		n < CRC_CACHE_MAX_ENTRIES ? (uint32_t)n : CRC_CACHE_MAX_ENTRIES;
	s->crc_cache = calloc(s->crc_cache_entries, sizeof(*s->crc_cache));
	if (!s->slots || !s->free_slots || !s->dirty || !s->crc_cache ||
	    !store_alloc_maps(s))
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		s->slots[i].obj = NONE;
	s->stats.nslots = n;
	s->stats.data_bytes = n * SC_CLUSTER_BYTES;
	s->stats.data_offset = s->sb.data_offset;
	s->stats.device_bytes = s->sb.device_bytes;
	s->stats.block_bytes = s->sb.block_bytes;
	s->stats.crc_cache_bytes =
		(uint64_t)s->crc_cache_entries * sizeof(*s->crc_cache);
	return 0;
}

void store_free_index(struct sc_store *s)
{
	free(s->slots);
	free(s->objects);
	free(s->free_slots);
	free(s->free_objects);
	free(s->cluster_map);
	free(s->object_map);
	free(s->dirty);
	free(s->unsynced);
	free(s->crc_cache);
	free(s->ram_masks);
	free(s->hints);
}

/* Free slots go on the stack so that low slot numbers come out first. */
void store_build_free_stack(struct sc_store *s)
{
	s->nfree_slots = 0;
	for (uint64_t i = s->sb.nslots; i-- > 0;)
		if (s->slots[i].state == SLOT_FREE)
			s->free_slots[s->nfree_slots++] = (uint32_t)i;
}

struct load {
	uint64_t *slot_seq; /* [nslots] */
	uint64_t *obj_seq;  /* [nobj_seq], grown with the objects */
	uint32_t nobj_seq;
	struct sc_store_report *report;
};

/* Room in the index and in obj_seq for one more record's object. */
static bool load_room(struct sc_store *s, struct load *l)
{
	uint64_t *grown;

	if (!store_reserve(s, 1))
		return false;
	if (l->nobj_seq >= s->objects_cap)
		return true;
	grown = realloc(l->obj_seq, s->objects_cap * sizeof(*grown));
	if (!grown)
		return false;
	memset(grown + l->nobj_seq, 0,
	       (s->objects_cap - l->nobj_seq) * sizeof(*grown));
	l->obj_seq = grown;
	l->nobj_seq = s->objects_cap;
	return true;
}

/*
 * Take one record found at load.  The sequences (per slot and per
 * object, load time only) settle conflicts: of two records for one
 * cluster, or of two validators for one object, the newer wins and the
 * other is dropped.
 */
static void load_record(struct sc_store *s, const struct sc_record *rec,
			struct load *l)
{
	struct sc_store_report *report = l->report;
	uint64_t *slot_seq = l->slot_seq, *obj_seq;
	uint32_t obj = NONE, pos;

	if (load_room(s, l))
		obj = store_object_get(s, rec->object, rec->validator);
	if (obj == NONE)
		goto drop;
	obj_seq = l->obj_seq;
	if (s->objects[obj].nslots == 0)
		obj_seq[obj] = 0; /* a new entry, maybe one dropped before */
	if (s->objects[obj].validator != rec->validator) {
		if (rec->sequence < obj_seq[obj])
			goto drop;
		report->records_dropped += s->objects[obj].nslots;
		report->records_loaded -= s->objects[obj].nslots;
		store_drop_object(s, obj);
		obj = store_object_get(s, rec->object, rec->validator);
		obj_seq[obj] = 0;
	}
	pos = store_cluster_find(s, obj, rec->cluster);
	if (pos != NONE) {
		if (rec->sequence < slot_seq[s->cluster_map[pos]])
			goto drop;
		/* store_install_slot frees the older record's slot. */
		report->records_dropped++;
		report->records_loaded--;
	}
	store_install_slot(s, rec->slot, obj, rec->cluster, rec->data_crc,
			   rec->valid_mask);
	if (s->ram_masks)
		s->ram_masks[rec->slot] = rec->ram_mask;
	slot_seq[rec->slot] = rec->sequence;
	if (rec->sequence > obj_seq[obj])
		obj_seq[obj] = rec->sequence;
	if (rec->sequence > s->sequence)
		s->sequence = rec->sequence;
	report->records_loaded++;
	return;
drop:
	store_mark_dirty(s, rec->slot);
	report->records_dropped++;
}

/*
 * Read the whole index in large sequential reads, handing each record to
 * fn with its slot number and decoded status.
 */
int store_walk_index(struct sc_store *s,
		     void (*fn)(struct sc_store *s, uint32_t slot,
				enum sc_record_status status,
				const struct sc_record *rec, void *arg),
		     void *arg)
{
	unsigned char *buf = store_aligned_alloc_zero(LOAD_CHUNK_BYTES);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t done = 0; done < s->sb.index_bytes;) {
		uint64_t want = s->sb.index_bytes - done;
		struct sc_io io = {
			.buf = buf,
			.len = (uint32_t)(want < LOAD_CHUNK_BYTES
						  ? want
						  : LOAD_CHUNK_BYTES),
			.off = s->sb.index_offset + done
		};

		ret = sc_io_batch(s->fd, &io, 1, 0);
		if (ret == 0 && io.res != (int)io.len)
			ret = io.res < 0 ? io.res : -EIO;
		if (ret < 0)
			break;
		for (uint32_t i = 0; i < io.len / SC_RECORD_BYTES; i++) {
			uint64_t slot = done / SC_RECORD_BYTES + i;
			struct sc_record rec;

			if (slot >= s->sb.nslots)
				break;
			fn(s, (uint32_t)slot,
			   sc_record_decode(buf + i * SC_RECORD_BYTES, slot,
					    s->format_id, &rec),
			   &rec, arg);
		}
		done += io.len;
	}
	free(buf);
	return ret;
}

static void load_one(struct sc_store *s, uint32_t slot,
		     enum sc_record_status status, const struct sc_record *rec,
		     void *arg)
{
	struct load *l = arg;

	switch (status) {
	case SC_RECORD_VALID:
		load_record(s, rec, l);
		break;
	case SC_RECORD_FREE:
		break;
	case SC_RECORD_CORRUPT:
	case SC_RECORD_STALE:
		store_mark_dirty(s, slot);
		l->report->records_dropped++;
		break;
	}
}

/*
 * The RAM hints the load found, as a list for sc_store_take_hints: those
 * of used slots whose record the last commit wrote (an older one's hint
 * is stale).  Without memory for the list there are none: they are hints.
 */
static bool hint_trusted(const struct sc_store *s, const uint64_t *slot_seq,
			 uint64_t slot)
{
	return s->ram_masks[slot] && s->slots[slot].state == SLOT_USED &&
	       slot_seq[slot] == s->sequence;
}

void store_collect_hints(struct sc_store *s, const uint64_t *slot_seq)
{
	size_t n = 0;

	for (uint64_t i = 0; i < s->sb.nslots; i++)
		n += hint_trusted(s, slot_seq, i);
	s->hints = n ? malloc(n * sizeof(*s->hints)) : NULL;
	for (uint64_t i = 0; s->hints && i < s->sb.nslots; i++) {
		const struct slot *sl = &s->slots[i];

		if (!hint_trusted(s, slot_seq, i))
			continue;
		s->hints[s->nhints++] = (struct sc_store_hint){
			.object = s->objects[sl->obj].name,
			.validator = s->objects[sl->obj].validator,
			.cluster = sl->cluster,
			.mask = s->ram_masks[i] & sl->valid_mask,
		};
	}
}

/*
 * Rebuild the RAM index from the records on the device, and the RAM hints
 * of a clean unmount.
 */
int store_load_index(struct sc_store *s, struct sc_store_report *report)
{
	struct load l = { .slot_seq = calloc(s->sb.nslots, sizeof(uint64_t)),
			  .report = report };
	int ret = -ENOMEM;

	if (s->sb.clean)
		s->ram_masks = calloc(s->sb.nslots, sizeof(*s->ram_masks));
	if (l.slot_seq)
		ret = store_walk_index(s, load_one, &l);
	if (ret == 0)
		store_build_free_stack(s);
	if (ret == 0 && s->ram_masks)
		store_collect_hints(s, l.slot_seq);
	free(s->ram_masks);
	s->ram_masks = NULL;
	free(l.slot_seq);
	free(l.obj_seq);
	return ret;
}
