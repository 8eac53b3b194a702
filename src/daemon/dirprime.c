// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Listing a directory ahead of a run of opens in it (see dirprime.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "clock.h"
#include "dirprime.h"

void sc_dirprime_init(struct sc_dirprime *dp)
{
	pthread_mutex_init(&dp->lock, NULL);
	for (unsigned i = 0; i < SC_DIRPRIME_SLOTS; i++)
		dp->slots[i] = (struct sc_dirprime_slot){ 0 };
	atomic_init(&dp->listings, 0);
}

void sc_dirprime_destroy(struct sc_dirprime *dp)
{
	pthread_mutex_destroy(&dp->lock);
}

/* Read the directory at dir_fd to its end (or past max); its entries. */
static unsigned list_dir(int dir_fd, unsigned max)
{
	char buf[32768];
	unsigned entries = 0;
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	while (entries <= max && (n = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t at = 0; at < n;) {
			const struct dirent64 *d = (const void *)(buf + at);

			entries++;
			at += d->d_reclen;
		}
	}
	close(fd);
	return entries;
}

/* The slot of dir_key, and the key it holds there (0 marks an empty slot). */
static struct sc_dirprime_slot *slot_of(struct sc_dirprime *dp,
					uint32_t dir_key, uint32_t *ret_key)
{
	*ret_key = dir_key ? dir_key : 1;
	return &dp->slots[*ret_key % SC_DIRPRIME_SLOTS];
}

bool sc_dirprime_should_list(struct sc_dirprime *dp, uint32_t dir_key,
			     uint64_t now)
{
	uint32_t key;
	struct sc_dirprime_slot *slot = slot_of(dp, dir_key, &key);
	bool list;

	pthread_mutex_lock(&dp->lock);
	if (slot->key != key) {
		/* First seen, or it takes the place of another directory. */
		*slot = (struct sc_dirprime_slot){ .key = key,
						   .last_open_ns = now };
		pthread_mutex_unlock(&dp->lock);
		return false;
	}
	list = !slot->too_big &&
	       sc_elapsed_ns(slot->last_open_ns, now) < SC_DIRPRIME_RUN_NS &&
	       (slot->listed_ns == 0 ||
		sc_elapsed_ns(slot->listed_ns, now) >= SC_DIRPRIME_EVERY_NS);
	slot->last_open_ns = now;
	/* Taken now, so the other openers of the run do not list it too. */
	if (list)
		slot->listed_ns = now;
	pthread_mutex_unlock(&dp->lock);
	return list;
}

void sc_dirprime_list(struct sc_dirprime *dp, uint32_t dir_key, int dir_fd)
{
	uint32_t key;
	struct sc_dirprime_slot *slot = slot_of(dp, dir_key, &key);

	if (list_dir(dir_fd, SC_DIRPRIME_MAX_ENTRIES) >
	    SC_DIRPRIME_MAX_ENTRIES) {
		pthread_mutex_lock(&dp->lock);
		if (slot->key == key)
			slot->too_big = true;
		pthread_mutex_unlock(&dp->lock);
	}
	close(dir_fd);
	atomic_fetch_add(&dp->listings, 1);
}

void sc_dirprime_list_now(struct sc_dirprime *dp, int dir_fd)
{
	list_dir(dir_fd, UINT_MAX - 1);
	atomic_fetch_add(&dp->listings, 1);
}
