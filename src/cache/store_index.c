// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The store's index in RAM: the (object, cluster) -> slot and name ->
 * object tables (open addressing, linear probing), the slot allocator and the
 * page-checksum cache.  Every function here runs under store->lock and does
 * no I/O: a change is marked dirty for store_commit.c to write.
 */
#include "store_int.h"

/* ---- the (object, cluster) -> slot table, linear probing ---- */

static uint32_t cluster_home(const struct sc_store *s, uint32_t obj,
			     uint32_t cluster)
{
	uint64_t h = ((uint64_t)obj << 32 | cluster) * 0x9e3779b97f4a7c15ULL;

	return fastrange(h ^ (h >> 29), s->cluster_map_size);
}

uint32_t store_cluster_find(const struct sc_store *s, uint32_t obj,
			    uint32_t cluster)
{
	uint32_t i = cluster_home(s, obj, cluster);

	for (; s->cluster_map[i] != NONE;
	     i = next_pos(i, s->cluster_map_size)) {
		uint32_t loc = s->cluster_map[i];

		if (loc_obj(s, loc) == obj && loc_cluster(s, loc) == cluster)
			return i;
	}
	return NONE;
}

static void cluster_insert(struct sc_store *s, uint32_t loc)
{
	uint32_t i = cluster_home(s, loc_obj(s, loc), loc_cluster(s, loc));

	while (s->cluster_map[i] != NONE)
		i = next_pos(i, s->cluster_map_size);
	s->cluster_map[i] = loc;
}

/* Remove position hole, shifting back the entries that probed past it. */
static void cluster_remove_at(struct sc_store *s, uint32_t hole)
{
	uint32_t j = hole;

	for (;;) {
		uint32_t home, loc;

		j = next_pos(j, s->cluster_map_size);
		loc = s->cluster_map[j];
		if (loc == NONE)
			break;
		home = cluster_home(s, loc_obj(s, loc), loc_cluster(s, loc));
		/* Movable unless its home lies cyclically in (hole, j]. */
		if (hole <= j ? (home <= hole || home > j)
			      : (home <= hole && home > j)) {
			s->cluster_map[hole] = s->cluster_map[j];
			hole = j;
		}
	}
	s->cluster_map[hole] = NONE;
	s->cluster_map_used--;
}

/* ---- the name -> object table ---- */

uint32_t store_object_find(const struct sc_store *s, uint64_t name)
{
	uint32_t i = fastrange(name, s->object_map_size);

	for (; s->object_map[i] != NONE; i = next_pos(i, s->object_map_size))
		if (s->objects[s->object_map[i]].name == name)
			return i;
	return NONE;
}

static void object_remove_at(struct sc_store *s, uint32_t hole)
{
	uint32_t j = hole;

	for (;;) {
		uint32_t home;

		j = next_pos(j, s->object_map_size);
		if (s->object_map[j] == NONE)
			break;
		home = fastrange(s->objects[s->object_map[j]].name,
				 s->object_map_size);
		if (hole <= j ? (home <= hole || home > j)
			      : (home <= hole && home > j)) {
			s->object_map[hole] = s->object_map[j];
			hole = j;
		}
	}
	s->object_map[hole] = NONE;
}

static void object_insert(struct sc_store *s, uint32_t obj)
{
	uint32_t i = fastrange(s->objects[obj].name, s->object_map_size);

	while (s->object_map[i] != NONE)
		i = next_pos(i, s->object_map_size);
	s->object_map[i] = obj;
}

/* ---- growing the tables ---- */

/* Hash tables start at this size (entries), then double. */
#define MAP_MIN_SIZE 1024u

static uint32_t *new_map(uint32_t size)
{
	uint32_t *map = malloc((size_t)size * sizeof(*map));

	if (map)
		memset(map, 0xff, (size_t)size * sizeof(*map));
	return map;
}

