// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writing clusters: a batch reserves slots, writes the data and the
 * trailers on the caller's ring, and installs the slots when the writes
 * succeeded; their records reach the device only after a sync
 * (store_commit.c).
 */
#include "store_int.h"

unsigned sc_store_written_pages(uint16_t valid_mask, unsigned *ret_first)
{
	unsigned first = 0, last;

	if (valid_mask) {
		first = (unsigned)__builtin_ctz(valid_mask);
		last = 31u - (unsigned)__builtin_clz(valid_mask);
	}
	if (ret_first)
		*ret_first = first;
	return valid_mask ? last - first + 1 : 0;
}

uint64_t sc_store_write_cost(uint16_t valid_mask)
{
	return (uint64_t)sc_store_written_pages(valid_mask, NULL) *
		       SC_PAGE_BYTES +
	       SC_TRAILER_BYTES;
}

/*
 * Members added to one pack by a batch: their bytes, one after another
 * right after what the slot holds (whose last page is written again, the
 * same bytes, from the pack's copy of it), and the pack's table rewritten
 * with their entries after the others.
 */
struct append {
	uint32_t pack, slot;
	bool new_pack;
	uint32_t start; /* the page the first member starts in */
	uint32_t fill;	/* where it starts: the pack's fill */
	uint32_t end;	/* where the last ends */
	uint32_t base;	/* the pack's entries before this batch */
	uint32_t count; /* entries it adds */
	uint32_t crc_before, crc_after; /* of the table's entries */
	unsigned char *table; /* the pack's: its table, then its last page */
	unsigned char *data;  /* end - start bytes, page-rounded */
	size_t data_io, table_io; /* in the batch's io[] */
};

/* How a cluster of a batch is stored: a slot of its own or a member. */
struct placing {
	uint32_t slot;		/* its own slot; NONE for a member or none */
	uint32_t append;	/* its append (members); NONE otherwise */
	uint32_t entry;		/* a member's entry in its pack's table */
	struct sc_pack_entry e; /* a member's entry */
};

/* A batch of cluster writes in flight, from sc_store_write_begin to _end. */
struct sc_store_batch {
	struct sc_store_write *w;
	size_t n, ndata, nio;  /* io[0, ndata) data, [ndata, nio) trailers */
	size_t cap;	       /* n, at least 1 */
	struct sc_io *io;      /* [3 cap] */
	struct sc_io *sectors; /* io + 2 cap: up to cap index sector writes */
	ssize_t nsectors;
	struct sc_trailer *t;
	struct placing *pl;
	struct append *ap;
	uint32_t nap;
	struct unsynced *mine;
	unsigned char *tbuf, *sector_bufs;
};

static void free_batch(struct sc_store_batch *b)
{
	if (!b)
		return;
	for (uint32_t i = 0; i < b->nap; i++)
		free(b->ap[i].data);
	free(b->io);
	free(b->t);
	free(b->pl);
	free(b->ap);
	free(b->mine);
	free(b->tbuf);
	free(b->sector_bufs);
	free(b);
}

static struct sc_store_batch *alloc_batch(struct sc_store_write *w, size_t n)
{
	size_t cap = n ? n : 1;
	struct sc_store_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	*b = (struct sc_store_batch){
		.w = w,
		.n = n,
		.io = calloc(3 * cap, sizeof(*b->io)),
		.t = calloc(cap, sizeof(*b->t)),
		.pl = calloc(cap, sizeof(*b->pl)),
		.ap = calloc(cap, sizeof(*b->ap)),
		.mine = calloc(cap, sizeof(*b->mine)),
		.tbuf = store_aligned_alloc_zero(cap * SC_TRAILER_BYTES),
	};
	if (!b->io || !b->t || !b->pl || !b->ap || !b->mine || !b->tbuf) {
		free_batch(b);
		return NULL;
	}
	b->cap = cap;
	b->sectors = b->io + 2 * cap;
	return b;
}

