// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fetches in flight (see fetches.h).
 */
#include "fetches.h"

void sc_fetches_init(struct sc_fetches *q)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->done, NULL);
}

void sc_fetches_destroy(struct sc_fetches *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->done);
}

int sc_fetches_find_room(const struct sc_fetches *q, uint32_t cluster,
			 unsigned want, uint32_t *ret_end, uint32_t *ret_cover)
{
	int slot = -1;

	*ret_end = cluster + want;
	*ret_cover = 0;
	for (unsigned i = 0; i < SC_FETCHES; i++) {
		if (!q->end[i]) {
			if (slot < 0)
				slot = (int)i;
		} else if (q->first[i] <= cluster && cluster < q->end[i]) {
			*ret_cover = q->end[i];
		} else if (q->first[i] > cluster && q->first[i] < *ret_end) {
			*ret_end = q->first[i];
		}
	}
	return slot;
}

int sc_fetches_claim(struct sc_fetches *q, uint32_t cluster, unsigned want,
		     uint32_t completed_seen, unsigned *ret_n)
{
	bool waited = false;
	uint32_t end, cover;
	int slot;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		slot = sc_fetches_find_room(q, cluster, want, &end, &cover);
		/*
		 * A fetch that ended since the caller looked in the pool may
		 * have brought this cluster: look again rather than fetch it.
		 */
		waited |= q->completed != completed_seen;
		if (!cover && waited) {
			slot = -1; /* its pages should be in the pool now */
			break;
		}
		if (!cover && slot >= 0) {
			q->first[slot] = cluster;
			q->end[slot] = end;
			*ret_n = end - cluster;
			break;
		}
		waited |= cover != 0;
		pthread_cond_wait(&q->done, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return slot;
}

void sc_fetches_release(struct sc_fetches *q, int slot)
{
	pthread_mutex_lock(&q->lock);
	q->end[slot] = 0;
	atomic_fetch_add(&q->completed, 1);
	pthread_cond_broadcast(&q->done);
	pthread_mutex_unlock(&q->lock);
}