/* The size a table holding want entries needs: at most two thirds full. */
static uint32_t map_size_for(uint64_t want, uint32_t size)
{
	while ((uint64_t)size * 2 < want * 3)
		size *= 2;
	return size;
}

/*
 * Rehash *map (of *size entries) into a table for want entries, through
 * insert; false without memory (the old table stays).
 */
static bool grow_map(struct sc_store *s, uint32_t **map, uint32_t *size,
		     uint32_t want, void (*insert)(struct sc_store *, uint32_t))
{
	uint32_t new_size = map_size_for(want, *size), old_size = *size;
	uint32_t *old = *map, *grown;

	if (new_size == old_size)
		return true;
	grown = new_map(new_size);
	if (!grown)
		return false;
	*map = grown;
	*size = new_size;
	for (uint32_t i = 0; i < old_size; i++)
		if (old[i] != NONE)
			insert(s, old[i]);
	free(old);
	return true;
}

/*
 * Room for want entries in *array (of entries of size bytes, *cap of them)
 * and its stack of free entries: new entries are zeroed and pushed,
 * highest first, so that the lowest come out first.  False without memory.
 */
static bool grow_table(void **array, size_t size, uint32_t **free_stack,
		       uint32_t *nfree, uint32_t *cap, uint64_t want)
{
	uint32_t new_cap = *cap ? *cap : MAP_MIN_SIZE / 2;
	unsigned char *grown;
	uint32_t *stack;

	if (want <= *cap)
		return true;
	while (new_cap < want)
		new_cap *= 2;
	grown = realloc(*array, (size_t)new_cap * size);
	if (!grown)
		return false;
	*array = grown;
	stack = realloc(*free_stack, (size_t)new_cap * sizeof(*stack));
	if (!stack)
		return false;
	*free_stack = stack;
	memset(grown + (size_t)*cap * size, 0, (size_t)(new_cap - *cap) * size);
	for (uint32_t i = new_cap; i-- > *cap;)
		stack[(*nfree)++] = i;
	*cap = new_cap;
	return true;
}

/* Room for n more objects, members and packs (each unused till taken). */
static bool grow_entries(struct sc_store *s, uint32_t n)
{
	uint32_t members = s->members_cap, packs = s->packs_cap;

	if (!grow_table((void **)&s->objects, sizeof(*s->objects),
			&s->free_objects, &s->nfree_objects, &s->objects_cap,
			(uint64_t)s->objects_cap - s->nfree_objects + n) ||
	    !grow_table((void **)&s->members, sizeof(*s->members),
			&s->free_members, &s->nfree_members, &s->members_cap,
			(uint64_t)s->members_cap - s->nfree_members + n))
		return false;
	for (uint32_t i = members; i < s->members_cap; i++)
		s->members[i].obj = NONE;
	if (!grow_table((void **)&s->packs, sizeof(*s->packs), &s->free_packs,
			&s->nfree_packs, &s->packs_cap,
			(uint64_t)s->packs_cap - s->nfree_packs + n))
		return false;
	for (uint32_t i = packs; i < s->packs_cap; i++)
		s->packs[i].slot = NONE;
	return true;
}

/* The tables at their smallest, for an empty index. */
bool store_alloc_maps(struct sc_store *s)
{
	s->cluster_map_size = s->object_map_size = MAP_MIN_SIZE;
	s->cluster_map = new_map(s->cluster_map_size);
	s->object_map = new_map(s->object_map_size);
	for (unsigned i = 0; i < OPEN_PACKS; i++)
		s->open_packs[i] = NONE;
	return s->cluster_map && s->object_map && grow_entries(s, 1);
}

/*
 * Room for n more clusters, each maybe of a new object: after this, n
 * calls of store_object_get and store_install_slot find the room they
 * need.  False without memory (nothing is lost: the tables are as they
 * were, or larger).
 */
bool store_reserve(struct sc_store *s, uint32_t n)
{
	return grow_entries(s, n) &&
	       grow_map(s, &s->object_map, &s->object_map_size,
			(uint32_t)s->stats.objects + n, object_insert) &&
	       grow_map(s, &s->cluster_map, &s->cluster_map_size,
			s->cluster_map_used + n, cluster_insert);
}