/* An open pack's table and the copy of its last page (struct pack). */
#define PACK_TABLE_BYTES (SC_TRAILER_BYTES + SC_PAGE_BYTES)

/* v rounded down and up to the device's blocks (a power of two). */
static uint32_t block_down(const struct sc_store *s, uint32_t v)
{
	return v & ~(s->sb.block_bytes - 1);
}

static uint32_t block_up(const struct sc_store *s, uint32_t v)
{
	return block_down(s, v + s->sb.block_bytes - 1);
}

/*
 * Whether w goes into a packed slot, and its entry's run and length if so:
 * its valid pages are one run shorter than a cluster (format.h), and it is
 * not a setting (those are never cleaned: a pack is cleaned whole).
 */
static bool packable(const struct sc_store_write *w, struct sc_pack_entry *e)
{
	unsigned first, pages = sc_store_written_pages(w->valid_mask, &first);
	const unsigned char *run =
		(const unsigned char *)w->buf + (size_t)first * SC_PAGE_BYTES;
	size_t len = (size_t)pages * SC_PAGE_BYTES;

	if (!pages || pages >= SC_CLUSTER_PAGES ||
	    (unsigned)__builtin_popcount(w->valid_mask) != pages ||
	    w->validator == SC_PINNED_VALIDATOR)
		return false;
	/* Trailing zero bytes are not stored: a read puts them back. */
	while (len > 0 && run[len - 1] == 0)
		len--;
	*e = (struct sc_pack_entry){ .object = w->object,
				     .validator = w->validator,
				     .cluster = w->cluster,
				     .offset = 0,
				     .length = (uint16_t)(len ? len : 1),
				     .first_page = (uint8_t)first,
				     .npages = (uint8_t)pages };
	return true;
}

/* Whether a member of len bytes fits in append a. */
static bool fits(const struct append *a, uint32_t len)
{
	return a->base + a->count < SC_PACK_MAX_MEMBERS &&
	       a->end + len <= SC_CLUSTER_BYTES;
}

/* An append to pack, open and free: true if it has room for len. */
static bool open_append(struct sc_store *s, struct append *a, uint32_t pack,
			uint32_t len)
{
	const struct pack *p;

	if (pack == NONE || s->packs[pack].busy || !s->packs[pack].table)
		return false;
	p = &s->packs[pack];
	*a = (struct append){ .pack = pack,
			      .slot = p->slot,
			      .start = block_down(s, p->fill),
			      .fill = p->fill,
			      .end = p->fill,
			      .base = p->entries,
			      .crc_before = p->crc,
			      .table = p->table };
	return fits(a, len);
}

/*
 * An append to an open pack that is free and has room for len, else to a
 * new pack on a free slot, which takes the place of the open pack with
 * the least room; NONE when there is no free slot or no memory.  Holds
 * s->lock.
 */
static uint32_t start_append(struct sc_store *s, struct sc_store_batch *b,
			     uint32_t len)
{
	struct append *a = &b->ap[b->nap];
	unsigned fullest = 0;
	uint32_t old;

	for (unsigned i = 0; i < OPEN_PACKS; i++) {
		uint32_t pack = s->open_packs[i];

		if (open_append(s, a, pack, len)) {
			s->packs[pack].busy = true;
			return b->nap++;
		}
		old = s->open_packs[fullest];
		if (pack == NONE ||
		    (old != NONE && s->packs[pack].fill > s->packs[old].fill))
			fullest = i;
	}
	if (s->nfree_slots == 0 || s->nfree_packs == 0)
		return NONE;
	*a = (struct append){ .new_pack = true,
			      .table = store_aligned_alloc_zero(
				      PACK_TABLE_BYTES) };
	if (!a->table)
		return NONE;
	a->slot = s->free_slots[--s->nfree_slots];
	s->slots[a->slot].state = SLOT_WRITING;
	s->slots[a->slot].gen++;
	a->pack = store_pack_new(s, a->slot);
	s->packs[a->pack].table = a->table;
	s->packs[a->pack].busy = true;
	/* The pack it replaces is closed: its table goes when it is free. */
	old = s->open_packs[fullest];
	if (old != NONE && !s->packs[old].busy) {
		free(s->packs[old].table);
		s->packs[old].table = NULL;
	}
	s->open_packs[fullest] = a->pack;
	return b->nap++;
}

