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
	for (uint32_t i = 0; i < s->packs_cap; i++)
		free(s->packs[i].table);
	free(s->packs);
	free(s->free_packs);
	free(s->members);
	free(s->free_members);
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
	struct sc_record *packed; /* packed slots' records, for load_packs */
	size_t npacked, packed_cap;
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
 * Judge one cluster found at load (a record's, or a packed slot's
 * entry's), of sequence seq.  Of two copies of one cluster, or of two
 * validators for one object, the newer wins and the other is dropped.
 * Returns the object to install it in, or NONE when it is the one
 * dropped (or there is no room for it).
 */
static uint32_t load_judge(struct sc_store *s, struct load *l, uint64_t object,
			   uint64_t validator, uint32_t cluster, uint64_t seq)
{
	struct sc_store_report *report = l->report;
	uint32_t obj = NONE, pos;

	if (load_room(s, l))
		obj = store_object_get(s, object, validator);
	if (obj == NONE)
		return NONE;
	if (s->objects[obj].nslots == 0)
		l->obj_seq[obj] = 0; /* a new entry, maybe one dropped before */
	if (s->objects[obj].validator != validator) {
		if (seq < l->obj_seq[obj])
			return NONE;
		report->records_dropped += s->objects[obj].nslots;
		report->records_loaded -= s->objects[obj].nslots;
		store_drop_object(s, obj);
		obj = store_object_get(s, object, validator);
		l->obj_seq[obj] = 0;
	}
	pos = store_cluster_find(s, obj, cluster);
	if (pos != NONE) {
		if (seq < l->slot_seq[loc_slot(s, s->cluster_map[pos])])
			return NONE;
		/* Installing this one frees the older. */
		report->records_dropped++;
		report->records_loaded--;
	}
	return obj;
}

/* A cluster of obj of sequence seq was installed. */
static void load_took(struct sc_store *s, struct load *l, uint32_t obj,
		      uint64_t seq)
{
	if (seq > l->obj_seq[obj])
		l->obj_seq[obj] = seq;
	if (seq > s->sequence)
		s->sequence = seq;
	l->report->records_loaded++;
}

static void load_record(struct sc_store *s, const struct sc_record *rec,
			struct load *l)
{
	uint32_t obj = load_judge(s, l, rec->object, rec->validator,
				  rec->cluster, rec->sequence);

	if (obj == NONE) {
		store_mark_dirty(s, rec->slot);
		l->report->records_dropped++;
		return;
	}
	store_install_slot(s, rec->slot, obj, rec->cluster, rec->data_crc,
			   rec->valid_mask);
	if (s->ram_masks)
		s->ram_masks[rec->slot] = rec->ram_mask;
	l->slot_seq[rec->slot] = rec->sequence;
	load_took(s, l, obj, rec->sequence);
}

/*
 * A packed slot's members, from its table (read_ok: it was read), as far
 * as its record vouches for them; the whole slot is dropped when the
 * table is not the one the record names (torn, or never written).
 */
static void load_pack(struct sc_store *s, struct load *l,
		      const struct sc_record *rec, const unsigned char *table,
		      bool read_ok)
{
	uint32_t n, pack;
	struct pack *p;

	if (!read_ok ||
	    sc_pack_decode_header(table, s->format_id, rec->slot, &n) < 0 ||
	    n < rec->cluster ||
	    sc_pack_entries_crc(table, rec->cluster) != rec->data_crc ||
	    !store_reserve(s, 1)) {
		store_mark_dirty(s, rec->slot);
		l->report->records_dropped++;
		return;
	}
	s->slots[rec->slot].state = SLOT_USED;
	s->stats.used_slots++;
	s->stats.packed_slots++;
	l->slot_seq[rec->slot] = rec->sequence;
	pack = store_pack_new(s, rec->slot);
	p = &s->packs[pack];
	*p = (struct pack){
		.slot = rec->slot,
		.first = NONE,
		.fill = SC_CLUSTER_BYTES, /* closed */
		.entries = rec->cluster,
		.crc = rec->data_crc,
		.synced = rec->cluster,
		.synced_crc = rec->data_crc,
		.dead = { rec->dead[0], rec->dead[1] },
		.ram = { rec->ram[0], rec->ram[1] },
		.busy = true
	}; /* a replaced member cannot free it */
	for (uint32_t i = 0; i < rec->cluster; i++) {
		struct sc_pack_entry e;
		uint32_t obj;

		if (sc_pack_entry_bit(rec->dead, i))
			continue;
		obj = sc_pack_decode_entry(table, i, &e) < 0
			      ? NONE
			      : load_judge(s, l, e.object, e.validator,
					   e.cluster, rec->sequence);
		p = &s->packs[pack];
		if (obj == NONE) {
			sc_pack_set_entry_bit(p->dead, i);
			store_mark_dirty(s, rec->slot);
			l->report->records_dropped++;
			continue;
		}
		store_install_member(s, pack, obj, &e, i);
		load_took(s, l, obj, rec->sequence);
	}
	p = &s->packs[pack];
	p->busy = false;
	if (p->live == 0)
		store_free_slot(s, rec->slot);
}

/* Packed slots' tables read at a time at load. */
#define LOAD_PACKS 64u

/* The members of the packed slots the walk found, their tables read in runs. */
static int load_packs(struct sc_store *s, struct load *l)
{
	unsigned char *buf =
		store_aligned_alloc_zero(LOAD_PACKS * SC_TRAILER_BYTES);
	struct sc_io io[LOAD_PACKS];

	if (!buf)
		return -ENOMEM;
	for (size_t at = 0; at < l->npacked; at += LOAD_PACKS) {
		size_t n = l->npacked - at < LOAD_PACKS ? l->npacked - at
							: LOAD_PACKS;

		for (size_t i = 0; i < n; i++)
			io[i] = (struct sc_io){
				.buf = buf + i * SC_TRAILER_BYTES,
				.len = SC_TRAILER_BYTES,
				.off = trailer_offset(s,
						      l->packed[at + i].slot),
			};
		sc_io_batch(s->fd, io, n, 0);
		for (size_t i = 0; i < n; i++)
			load_pack(s, l, &l->packed[at + i],
				  buf + i * SC_TRAILER_BYTES,
				  io[i].res == SC_TRAILER_BYTES);
	}
	free(buf);
	return 0;
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
		if (!(rec->flags & SC_RECORD_PACKED)) {
			load_record(s, rec, l);
			break;
		}
		/* Their tables are read after the walk, in runs. */
		if (l->npacked == l->packed_cap) {
			size_t cap = l->packed_cap ? 2 * l->packed_cap : 256;
			struct sc_record *grown =
				realloc(l->packed, cap * sizeof(*grown));

			if (!grown) {
				store_mark_dirty(s, slot);
				l->report->records_dropped++;
				break;
			}
			l->packed = grown;
			l->packed_cap = cap;
		}
		l->packed[l->npacked++] = *rec;
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

/* The hints of the members of a packed slot, counted or (into) listed. */
static size_t pack_hints(struct sc_store *s, const struct pack *p,
			 struct sc_store_hint *into)
{
	size_t n = 0;

	for (uint32_t m = p->first; m != NONE; m = s->members[m].next) {
		const struct member *mb = &s->members[m];

		if (!sc_pack_entry_bit(p->ram, mb->entry))
			continue;
		if (into)
			into[n] = (struct sc_store_hint){
				.object = s->objects[mb->obj].name,
				.validator = s->objects[mb->obj].validator,
				.cluster = mb->cluster,
				.mask = sc_run_mask(mb->first_page, mb->npages),
			};
		n++;
	}
	return n;
}

/*
 * The RAM hints the load found, as a list for sc_store_take_hints: those
 * of used slots whose record the last commit wrote (an older one's hint
 * is stale), counted (into NULL) or listed.
 */
static size_t slot_hints(struct sc_store *s, const uint64_t *slot_seq,
			 struct sc_store_hint *into)
{
	size_t n = 0;

	for (uint64_t i = 0; i < s->sb.nslots; i++) {
		const struct slot *sl = &s->slots[i];

		if (sl->state != SLOT_USED || slot_seq[i] != s->sequence)
			continue;
		if (sl->packed) {
			n += pack_hints(s, &s->packs[sl->obj],
					into ? into + n : NULL);
			continue;
		}
		if (!s->ram_masks[i])
			continue;
		if (into)
			into[n] = (struct sc_store_hint){
				.object = s->objects[sl->obj].name,
				.validator = s->objects[sl->obj].validator,
				.cluster = sl->cluster,
				.mask = s->ram_masks[i] & sl->valid_mask,
			};
		n++;
	}
	return n;
}

/* Without memory for the list there are none: they are hints. */
void store_collect_hints(struct sc_store *s, const uint64_t *slot_seq)
{
	size_t n = slot_hints(s, slot_seq, NULL);

	s->hints = n ? malloc(n * sizeof(*s->hints)) : NULL;
	if (s->hints)
		s->nhints = slot_hints(s, slot_seq, s->hints);
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
		ret = load_packs(s, &l);
	if (ret == 0)
		store_build_free_stack(s);
	if (ret == 0 && s->ram_masks)
		store_collect_hints(s, l.slot_seq);
	/* Taken: the next unmount notes its own. */
	for (uint32_t i = 0; i < s->packs_cap; i++)
		s->packs[i].ram[0] = s->packs[i].ram[1] = 0;
	free(s->ram_masks);
	s->ram_masks = NULL;
	free(l.slot_seq);
	free(l.obj_seq);
	free(l.packed);
	return ret;
}
