// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cache flags (see policy.h; the device layout is in include/format.h).
 *
 * Flags are few and change rarely: they sit in an array with an
 * open-addressing index, rebuilt whenever one is added or removed, and
 * the whole set is written to the device again at each change.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "hash.h"
#include "le.h"
#include "policy.h"
#include "relpath.h"
#include "store.h"

#define MAGIC "SWPCFLAG"
#define VERSION 1u
#define HEADER_BYTES 24u /* magic, version, count, bytes, crc */
#define MAX_CLUSTERS 64u /* 4 MiB: 8192 flags of the longest paths */

struct flag {
	char *path;
	uint8_t flag;
};

struct sc_policy {
	struct sc_store *store;
	pthread_mutex_t lock;
	uint64_t object;
	struct flag *flags; /* by lock */
	uint32_t n;
	uint32_t *index; /* entry + 1; 0 empty; by lock */
	uint32_t index_cap;
	uint32_t clusters; /* written to the device */
};

/* The index slot of the len first bytes of path, or its empty slot. */
static uint32_t slot_of(const struct sc_policy *p, const char *path, size_t len)
{
	uint32_t mask = p->index_cap - 1;
	uint32_t i = sc_fnv1a(path, len) & mask;

	while (p->index[i]) {
		const char *have = p->flags[p->index[i] - 1].path;

		if (strlen(have) == len && memcmp(have, path, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static int reindex(struct sc_policy *p)
{
	uint32_t cap = 16;
	uint32_t *index;

	while (cap < 2 * p->n + 2)
		cap *= 2;
	index = calloc(cap, sizeof(*index));
	if (!index)
		return -ENOMEM;
	free(p->index);
	p->index = index;
	p->index_cap = cap;
	for (uint32_t i = 0; i < p->n; i++)
		p->index[slot_of(p, p->flags[i].path, strlen(p->flags[i].path))] =
			i + 1;
	return 0;
}

/* The flag of the len first bytes of path; 0 when none. */
static uint8_t flag_of(const struct sc_policy *p, const char *path, size_t len)
{
	uint32_t at;

	if (!p->n)
		return SC_FLAG_NONE;
	at = slot_of(p, path, len);
	return p->index[at] ? p->flags[p->index[at] - 1].flag : SC_FLAG_NONE;
}

static int add(struct sc_policy *p, const char *path, uint8_t flag)
{
	struct flag *grown;
	char *copy;

	if (p->n == SC_POLICY_MAX_FLAGS)
		return -ENOSPC;
	copy = strdup(path);
	grown = realloc(p->flags, (p->n + 1) * sizeof(*grown));
	if (!copy || !grown) {
		free(copy);
		if (grown)
			p->flags = grown;
		return -ENOMEM;
	}
	p->flags = grown;
	p->flags[p->n++] = (struct flag){ copy, flag };
	return 0;
}

/* ---- on the device ---- */

static size_t encoded_bytes(const struct sc_policy *p)
{
	size_t n = HEADER_BYTES;

	for (uint32_t i = 0; i < p->n; i++)
		n += 3 + strlen(p->flags[i].path);
	return n;
}

static void encode(const struct sc_policy *p, unsigned char *buf, size_t len)
{
	size_t at = HEADER_BYTES;

	memcpy(buf, MAGIC, 8);
	sc_put_le(buf + 8, VERSION, 4);
	sc_put_le(buf + 12, p->n, 4);
	sc_put_le(buf + 16, len, 4);
	for (uint32_t i = 0; i < p->n; i++) {
		size_t n = strlen(p->flags[i].path);

		buf[at] = p->flags[i].flag;
		sc_put_le(buf + at + 1, n, 2);
		memcpy(buf + at + 3, p->flags[i].path, n);
		at += 3 + n;
	}
	sc_put_le(buf + 20,
		  sc_crc32c(0, buf + HEADER_BYTES, len - HEADER_BYTES), 4);
}

/* Decode the set in buf, whose clusters hold have bytes. */
static int decode(struct sc_policy *p, const unsigned char *buf, size_t have)
{
	uint32_t count = (uint32_t)sc_get_le(buf + 12, 4);
	size_t len = sc_get_le(buf + 16, 4), at = HEADER_BYTES;
	char path[PATH_MAX];

	if (len < HEADER_BYTES || len > have ||
	    sc_get_le(buf + 20, 4) !=
		    sc_crc32c(0, buf + HEADER_BYTES, len - HEADER_BYTES))
		return -EBADMSG;
	for (uint32_t i = 0; i < count; i++) {
		size_t n;

		if (len - at < 3)
			return -EBADMSG;
		n = sc_get_le(buf + at + 1, 2);
		if (n == 0 || n >= sizeof(path) || len - at - 3 < n ||
		    (buf[at] != SC_FLAG_CACHE && buf[at] != SC_FLAG_NOSCACHE))
			return -EBADMSG;
		memcpy(path, buf + at + 3, n);
		path[n] = '\0';
		if (strlen(path) != n || add(p, path, buf[at]) < 0)
			return -EBADMSG;
		at += 3 + n;
	}
	return at == len ? 0 : -EBADMSG;
}

static unsigned char *alloc_clusters(uint32_t n)
{
	void *buf = NULL;

	if (posix_memalign(&buf, SC_PAGE_BYTES, (size_t)n * SC_CLUSTER_BYTES))
		return NULL;
	memset(buf, 0, (size_t)n * SC_CLUSTER_BYTES);
	return buf;
}

/*
 * Read the flags back from the device: a set that does not decode is
 * dropped whole (*ret_dropped).
 */
static int load(struct sc_policy *p, bool *ret_dropped)
{
	struct sc_store *store = p->store;
	unsigned char *buf = alloc_clusters(MAX_CLUSTERS);
	uint16_t mask;
	size_t len = 0;
	uint32_t c = 0;
	int ret = 0;

	*ret_dropped = false;
	if (!buf)
		return -ENOMEM;
	if (sc_store_read(store, p->object, SC_PINNED_VALIDATOR, 0, buf,
			  &mask) < 0 ||
	    memcmp(buf, MAGIC, 8) != 0 || sc_get_le(buf + 8, 4) != VERSION)
		goto out; /* none yet (or unreadable: start afresh) */
	for (c = 1; c < MAX_CLUSTERS; c++)
		if (sc_store_read(store, p->object, SC_PINNED_VALIDATOR, c,
				  buf + (size_t)c * SC_CLUSTER_BYTES,
				  &mask) < 0)
			break;
	len = (size_t)c * SC_CLUSTER_BYTES;
	ret = decode(p, buf, len);
	*ret_dropped = ret < 0;
out:
	p->clusters = ret == 0 ? c : 0;
	free(buf);
	if (ret < 0) {
		while (p->n)
			free(p->flags[--p->n].path);
	}
	return reindex(p);
}

/* Write the whole set to the device and make it durable. */
static int persist(struct sc_policy *p)
{
	size_t len = encoded_bytes(p);
	uint32_t n =
		(uint32_t)((len + SC_CLUSTER_BYTES - 1) / SC_CLUSTER_BYTES);
	struct sc_store_write w[MAX_CLUSTERS];
	unsigned char *buf;
	int ret = 0;

	if (n > MAX_CLUSTERS)
		return -ENOSPC;
	buf = alloc_clusters(n);
	if (!buf)
		return -ENOMEM;
	encode(p, buf, len);
	for (uint32_t c = 0; c < n; c++) {
		size_t in = len - (size_t)c * SC_CLUSTER_BYTES;
		uint32_t pages = in >= SC_CLUSTER_BYTES
					 ? SC_CLUSTER_PAGES
					 : (uint32_t)((in + SC_PAGE_BYTES - 1) /
						      SC_PAGE_BYTES);

		w[c] = (struct sc_store_write){
			.object = p->object,
			.validator = SC_PINNED_VALIDATOR,
			.cluster = c,
			.valid_mask = (uint16_t)((1u << pages) - 1),
			.buf = buf + (size_t)c * SC_CLUSTER_BYTES,
		};
	}
	if (sc_store_write(p->store, w, n) != n)
		ret = -EIO;
	free(buf);
	for (uint32_t c = n; ret == 0 && c < p->clusters; c++)
		sc_store_drop_cluster(p->store, p->object, c);
	if (ret == 0 && sc_store_commit(p->store) < 0)
		ret = -EIO;
	if (ret == 0)
		p->clusters = n;
	return ret;
}

/* ---- the interface ---- */

int sc_policy_open(struct sc_store *store, const char *backing_path,
		   struct sc_policy **ret, bool *ret_dropped)
{
	char name[PATH_MAX + 16];
	struct sc_policy *p = calloc(1, sizeof(*p));
	int n, err;

	if (!p)
		return -ENOMEM;
	p->store = store;
	pthread_mutex_init(&p->lock, NULL);
	/* BACKING's path, a NUL (which no path holds), "flags". */
	n = snprintf(name, sizeof(name), "%s%cflags", backing_path, '\0');
	p->object = sc_store_object_name(store, name, (size_t)n) | 1;
	err = load(p, ret_dropped);
	if (err < 0) {
		sc_policy_close(p);
		return err;
	}
	*ret = p;
	return 0;
}

void sc_policy_close(struct sc_policy *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->n; i++)
		free(p->flags[i].path);
	free(p->flags);
	free(p->index);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

enum sc_flag sc_policy_get(struct sc_policy *p, const char *path)
{
	enum sc_flag f;

	if (!p)
		return SC_FLAG_NONE;
	pthread_mutex_lock(&p->lock);
	f = flag_of(p, path, strlen(path));
	pthread_mutex_unlock(&p->lock);
	return f;
}

/* Remove the flags for which drop(path) is true; true if any was. */
static bool remove_where(struct sc_policy *p,
			 bool (*drop)(const char *path, const char *arg),
			 const char *arg)
{
	uint32_t kept = 0, n = p->n;

	for (uint32_t i = 0; i < n; i++) {
		if (drop(p->flags[i].path, arg))
			free(p->flags[i].path);
		else
			p->flags[kept++] = p->flags[i];
	}
	p->n = kept;
	return kept != n;
}

static bool is_path(const char *path, const char *arg)
{
	return strcmp(path, arg) == 0;
}

int sc_policy_set(struct sc_policy *p, const char *path, enum sc_flag flag)
{
	int ret = 0;

	if (!p)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&p->lock);
	if (flag_of(p, path, strlen(path)) == flag)
		goto out;
	remove_where(p, is_path, path);
	if (flag != SC_FLAG_NONE)
		ret = add(p, path, (uint8_t)flag);
	if (ret == 0)
		ret = reindex(p);
	if (ret == 0)
		ret = persist(p);
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

bool sc_policy_allows(struct sc_policy *p, const char *path)
{
	bool cache = false, noscache = false;
	size_t len = strlen(path);

	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	/* The path itself, each directory above it, and the root ("."). */
	for (;;) {
		uint8_t f = flag_of(p, path, len);

		cache |= f == SC_FLAG_CACHE;
		noscache |= f == SC_FLAG_NOSCACHE;
		while (len > 0 && path[len - 1] != '/')
			len--;
		if (len == 0)
			break;
		len--; /* the slash */
	}
	if (strcmp(path, ".") != 0) {
		uint8_t f = flag_of(p, ".", 1);

		cache |= f == SC_FLAG_CACHE;
		noscache |= f == SC_FLAG_NOSCACHE;
	}
	pthread_mutex_unlock(&p->lock);
	return cache && !noscache;
}

void sc_policy_rename(struct sc_policy *p, const char *path, const char *to)
{
	size_t from_len = strlen(path);
	bool changed = false;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	/* Whatever was flagged at the target is gone: replaced. */
	changed |= remove_where(p, sc_path_is_below, to);
	for (uint32_t i = 0; i < p->n; i++) {
		char moved[PATH_MAX], *copy;
		int n;

		if (!sc_path_is_below(p->flags[i].path, path) ||
		    strcmp(path, ".") == 0)
			continue;
		n = snprintf(moved, sizeof(moved), "%s%s", to,
			     p->flags[i].path + from_len);
		if (n < 0 || (size_t)n >= sizeof(moved) ||
		    !(copy = strdup(moved)))
			continue;
		free(p->flags[i].path);
		p->flags[i].path = copy;
		changed = true;
	}
	if (changed && reindex(p) == 0)
		persist(p);
	pthread_mutex_unlock(&p->lock);
}

void sc_policy_remove(struct sc_policy *p, const char *path)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (remove_where(p, sc_path_is_below, path) && reindex(p) == 0)
		persist(p);
	pthread_mutex_unlock(&p->lock);
}

int sc_policy_parse(const char *text, size_t len, enum sc_flag *ret)
{
	static const struct {
		const char *name;
		enum sc_flag flag;
	} names[] = { { "cache", SC_FLAG_CACHE },
		      { "noscache", SC_FLAG_NOSCACHE },
		      { "none", SC_FLAG_NONE } };

	/* setfattr may send a trailing newline or NUL. */
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\0'))
		len--;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len &&
		    memcmp(names[i].name, text, len) == 0) {
			*ret = names[i].flag;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sc_policy_name(enum sc_flag flag)
{
	return flag == SC_FLAG_CACHE	  ? "cache"
	       : flag == SC_FLAG_NOSCACHE ? "noscache"
					  : "none";
}