/* Place each cluster of the batch: a slot of its own, or a member.  Holds lock. */
static void place(struct sc_store *s, struct sc_store_batch *b, bool room)
{
	struct sc_store_write *w = b->w;

	for (size_t i = 0; i < b->n; i++) {
		struct placing *pl = &b->pl[i];

		pl->slot = pl->append = NONE;
		w[i].result = 0;
		w[i].device_bytes = 0;
		if (w[i].valid_mask == 0) {
			w[i].result = -EINVAL;
			continue;
		}
		if (room && packable(&w[i], &pl->e)) {
			/* First fit: the room packs of this batch have left. */
			uint32_t cur = 0;

			while (cur < b->nap && !fits(&b->ap[cur], pl->e.length))
				cur++;
			if (cur == b->nap)
				cur = start_append(s, b, pl->e.length);
			if (cur != NONE) {
				struct append *a = &b->ap[cur];

				pl->append = cur;
				pl->entry = a->base + a->count++;
				pl->e.offset = (uint16_t)a->end;
				a->end += pl->e.length;
				continue;
			}
		}
		if (s->nfree_slots == 0) {
			w[i].result = -ENOSPC;
		} else {
			pl->slot = s->free_slots[--s->nfree_slots];
			s->slots[pl->slot].state = SLOT_WRITING;
			s->slots[pl->slot].gen++;
		}
	}
}

/*
 * Lay out an append's data and table, outside the lock (its pack is busy:
 * no other batch touches its table).  False without memory.
 */
static bool build_append(struct sc_store *s, struct sc_store_batch *b,
			 struct append *a)
{
	uint32_t bytes = block_up(s, a->end) - a->start;
	uint32_t page = a->fill / SC_PAGE_BYTES * SC_PAGE_BYTES;

	a->data = store_aligned_alloc_zero(bytes);
	if (!a->data)
		return false;
	/* The last block as it is on the device: written again, unchanged. */
	memcpy(a->data, a->table + SC_TRAILER_BYTES + (a->start - page),
	       a->fill - a->start);
	for (size_t i = 0; i < b->n; i++) {
		struct placing *pl = &b->pl[i];
		const unsigned char *run;

		if (pl->append != (uint32_t)(a - b->ap))
			continue;
		run = (const unsigned char *)b->w[i].buf +
		      (size_t)pl->e.first_page * SC_PAGE_BYTES;
		memcpy(a->data + pl->e.offset - a->start, run, pl->e.length);
		pl->e.data_crc = sc_crc32c(0, run, pl->e.length);
		sc_pack_encode_entry(&pl->e, a->table, pl->entry);
	}
	sc_pack_encode_header(s->format_id, a->slot, a->base + a->count,
			      a->table);
	a->crc_after = sc_crc32c(a->crc_before,
				 a->table + SC_PACK_HEADER_BYTES +
					 (size_t)a->base * SC_PACK_ENTRY_BYTES,
				 (size_t)a->count * SC_PACK_ENTRY_BYTES);
	return true;
}

struct sc_store_batch *sc_store_write_begin(struct sc_store *s,
					    struct sc_store_write *w, size_t n)
{
	struct sc_store_batch *b = sc_store_failed(s) ? NULL
						      : alloc_batch(w, n);
	struct sc_io *io;
	bool room;

	if (!b) {
		for (size_t i = 0; i < n; i++) {
			w[i].result = sc_store_failed(s) ? -EIO : -ENOMEM;
			w[i].device_bytes = 0;
		}
		return NULL;
	}
	io = b->io;

