// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Making the index durable: the dirty index sectors are encoded and
 * written in order, and the syncer thread fdatasyncs written clusters before
 * their records may reach the device, so that after a crash every record
 * points to data that is there.
 */
#include "store_int.h"

/*
 * The record of a packed slot: the entries a sync has covered and which of
 * them are dead.  False while none is covered (its record stays free).
 */
static bool packed_record(const struct sc_store *s, const struct slot *sl,
			  struct sc_record *rec)
{
	const struct pack *p = &s->packs[sl->obj];
	uint32_t n = p->synced;

	if (n == 0)
		return false;
	*rec = (struct sc_record){
		.cluster = n,
		.slot = p->slot,
		.data_crc = p->synced_crc,
		.flags = SC_RECORD_USED | SC_RECORD_PACKED,
		.sequence = s->sequence,
		.format_id = s->format_id,
	};
	/* Entries past those vouched for are not the record's. */
	for (unsigned i = 0; i < 2; i++) {
		uint64_t within = sc_pack_entries_below(n, i);

		rec->dead[i] = p->dead[i] & within;
		rec->ram[i] = p->ram[i] & within & ~p->dead[i];
	}
	return true;
}

static void encode_sector(struct sc_store *s, uint64_t sector, void *buf)
{
	unsigned char *b = buf;

	memset(b, 0, SC_SECTOR_BYTES);
	for (uint32_t i = 0; i < SC_RECORDS_PER_SECTOR; i++) {
		uint64_t slot = sector * SC_RECORDS_PER_SECTOR + i;
		const struct slot *sl;
		struct sc_record rec;

		if (slot >= s->sb.nslots)
			break;
		sl = &s->slots[slot];
		if (sl->state != SLOT_USED || sl->unsynced)
			continue; /* zero: free */
		if (sl->packed) {
			if (packed_record(s, sl, &rec))
				sc_record_encode(&rec, b + i * SC_RECORD_BYTES);
			continue;
		}
		rec = (struct sc_record){
			.object = s->objects[sl->obj].name,
			.validator = s->objects[sl->obj].validator,
			.cluster = sl->cluster,
			.slot = (uint32_t)slot,
			.data_crc = sl->data_crc,
			.valid_mask = sl->valid_mask,
			.flags = SC_RECORD_USED,
			.sequence = s->sequence,
			.format_id = s->format_id,
			.ram_mask = s->ram_masks ? s->ram_masks[slot] &
							   sl->valid_mask
						 : 0,
		};
		sc_record_encode(&rec, b + i * SC_RECORD_BYTES);
	}
}

/*
 * The dirty index sectors, encoded from the RAM index and taken off the
 * dirty map, as writes for the caller to submit.  Returns how many (0 when
 * none; -ENOMEM).  Caller holds s->lock and frees *ret_bufs.
 */
ssize_t store_collect_dirty(struct sc_store *s, struct sc_io *io, size_t max,
			    unsigned char **ret_bufs)
{
	size_t n = 0, cap = 0;
	unsigned char *bufs;

	*ret_bufs = NULL;
	for (uint64_t w = 0; w < (s->nsectors + 63) / 64; w++)
		cap += (size_t)__builtin_popcountll(s->dirty[w]);
	if (cap > max)
		cap = max;
	if (cap == 0)
		return 0;
	bufs = store_aligned_alloc_zero(cap * SC_SECTOR_BYTES);
	if (!bufs)
		return -ENOMEM;
	s->sequence++;
	for (uint64_t w = 0; w < (s->nsectors + 63) / 64 && n < cap; w++) {
		while (s->dirty[w] && n < cap) {
			uint64_t sector =
				w * 64 + (uint64_t)__builtin_ctzll(s->dirty[w]);

			s->dirty[w] &= s->dirty[w] - 1;
			encode_sector(s, sector, bufs + n * SC_SECTOR_BYTES);
			io[n] = (struct sc_io){
				.buf = bufs + n * SC_SECTOR_BYTES,
				.len = SC_SECTOR_BYTES,
				.off = s->sb.index_offset +
				       sector * SC_SECTOR_BYTES,
				.write = true,
			};
			n++;
		}
	}
	*ret_bufs = bufs;
	return (ssize_t)n;
}

/*
 * After the sector writes of store_collect_dirty ran (ret: the batch's own
 * result): sectors not written are dirty again, for the next commit.
 */