uint64_t store_index_ram(const struct sc_store *s)
{
	return (uint64_t)s->sb.nslots *
		       (sizeof(*s->slots) + sizeof(*s->free_slots)) +
	       (uint64_t)s->objects_cap *
		       (sizeof(*s->objects) + sizeof(uint32_t)) +
	       (uint64_t)s->members_cap *
		       (sizeof(*s->members) + sizeof(uint32_t)) +
	       (uint64_t)s->packs_cap * (sizeof(*s->packs) + sizeof(uint32_t)) +
	       ((uint64_t)s->cluster_map_size + s->object_map_size) *
		       sizeof(uint32_t) +
	       (s->nsectors + 63) / 64 * sizeof(uint64_t) + sizeof(*s);
}

/*
 * The object named name, created with validator if absent; NONE if there
 * is no room (store_reserve makes it).
 */
uint32_t store_object_get(struct sc_store *s, uint64_t name, uint64_t validator)
{
	uint32_t pos = store_object_find(s, name), obj;

	if (pos != NONE)
		return s->object_map[pos];
	if (s->nfree_objects == 0 || (uint64_t)(s->stats.objects + 1) * 3 >
					     (uint64_t)s->object_map_size * 2)
		return NONE;
	obj = s->free_objects[--s->nfree_objects];
	s->objects[obj] =
		(struct object){ .name = name, .validator = validator };
	object_insert(s, obj);
	s->stats.objects++;
	return obj;
}

void store_mark_dirty(struct sc_store *s, uint32_t slot)
{
	uint64_t sector = slot / SC_RECORDS_PER_SECTOR;

	s->dirty[sector / 64] |= 1ULL << (sector % 64);
}

bool store_crc_cache_get(const struct sc_store *s, uint32_t slot,
			 uint32_t page_crc[SC_CLUSTER_PAGES])
{
	const struct crc_entry *e = crc_entry_of(s, slot);

	if (e->slot_plus_one != slot + 1)
		return false;
	memcpy(page_crc, e->page_crc, sizeof(e->page_crc));
	return true;
}

void store_crc_cache_put(struct sc_store *s, uint32_t slot,
			 const uint32_t page_crc[SC_CLUSTER_PAGES])
{
	struct crc_entry *e = crc_entry_of(s, slot);

	e->slot_plus_one = slot + 1;
	memcpy(e->page_crc, page_crc, sizeof(e->page_crc));
}

/* obj loses a stored cluster: with its last, the object goes too. */
static void object_lose(struct sc_store *s, uint32_t obj)
{
	struct object *o = &s->objects[obj];

	if (--o->nslots == 0) {
		object_remove_at(s, store_object_find(s, o->name));
		s->free_objects[s->nfree_objects++] = obj;
		s->stats.objects--;
	}
}

/* Take loc out of the cluster table (if it is there). */
static void map_remove(struct sc_store *s, uint32_t loc)
{
	uint32_t pos =
		store_cluster_find(s, loc_obj(s, loc), loc_cluster(s, loc));

	if (pos != NONE && s->cluster_map[pos] == loc)
		cluster_remove_at(s, pos);
}

/* Member m leaves its pack: its entry is dead from now on. */
static void member_unlink(struct sc_store *s, uint32_t m)
{
	struct member *mb = &s->members[m];
	struct pack *p = &s->packs[s->slots[mb->slot].obj];
	uint32_t *link = &p->first;

	map_remove(s, LOC_MEMBER | m);
	object_lose(s, mb->obj);
	while (*link != m)
		link = &s->members[*link].next;
	*link = mb->next;
	sc_pack_set_entry_bit(p->dead, mb->entry);
	p->live--;
	s->stats.members--;
	s->stats.cached_bytes -= mb->length;
	store_mark_dirty(s, mb->slot);
	mb->obj = NONE;
	s->free_members[s->nfree_members++] = m;
}

