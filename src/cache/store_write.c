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

/* A batch of cluster writes in flight, from sc_store_write_begin to _end. */
struct sc_store_batch {
	struct sc_store_write *w;
	size_t n, ndata, nio;  /* io[0, ndata) data, [ndata, nio) trailers */
	size_t cap;	       /* n, at least 1 */
	struct sc_io *io;      /* [3 cap] */
	struct sc_io *sectors; /* io + 2 cap: up to cap index sector writes */
	ssize_t nsectors;
	struct sc_trailer *t;
	uint32_t *slot;
	struct unsynced *mine;
	unsigned char *tbuf, *sector_bufs;
};

static void free_batch(struct sc_store_batch *b)
{
	if (!b)
		return;
	free(b->io);
	free(b->t);
	free(b->slot);
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
		.slot = calloc(cap, sizeof(*b->slot)),
		.mine = calloc(cap, sizeof(*b->mine)),
		.tbuf = store_aligned_alloc_zero(cap * SC_TRAILER_BYTES),
	};
	if (!b->io || !b->t || !b->slot || !b->mine || !b->tbuf) {
		free_batch(b);
		return NULL;
	}
	b->cap = cap;
	b->sectors = b->io + 2 * cap;
	return b;
}

struct sc_store_batch *sc_store_write_begin(struct sc_store *s,
					    struct sc_store_write *w, size_t n)
{
	struct sc_store_batch *b = sc_store_failed(s) ? NULL
						      : alloc_batch(w, n);
	uint32_t *slot;
	struct sc_io *io;

	if (!b) {
		for (size_t i = 0; i < n; i++)
			w[i].result = sc_store_failed(s) ? -EIO : -ENOMEM;
		return NULL;
	}
	slot = b->slot;
	io = b->io;

	/* Reserve slots: invisible to readers until installed. */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		slot[i] = NONE;
		w[i].result = 0;
		if (w[i].valid_mask == 0) {
			w[i].result = -EINVAL;
		} else if (s->nfree_slots == 0) {
			w[i].result = -ENOSPC;
		} else {
			slot[i] = s->free_slots[--s->nfree_slots];
			s->slots[slot[i]].state = SLOT_WRITING;
			s->slots[slot[i]].gen++;
		}
	}
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

		if (slot[i] == NONE)
			continue;
		pages = sc_store_written_pages(w[i].valid_mask, &first);
		io[b->ndata++] = (struct sc_io){
			.buf = (unsigned char *)w[i].buf +
			       (size_t)first * SC_PAGE_BYTES,
			.len = pages * SC_PAGE_BYTES,
			.off = slot_offset(s, slot[i]) +
			       (uint64_t)first * SC_PAGE_BYTES,
			.write = true,
		};
	}
	sc_io_submit(s->fd, io, b->ndata, s->queue_depth);
	b->nio = b->ndata;
	for (size_t i = 0; i < n; i++) {
		struct sc_trailer *t = &b->t[i];

		if (slot[i] == NONE)
			continue;
		*t = (struct sc_trailer){ .format_id = s->format_id,
					  .object = w[i].object,
					  .cluster = w[i].cluster,
					  .slot = slot[i],
					  .valid_mask = w[i].valid_mask };
		t->data_crc = store_cluster_crcs(w[i].buf, w[i].valid_mask,
						 t->page_crc);
		sc_trailer_encode(t, b->tbuf + i * SC_TRAILER_BYTES);
		io[b->nio++] =
			(struct sc_io){ .buf = b->tbuf + i * SC_TRAILER_BYTES,
					.len = SC_TRAILER_BYTES,
					.off = trailer_offset(s, slot[i]),
					.write = true };
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

size_t sc_store_write_end(struct sc_store *s, struct sc_store_batch *b)
{
	struct sc_store_write *w;
	size_t stored = 0;
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
	room = store_reserve(s, (uint32_t)b->ndata);
	for (size_t i = 0, k = 0; i < b->n; i++) {
		const struct sc_io *data = &b->io[k],
				   *trailer = &b->io[b->ndata + k];
		uint32_t slot = b->slot[i], obj;
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
		if (!written || !room) {
			w[i].result = written ? -ENOMEM : -EIO;
			s->stats.io_errors += !written;
			store_free_slot(s, slot);
			continue;
		}
		if (w[i].check_epoch &&
		    s->epochs[w[i].object % SC_STORE_EPOCHS] != w[i].epoch) {
			/* Invalidated while we wrote it: it may be stale. */
			w[i].result = -ESTALE;
			store_free_slot(s, slot);
			continue;
		}
		obj = store_object_get(s, w[i].object, w[i].validator);
		if (obj != NONE &&
		    s->objects[obj].validator != w[i].validator) {
			/* New contents: what was stored is stale. */
			store_drop_object(s, obj);
			obj = store_object_get(s, w[i].object, w[i].validator);
		}
		if (obj == NONE) {
			w[i].result = -ENOSPC;
			store_free_slot(s, slot);
			continue;
		}
		store_install_slot(s, slot, obj, w[i].cluster, b->t[i].data_crc,
				   w[i].valid_mask);
		s->slots[slot].unsynced = 1;
		s->stats.unsynced_slots++;
		b->mine[stored++] =
			(struct unsynced){ .slot = slot,
					   .gen = s->slots[slot].gen };
		store_crc_cache_put(s, slot, b->t[i].page_crc);
		s->sb.write_bytes += data->len;
	}
	/*
	 * Durable later, by the syncer, while the next batches are written:
	 * a sync here would leave the device idle through every flush.
	 */
	listed = store_add_unsynced(s, b->mine, stored) &&
		 (stored == 0 || store_wake_syncer(s));
	pthread_mutex_unlock(&s->lock);
	if (!listed) { /* no memory or no thread: made durable now */
		store_settle_unsynced(s, b->mine, stored,
				      sc_io_datasync(s->fd));
		b->mine = NULL;
	}
	free_batch(b);
	return stored;
}

size_t sc_store_write(struct sc_store *s, struct sc_store_write *w, size_t n)
{
	return sc_store_write_end(s, sc_store_write_begin(s, w, n));
}