	/* Reserve slots: invisible to readers until installed. */
	pthread_mutex_lock(&s->lock);
	room = store_reserve(s, (uint32_t)n);
	place(s, b, room);
	pthread_mutex_unlock(&s->lock);

	/*
	 * The data goes first, in slot order (slots come off the free stack
	 * ascending, so runs merge into one request); the checksums are
	 * computed while the device writes it, and the trailers follow.  Only
	 * the valid pages' span is written: the pages around it hold no data
	 * of this cluster, and no read takes them (the valid mask says so).
	 */
	for (size_t i = 0; i < n; i++) {
		unsigned first, pages;

		if (b->pl[i].slot == NONE)
			continue;
		pages = sc_store_written_pages(w[i].valid_mask, &first);
		io[b->ndata++] = (struct sc_io){
			.buf = (unsigned char *)w[i].buf +
			       (size_t)first * SC_PAGE_BYTES,
			.len = pages * SC_PAGE_BYTES,
			.off = slot_offset(s, b->pl[i].slot) +
			       (uint64_t)first * SC_PAGE_BYTES,
			.write = true,
		};
	}
	for (uint32_t k = 0; k < b->nap; k++) {
		struct append *a = &b->ap[k];

		a->data_io = b->ndata;
		if (!build_append(s, b, a)) {
			a->data_io = SIZE_MAX; /* failed at _end, unwritten */
			continue;
		}
		io[b->ndata++] = (struct sc_io){
			.buf = a->data,
			.len = block_up(s, a->end) - a->start,
			.off = slot_offset(s, a->slot) + a->start,
			.write = true,
		};
	}
	sc_io_submit(s->fd, io, b->ndata, s->queue_depth);
	b->nio = b->ndata;
	for (size_t i = 0; i < n; i++) {
		struct sc_trailer *t = &b->t[i];
		uint32_t slot = b->pl[i].slot;

		if (slot == NONE)
			continue;
		*t = (struct sc_trailer){ .format_id = s->format_id,
					  .object = w[i].object,
					  .cluster = w[i].cluster,
					  .slot = slot,
					  .valid_mask = w[i].valid_mask };
		t->data_crc = store_cluster_crcs(w[i].buf, w[i].valid_mask,
						 t->page_crc);
		sc_trailer_encode(t, b->tbuf + i * SC_TRAILER_BYTES);
		io[b->nio++] =
			(struct sc_io){ .buf = b->tbuf + i * SC_TRAILER_BYTES,
					.len = SC_TRAILER_BYTES,
					.off = trailer_offset(s, slot),
					.write = true };
	}
	for (uint32_t k = 0; k < b->nap; k++) {
		struct append *a = &b->ap[k];

		if (a->data_io == SIZE_MAX)
			continue;
		a->table_io = b->nio;
		/* The blocks its header and entries take, no more. */
		io[b->nio++] = (struct sc_io){
			.buf = a->table,
			.len = block_up(s, SC_PACK_HEADER_BYTES +
						   (a->base + a->count) *
							   SC_PACK_ENTRY_BYTES),
			.off = trailer_offset(s, a->slot),
			.write = true
		};
	}
	sc_io_submit(s->fd, io + b->ndata, b->nio - b->ndata, s->queue_depth);

	/* The records of the clusters the syncer made durable go along. */
	pthread_mutex_lock(&s->lock);
	b->nsectors =
		store_collect_dirty(s, b->sectors, b->cap, &b->sector_bufs);
	pthread_mutex_unlock(&s->lock);
	if (b->nsectors < 0)
		b->nsectors = 0; /* no memory: they wait for the next commit */
	if (b->nsectors)
		sc_io_submit(s->fd, b->sectors, (size_t)b->nsectors,
			     s->queue_depth);
	return b;
}

/*
 * The object a written cluster goes to, or the error that refuses it
 * (the caller frees what it wrote).  Holds s->lock.
 */