/* A new pack for slot (caller has reserved room: store_reserve). */
uint32_t store_pack_new(struct sc_store *s, uint32_t slot)
{
	uint32_t pack = s->free_packs[--s->nfree_packs];

	s->packs[pack] = (struct pack){ .slot = slot, .first = NONE };
	s->slots[slot].obj = pack;
	s->slots[slot].packed = 1;
	return pack;
}

/* The pack of a slot freed: its table (if open) and its entry go. */
static void pack_release(struct sc_store *s, uint32_t pack)
{
	free(s->packs[pack].table);
	s->packs[pack] = (struct pack){ .slot = NONE, .first = NONE };
	s->free_packs[s->nfree_packs++] = pack;
	if (open_index(s, pack) < OPEN_PACKS)
		s->open_packs[open_index(s, pack)] = NONE;
}

/*
 * Return a slot to the free stack; its record goes at the next commit.
 * A packed slot loses its members; one a batch is adding to stays until
 * that batch ends, which frees it (doomed).
 */
void store_free_slot(struct sc_store *s, uint32_t slot)
{
	struct slot *sl = &s->slots[slot];

	if (sl->packed) {
		struct pack *p = &s->packs[sl->obj];

		while (p->first != NONE)
			member_unlink(s, p->first);
		if (p->busy) {
			p->doomed = true;
			return;
		}
		pack_release(s, sl->obj);
		if (sl->state == SLOT_USED) {
			s->stats.used_slots--;
			s->stats.packed_slots--;
			store_mark_dirty(s, slot);
		}
		sl->packed = 0;
	} else if (sl->state == SLOT_USED) {
		map_remove(s, slot);
		object_lose(s, sl->obj);
		s->stats.used_slots--;
		s->stats.cached_bytes -=
			(uint64_t)__builtin_popcount(sl->valid_mask) *
			SC_PAGE_BYTES;
		store_mark_dirty(s, slot);
	}
	if (sl->unsynced)
		s->stats.unsynced_slots--;
	sl->state = SLOT_FREE;
	sl->unsynced = 0;
	sl->obj = NONE;
	sl->gen++;
	if (crc_entry_of(s, slot)->slot_plus_one == slot + 1)
		crc_entry_of(s, slot)->slot_plus_one = 0;
	s->free_slots[s->nfree_slots++] = slot;
}

/* Free where a cluster is stored: a slot, or a member (and its slot with it
 * when it was the slot's last, unless a batch is adding to it). */
void store_free_location(struct sc_store *s, uint32_t loc)
{
	uint32_t slot;
	const struct pack *p;

	if (!loc_is_member(loc)) {
		store_free_slot(s, loc);
		return;
	}
	slot = member_of(s, loc)->slot;
	member_unlink(s, loc & ~LOC_MEMBER);
	p = &s->packs[s->slots[slot].obj];
	if (p->live == 0 && !p->busy)
		store_free_slot(s, slot);
}

/*
 * Make entry of pack hold e's cluster of obj, replacing where it was
 * stored before.  The caller has made room (store_reserve) and keeps the
 * pack busy, so that the replaced member cannot free its slot.
 */
void store_install_member(struct sc_store *s, uint32_t pack, uint32_t obj,
			  const struct sc_pack_entry *e, uint32_t entry)
{
	uint32_t pos = store_cluster_find(s, obj, e->cluster), m;
	struct pack *p;

	s->objects[obj].nslots++;
	if (pos != NONE)
		store_free_location(s, s->cluster_map[pos]);
	p = &s->packs[pack];
	m = s->free_members[--s->nfree_members];
	s->members[m] = (struct member){ .obj = obj,
					 .cluster = e->cluster,
					 .slot = p->slot,
					 .data_crc = e->data_crc,
					 .next = p->first,
					 .offset = e->offset,
					 .length = e->length,
					 .first_page = e->first_page,
					 .npages = e->npages,
					 .entry = (uint8_t)entry };
	p->first = m;
	p->live++;
	cluster_insert(s, LOC_MEMBER | m);
	s->cluster_map_used++;
	if (e->cluster >= s->objects[obj].clusters)
		s->objects[obj].clusters = e->cluster + 1;
	s->stats.members++;
	s->stats.cached_bytes += e->length;
}