int store_finish_dirty(struct sc_store *s, const struct sc_io *io, size_t n,
		       int batch_ret)
{
	int ret = batch_ret;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t sector;

		if (batch_ret < 0) { /* not written at all */
			store_device_error(s, IO_WRITE, batch_ret);
		} else if (store_write_result(s, io[i].res, SC_SECTOR_BYTES)) {
			s->stats.device_written_bytes += SC_SECTOR_BYTES;
			continue;
		}
		s->stats.io_errors++;
		sector = (io[i].off - s->sb.index_offset) / SC_SECTOR_BYTES;
		s->dirty[sector / 64] |= 1ULL << (sector % 64);
		if (ret == 0)
			ret = io[i].res < 0 ? io[i].res : -EIO;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/*
 * The unsynced list, taken whole (every slot on it was written before
 * this call).  Caller holds s->lock and gives the list to store_settle_unsynced.
 */
static struct unsynced *take_unsynced(struct sc_store *s, size_t *ret_n)
{
	struct unsynced *u = s->unsynced;

	*ret_n = s->nunsynced;
	s->unsynced = NULL;
	s->nunsynced = s->unsynced_cap = 0;
	return u;
}

/* Append u[n] to the unsynced list; false without memory.  Holds lock. */
bool store_add_unsynced(struct sc_store *s, const struct unsynced *u, size_t n)
{
	if (n == 0)
		return true;
	if (s->nunsynced + n > s->unsynced_cap) {
		size_t cap = 2 * (s->nunsynced + n);
		struct unsynced *grown =
			realloc(s->unsynced, cap * sizeof(*grown));

		if (!grown)
			return false;
		s->unsynced = grown;
		s->unsynced_cap = cap;
	}
	memcpy(s->unsynced + s->nunsynced, u, n * sizeof(*u));
	s->nunsynced += n;
	return true;
}

/*
 * The sync that covers entries of a packed slot returned sync_ret: its
 * record may vouch for them now (or, if it failed, the slot goes).
 */
static void settle_pack(struct sc_store *s, const struct unsynced *u,
			int sync_ret)
{
	struct slot *sl = &s->slots[u->slot];
	struct pack *p;

	s->stats.unsynced_slots--;
	if (sl->state != SLOT_USED || !sl->packed || sl->gen != u->gen)
		return;
	p = &s->packs[sl->obj];
	if (sync_ret < 0) {
		store_device_error(s, IO_WRITE, sync_ret);
		s->stats.io_errors++;
		store_free_slot(s, u->slot);
	} else if (u->entries > p->synced) {
		p->synced = u->entries;
		p->synced_crc = u->entries_crc;
		store_mark_dirty(s, u->slot);
	}
}

/*
 * An fdatasync that began after the slots of u[n] were written returned
 * sync_ret: their records may go out now, with the next sector writes.
 * If it failed they are dropped instead (misses from now on).  A slot
 * freed or reused meanwhile is left to its new owner.  Frees u.
 */
void store_settle_unsynced(struct sc_store *s, struct unsynced *u, size_t n,
			   int sync_ret)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &s->slots[u[i].slot];

		if (u[i].entries) {
			settle_pack(s, &u[i], sync_ret);
			continue;
		}
		if (sl->state != SLOT_USED || !sl->unsynced ||
		    sl->gen != u[i].gen)
			continue;
		if (sync_ret < 0) {
			/* Each cluster not made durable is a device error. */
			store_device_error(s, IO_WRITE, sync_ret);
			s->stats.io_errors++;
			store_free_slot(s, u[i].slot);
			continue;
		}
		sl->unsynced = 0;
		s->stats.unsynced_slots--;
		store_mark_dirty(s, u[i].slot);
	}
	pthread_mutex_unlock(&s->lock);
	free(u);
}

/*
 * The syncer's loop: whenever clusters await a sync, take them all, sync
 * (the writers keep writing meanwhile), settle them, and look again.
 */
static void *syncer_main(void *arg)
{
	struct sc_store *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->syncer_stop) {
		struct unsynced *u;
		size_t n;

		if (s->nunsynced == 0) {
			pthread_cond_wait(&s->sync_wake, &s->lock);
			continue;
		}
		u = take_unsynced(s, &n);
		s->syncing = true;
		pthread_mutex_unlock(&s->lock);
		/* This thread queues no I/O: sc_io_datasync is fdatasync. */
		store_settle_unsynced(s, u, n, sc_io_datasync(s->fd));
		pthread_mutex_lock(&s->lock);
		s->syncing = false;
		pthread_cond_broadcast(&s->sync_idle);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Tell the syncer there is work, starting it first; false if it cannot. */
bool store_wake_syncer(struct sc_store *s)
{
	if (!s->syncer_started) {
		if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0)
			return false;
		pthread_setname_np(s->syncer, "ssd-sync");
		s->syncer_started = true;
	}
	pthread_cond_signal(&s->sync_wake);
	return true;
}

void store_stop_syncer(struct sc_store *s)
{
	pthread_mutex_lock(&s->lock);
	s->syncer_stop = true;
	pthread_cond_signal(&s->sync_wake);
	pthread_mutex_unlock(&s->lock);
	if (s->syncer_started)
		pthread_join(s->syncer, NULL);
}

int sc_store_commit(struct sc_store *s)
{
	unsigned char *bufs;
	struct unsynced *u;
	struct sc_io *io;
	size_t nu;
	ssize_t n;
	int ret;

	if (sc_store_failed(s))
		return -EIO;
	pthread_mutex_lock(&s->commit_lock);
	pthread_mutex_lock(&s->lock);
	/* What the syncer has in hand must be settled before we collect. */
	while (s->syncing)
		pthread_cond_wait(&s->sync_idle, &s->lock);
	u = take_unsynced(s, &nu);
	pthread_mutex_unlock(&s->lock);
	if (nu)
		store_settle_unsynced(s, u, nu, sc_io_datasync(s->fd));
	else
		free(u);
	pthread_mutex_lock(&s->lock);
	SC_SANITY_CHECK(store_sanity(s));
	io = calloc(s->nsectors ? s->nsectors : 1, sizeof(*io));
	n = io ? store_collect_dirty(s, io, s->nsectors, &bufs) : -ENOMEM;
	pthread_mutex_unlock(&s->lock);
	if (n <= 0) {
		pthread_mutex_unlock(&s->commit_lock);
		free(io);
		return (int)n;
	}
	ret = sc_io_batch(s->fd, io, (size_t)n, 0);
	ret = store_finish_dirty(s, io, (size_t)n, ret);
	pthread_mutex_unlock(&s->commit_lock);
	free(io);
	free(bufs);
	return ret;
}

/* Commit, then make the freed records durable before their slots are reused. */
int store_drop_durably(struct sc_store *s)
{
	int ret = sc_store_commit(s);

	if (ret == 0) {
		ret = sc_io_datasync(s->fd);
		if (ret < 0)
			store_device_error(s, IO_WRITE, ret);
	}
	return ret;
}