static int object_for(struct sc_store *s, const struct sc_store_write *w,
		      uint32_t *ret_obj)
{
	uint32_t obj;

	if (w->check_epoch &&
	    s->epochs[w->object % SC_STORE_EPOCHS] != w->epoch)
		return -ESTALE; /* invalidated while we wrote it: maybe stale */
	obj = store_object_get(s, w->object, w->validator);
	if (obj != NONE && s->objects[obj].validator != w->validator) {
		/* New contents: what was stored is stale. */
		store_drop_object(s, obj);
		obj = store_object_get(s, w->object, w->validator);
	}
	*ret_obj = obj;
	return obj == NONE ? -ENOSPC : 0;
}

/* Whether the writes of an append reached the device.  Holds s->lock. */
static bool append_written(struct sc_store *s, const struct sc_store_batch *b,
			   const struct append *a, int ring_ret)
{
	bool written;

	if (a->data_io == SIZE_MAX)
		return false; /* no memory: never submitted */
	if (ring_ret < 0) {
		store_device_error(s, IO_WRITE, ring_ret);
		return false;
	}
	written = store_write_result(s, b->io[a->data_io].res,
				     (uint32_t)b->io[a->data_io].len);
	written &= store_write_result(s, b->io[a->table_io].res,
				      (uint32_t)b->io[a->table_io].len);
	return written;
}

/*
 * Install an append's members (those not refused), and the pack's new
 * state; returns the members installed.  Holds s->lock.
 */
static size_t land_append(struct sc_store *s, struct sc_store_batch *b,
			  struct append *a, int ring_ret, bool room,
			  size_t *nmine)
{
	bool written = append_written(s, b, a, ring_ret);
	struct pack *p = &s->packs[a->pack];
	size_t installed = 0, last = 0;
	/* The append's writes, shared out: each its bytes, the last the rest. */
	uint64_t cost = written ? b->io[a->data_io].len + b->io[a->table_io].len
				: 0;

	if (!written && a->data_io != SIZE_MAX)
		s->stats.io_errors++;
	for (size_t i = 0; i < b->n; i++) {
		struct placing *pl = &b->pl[i];
		uint32_t obj;

		if (pl->append != (uint32_t)(a - b->ap))
			continue;
		b->w[i].device_bytes = written ? pl->e.length : 0;
		cost -= b->w[i].device_bytes;
		last = i;
		if (!written || !room || p->doomed) {
			b->w[i].result = !written ? -EIO
					 : !room  ? -ENOMEM
						  : -ESTALE;
			continue;
		}
		b->w[i].result = object_for(s, &b->w[i], &obj);
		p = &s->packs[a->pack];
		if (b->w[i].result < 0) {
			/* On the device all the same: dead from the start. */
			sc_pack_set_entry_bit(p->dead, pl->entry);
			continue;
		}
		store_install_member(s, a->pack, obj, &pl->e, pl->entry);
		p = &s->packs[a->pack];
		s->stats.stored_bytes += pl->e.length;
		installed++;
	}
	if (written && !p->doomed) {
		uint32_t page = a->end / SC_PAGE_BYTES * SC_PAGE_BYTES;
		uint32_t from = page > a->start ? page : a->start;

		p->entries = a->base + a->count;
		p->crc = a->crc_after;
		p->fill = a->end;
		/* The next batch starts in this page: its bytes so far. */
		memcpy(p->table + SC_TRAILER_BYTES + (from - page),
		       a->data + (from - a->start), a->end - from);
		if (a->new_pack) {
			s->slots[a->slot].state = SLOT_USED;
			s->stats.used_slots++;
			s->stats.packed_slots++;
		}
		s->stats.unsynced_slots++;
		b->mine[(*nmine)++] =
			(struct unsynced){ .slot = a->slot,
					   .gen = s->slots[a->slot].gen,
					   .entries = (uint8_t)p->entries,
					   .entries_crc = p->crc };
		s->sb.write_bytes += b->io[a->data_io].len;
		s->stats.device_written_bytes +=
			b->io[a->data_io].len + b->io[a->table_io].len;
	}
	b->w[last].device_bytes += (uint32_t)cost;
	p->busy = false;
	if (open_index(s, a->pack) == OPEN_PACKS) {
		free(p->table); /* closed: no batch adds to it again */
		p->table = NULL;
	}
	if (p->doomed || p->live == 0 || s->slots[a->slot].state != SLOT_USED)
		store_free_slot(s, a->slot);
	return installed;
}