/*
 * Free the clusters first..last of obj; returns how many were stored.
 * Freeing the last one frees obj too, which ends the loop (nslots 0).
 */
uint32_t store_drop_clusters(struct sc_store *s, uint32_t obj, uint32_t first,
			     uint32_t last)
{
	uint32_t end = s->objects[obj].clusters, dropped = 0;

	if (last < end)
		end = last + 1;
	for (uint32_t c = first; c < end && s->objects[obj].nslots; c++) {
		uint32_t pos = store_cluster_find(s, obj, c);

		if (pos != NONE) {
			store_free_location(s, s->cluster_map[pos]);
			dropped++;
		}
	}
	return dropped;
}

void store_drop_object(struct sc_store *s, uint32_t obj)
{
	store_drop_clusters(s, obj, 0, UINT32_MAX);
}

/*
 * Make slot hold (obj, cluster), replacing a slot that held it before.
 * The caller marks the record dirty when the device must learn of it.
 */
void store_install_slot(struct sc_store *s, uint32_t slot, uint32_t obj,
			uint32_t cluster, uint32_t crc, uint16_t mask)
{
	uint32_t pos = store_cluster_find(s, obj, cluster);
	struct slot *sl = &s->slots[slot];

	/* Count the new slot first: freeing the old one must not free obj. */
	s->objects[obj].nslots++;
	if (pos != NONE)
		store_free_location(s, s->cluster_map[pos]);
	sl->obj = obj;
	sl->cluster = cluster;
	sl->data_crc = crc;
	sl->valid_mask = mask;
	sl->state = SLOT_USED;
	sl->referenced = 0;
	cluster_insert(s, slot);
	s->cluster_map_used++;
	if (cluster >= s->objects[obj].clusters)
		s->objects[obj].clusters = cluster + 1;
	s->stats.used_slots++;
	s->stats.cached_bytes +=
		(uint64_t)__builtin_popcount(mask) * SC_PAGE_BYTES;
}

/*
 * The CRC32C of each valid page of a cluster into page_crc (0 for the
 * others), and the cluster's data_crc: the CRC32C of those page CRCs, as
 * little-endian words, in page order.  One pass over the data gives both.
 */
uint32_t store_cluster_crcs(const void *buf, uint16_t mask,
			    uint32_t page_crc[SC_CLUSTER_PAGES])
{
	const unsigned char *p = buf;
	const void *pages[SC_CLUSTER_PAGES];
	uint32_t crcs[SC_CLUSTER_PAGES];
	unsigned char words[4 * SC_CLUSTER_PAGES];
	size_t n = 0;

	for (unsigned page = 0; page < SC_CLUSTER_PAGES; page++)
		if (mask & (1u << page))
			pages[n++] = p + page * SC_PAGE_BYTES;
	sc_crc32c_many(pages, SC_PAGE_BYTES, n, crcs);
	n = 0;
	for (unsigned page = 0; page < SC_CLUSTER_PAGES; page++) {
		page_crc[page] = 0;
		if (!(mask & (1u << page)))
			continue;
		page_crc[page] = crcs[n];
		sc_put_le(words + 4 * n, crcs[n], 4);
		n++;
	}
	return sc_crc32c(0, words, 4 * n);
}

void *store_aligned_alloc_zero(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, SC_PAGE_BYTES, bytes) != 0)
		return NULL;
	memset(p, 0, bytes);
	return p;
}

/*
 * The invariants of the index, under s->lock: free slots are on the free
 * stack once each; a used slot belongs to a live object and is where the
 * cluster table finds its (object, cluster); each live object counts its
 * slots and is where the name table finds its name; the counters agree.
 */
/*
 * A packed slot's members are live, of live objects, each where the
 * cluster table finds it; *ret_members counts them.
 */
static bool pack_sane(const struct sc_store *s, uint32_t slot,
		      uint32_t *slots_of, uint32_t *ret_members)
{
	const struct slot *sl = &s->slots[slot];
	const struct pack *p;
	uint32_t live = 0;

	if (sl->obj >= s->packs_cap || s->packs[sl->obj].slot != slot)
		return false;
	p = &s->packs[sl->obj];
	for (uint32_t m = p->first; m != NONE; m = s->members[m].next) {
		const struct member *mb = &s->members[m];
		uint32_t pos;

		if (m >= s->members_cap || mb->obj >= s->objects_cap ||
		    mb->slot != slot || ++live > SC_PACK_MAX_MEMBERS)
			return false;
		pos = store_cluster_find(s, mb->obj, mb->cluster);
		if (pos == NONE || s->cluster_map[pos] != (LOC_MEMBER | m) ||
		    mb->cluster >= s->objects[mb->obj].clusters)
			return false;
		slots_of[mb->obj]++;
	}
	*ret_members += live;
	return live == p->live && (live > 0 || p->busy);
}

bool store_sanity(const struct sc_store *s)
{
	uint32_t n = s->sb.nslots, nfree = 0, used = 0, live = 0, mapped = 0;
	uint32_t packed = 0, members = 0, packs = 0;
	uint32_t *slots_of = calloc(s->objects_cap, sizeof(*slots_of));
	uint8_t *on_stack = calloc(n ? n : 1, 1);
	bool sane = true;

	if (!slots_of || !on_stack) {
		free(slots_of);
		free(on_stack);
		return true; /* cannot look: say nothing */
	}
	for (uint32_t i = 0; i < s->nfree_slots && sane; i++) {
		uint32_t slot = s->free_slots[i];

		sane = slot < n && !on_stack[slot]++ &&
		       s->slots[slot].state == SLOT_FREE;
	}
	for (uint32_t slot = 0; slot < n && sane; slot++) {
		const struct slot *sl = &s->slots[slot];
		uint32_t pos;

		packs += sl->packed;
		if (sl->state == SLOT_FREE) {
			nfree++;
			sane = sl->obj == NONE && !sl->packed;
		} else if (sl->packed) {
			used += sl->state == SLOT_USED;
			packed += sl->state == SLOT_USED;
			sane = pack_sane(s, slot, slots_of, &members);
		} else if (sl->state == SLOT_USED) {
			used++;
			pos = sl->obj < s->objects_cap
				      ? store_cluster_find(s, sl->obj,
							   sl->cluster)
				      : NONE;
			sane = pos != NONE && s->cluster_map[pos] == slot &&
			       sl->cluster < s->objects[sl->obj].clusters;
			if (sane)
				slots_of[sl->obj]++;
		}
	}
	for (uint32_t obj = 0; obj < s->objects_cap && sane; obj++) {
		const struct object *o = &s->objects[obj];
		uint32_t pos;

		if (!o->nslots)
			continue;
		live++;
		pos = store_object_find(s, o->name);
		sane = o->nslots == slots_of[obj] && pos != NONE &&
		       s->object_map[pos] == obj;
	}
	for (uint32_t i = 0; i < s->cluster_map_size && sane; i++)
		mapped += s->cluster_map[i] != NONE;
	sane = sane && nfree == s->nfree_slots && used == s->stats.used_slots &&
	       packed == s->stats.packed_slots && members == s->stats.members &&
	       members + s->nfree_members == s->members_cap &&
	       packs + s->nfree_packs == s->packs_cap &&
	       mapped == used - packed + members &&
	       mapped == s->cluster_map_used && live == s->stats.objects &&
	       live + s->nfree_objects == s->objects_cap;
	free(slots_of);
	free(on_stack);
	return sane;
}