size_t sc_store_write_end(struct sc_store *s, struct sc_store_batch *b)
{
	struct sc_store_write *w;
	size_t stored = 0, nmine = 0;
	int ring_ret;
	bool listed, room;

	if (!b)
		return 0;
	w = b->w;
	ring_ret = sc_io_wait(b->io, b->nio);
	if (b->nsectors) {
		int ret = sc_io_wait(b->sectors, (size_t)b->nsectors);

		store_finish_dirty(s, b->sectors, (size_t)b->nsectors,
				   ring_ret < 0 ? ring_ret : ret);
	}

	pthread_mutex_lock(&s->lock);
	/* Without room in the index, nothing written can be installed. */
	room = store_reserve(s, (uint32_t)b->n);
	for (size_t i = 0, k = 0; i < b->n; i++) {
		const struct sc_io *data = &b->io[k],
				   *trailer = &b->io[b->ndata + k];
		uint32_t slot = b->pl[i].slot, obj;
		bool written;

		if (slot == NONE)
			continue;
		k++;
		if (ring_ret < 0) {
			store_device_error(s, IO_WRITE, ring_ret);
			written = false;
		} else {
			written = store_write_result(s, data->res,
						     (uint32_t)data->len);
			written &= store_write_result(s, trailer->res,
						      SC_TRAILER_BYTES);
		}
		w[i].device_bytes =
			written ? (uint32_t)data->len + SC_TRAILER_BYTES : 0;
		if (!written || !room) {
			w[i].result = written ? -ENOMEM : -EIO;
			s->stats.io_errors += !written;
			store_free_slot(s, slot);
			continue;
		}
		w[i].result = object_for(s, &w[i], &obj);
		if (w[i].result < 0) {
			store_free_slot(s, slot);
			continue;
		}
		store_install_slot(s, slot, obj, w[i].cluster, b->t[i].data_crc,
				   w[i].valid_mask);
		s->slots[slot].unsynced = 1;
		s->stats.unsynced_slots++;
		b->mine[nmine++] =
			(struct unsynced){ .slot = slot,
					   .gen = s->slots[slot].gen };
		store_crc_cache_put(s, slot, b->t[i].page_crc);
		s->sb.write_bytes += data->len;
		s->stats.device_written_bytes += data->len + SC_TRAILER_BYTES;
		s->stats.stored_bytes +=
			(uint64_t)__builtin_popcount(w[i].valid_mask) *
			SC_PAGE_BYTES;
		stored++;
	}
	for (uint32_t k = 0; k < b->nap; k++)
		stored += land_append(s, b, &b->ap[k], ring_ret, room, &nmine);
	/*
	 * Durable later, by the syncer, while the next batches are written:
	 * a sync here would leave the device idle through every flush.
	 */
	listed = store_add_unsynced(s, b->mine, nmine) &&
		 (nmine == 0 || store_wake_syncer(s));
	pthread_mutex_unlock(&s->lock);
	if (!listed) { /* no memory or no thread: made durable now */
		store_settle_unsynced(s, b->mine, nmine, sc_io_datasync(s->fd));
		b->mine = NULL;
	}
	free_batch(b);
	return stored;
}

size_t sc_store_write(struct sc_store *s, struct sc_store_write *w, size_t n)
{
	return sc_store_write_end(s, sc_store_write_begin(s, w, n));
}
