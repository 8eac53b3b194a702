// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Directory metadata records (see metarec.h; layout in include/format.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "hash.h"
#include "le.h"
#include "metarec.h"

#define NAME_MAX_BYTES 255u
#define LINK_MAX_BYTES 4095u

void sc_metarec_init(struct sc_metarec *r)
{
	memset(r, 0, sizeof(*r));
}

static void entry_free(struct sc_meta_entry *e)
{
	free(e->name);
	free(e->link);
}

void sc_metarec_free(struct sc_metarec *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		entry_free(&r->entries[i]);
	free(r->entries);
	free(r->index);
	sc_metarec_init(r);
}

/* The index slot holding name, or the empty slot where it would go. */
static uint32_t index_slot(const struct sc_metarec *r, const char *name)
{
	uint32_t mask = r->index_cap - 1,
		 i = sc_fnv1a(name, strlen(name)) & mask;

	while (r->index[i] &&
	       strcmp(r->entries[r->index[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

static int index_rebuild(struct sc_metarec *r, uint32_t cap)
{
	uint32_t *index = calloc(cap, sizeof(*index));

	if (!index)
		return -ENOMEM;
	free(r->index);
	r->index = index;
	r->index_cap = cap;
	for (uint32_t e = 0; e < r->n; e++)
		r->index[index_slot(r, r->entries[e].name)] = e + 1;
	return 0;
}

struct sc_meta_entry *sc_metarec_find(const struct sc_metarec *r,
				      const char *name)
{
	uint32_t slot;

	if (!r->index_cap)
		return NULL;
	slot = index_slot(r, name);
	return r->index[slot] ? &r->entries[r->index[slot] - 1] : NULL;
}

static bool valid_name(const char *name)
{
	size_t len = strnlen(name, NAME_MAX_BYTES + 1);

	return len > 0 && len <= NAME_MAX_BYTES && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

struct sc_meta_entry *sc_metarec_get(struct sc_metarec *r, const char *name)
{
	struct sc_meta_entry *e = sc_metarec_find(r, name);

	if (e)
		return e;
	if (!valid_name(name))
		return NULL;
	if (r->n == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 8;
		struct sc_meta_entry *grown =
			realloc(r->entries, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		r->entries = grown;
		r->cap = cap;
	}
	if (2 * (r->n + 1) >= r->index_cap &&
	    index_rebuild(r, r->index_cap ? r->index_cap * 2 : 16) < 0)
		return NULL;
	e = &r->entries[r->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return NULL;
	r->index[index_slot(r, name)] = ++r->n;
	return e;
}

void sc_metarec_prune(struct sc_metarec *r,
		      bool (*drop)(void *arg, const struct sc_meta_entry *e),
		      void *arg)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < r->n; i++) {
		if (drop(arg, &r->entries[i]))
			entry_free(&r->entries[i]);
		else
			r->entries[kept++] = r->entries[i];
	}
	if (kept == r->n)
		return;
	r->n = kept;
	/* The old index is as big as needed; rebuild it in place. */
	memset(r->index, 0, r->index_cap * sizeof(*r->index));
	for (uint32_t e = 0; e < r->n; e++)
		r->index[index_slot(r, r->entries[e].name)] = e + 1;
}

int sc_metarec_set_link(struct sc_meta_entry *e, const char *target)
{
	char *copy = NULL;

	if (target && strlen(target) <= LINK_MAX_BYTES &&
	    !(copy = strdup(target)))
		return -ENOMEM;
	free(e->link);
	e->link = copy;
	return 0;
}

static size_t entry_bytes(const struct sc_meta_entry *e)
{
	return SC_META_ENTRY_BYTES +
	       (e->state == SC_META_ATTR ? SC_META_ATTR_BYTES : 0) +
	       strlen(e->name) + (e->link ? strlen(e->link) : 0);
}

size_t sc_metarec_encoded_bytes(const struct sc_metarec *r)
{
	size_t bytes = SC_META_HEADER_BYTES + SC_META_ATTR_BYTES;

	for (uint32_t i = 0; i < r->n; i++)
		bytes += entry_bytes(&r->entries[i]);
	return bytes;
}

static void attr_encode(const struct sc_meta_attr *a, unsigned char *p)
{
	sc_put_le(p + 0, a->ino, 8);
	sc_put_le(p + 8, a->birth, 8);
	sc_put_le(p + 16, a->size, 8);
	sc_put_le(p + 24, a->blocks, 8);
	sc_put_le(p + 32, a->rdev, 8);
	sc_put_le(p + 40, a->dev, 8);
	sc_put_le(p + 48, (uint64_t)a->atime_ns, 8);
	sc_put_le(p + 56, (uint64_t)a->mtime_ns, 8);
	sc_put_le(p + 64, (uint64_t)a->ctime_ns, 8);
	sc_put_le(p + 72, a->mode, 4);
	sc_put_le(p + 76, a->nlink, 4);
	sc_put_le(p + 80, a->uid, 4);
	sc_put_le(p + 84, a->gid, 4);
	sc_put_le(p + 88, a->blksize, 4);
	sc_put_le(p + 92, a->foreign_dev ? SC_META_FOREIGN_DEV : 0, 4);
}

/* Decode the attributes at p: false when their flags are not ours. */
static bool attr_decode(const unsigned char *p, struct sc_meta_attr *a)
{
	a->ino = sc_get_le(p + 0, 8);
	a->birth = sc_get_le(p + 8, 8);
	a->size = sc_get_le(p + 16, 8);
	a->blocks = sc_get_le(p + 24, 8);
	a->rdev = sc_get_le(p + 32, 8);
	a->dev = sc_get_le(p + 40, 8);
	a->atime_ns = (int64_t)sc_get_le(p + 48, 8);
	a->mtime_ns = (int64_t)sc_get_le(p + 56, 8);
	a->ctime_ns = (int64_t)sc_get_le(p + 64, 8);
	a->mode = (uint32_t)sc_get_le(p + 72, 4);
	a->nlink = (uint32_t)sc_get_le(p + 76, 4);
	a->uid = (uint32_t)sc_get_le(p + 80, 4);
	a->gid = (uint32_t)sc_get_le(p + 84, 4);
	a->blksize = (uint32_t)sc_get_le(p + 88, 4);
	a->foreign_dev = sc_get_le(p + 92, 4) & SC_META_FOREIGN_DEV;
	return (sc_get_le(p + 92, 4) & ~(uint64_t)SC_META_FOREIGN_DEV) == 0;
}

uint32_t sc_metarec_checksum(const void *record, size_t len)
{
	static const unsigned char zero[8];
	const unsigned char *buf = record;
	uint32_t crc = sc_crc32c(0, buf, 16);

	crc = sc_crc32c(crc, zero, 8);
	crc = sc_crc32c(crc, buf + 24, 4);
	crc = sc_crc32c(crc, zero, 4);
	return sc_crc32c(crc, buf + 32, len - 32);
}

uint32_t sc_metarec_encode(const struct sc_metarec *r, uint64_t object,
			   void *buf)
{
	size_t len = sc_metarec_encoded_bytes(r);
	unsigned char *p = buf;
	size_t at = SC_META_HEADER_BYTES;
	uint32_t crc;

	memset(p, 0, SC_META_HEADER_BYTES);
	memcpy(p, SC_META_MAGIC, 8);
	sc_put_le(p + 8, SC_META_VERSION, 4);
	sc_put_le(p + 12, r->flags, 4);
	sc_put_le(p + 16, r->validated_ns, 8);
	sc_put_le(p + 24, len, 4);
	sc_put_le(p + 32, r->n, 4);
	sc_put_le(p + 40, object, 8);
	attr_encode(&r->self, p + at);
	at += SC_META_ATTR_BYTES;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct sc_meta_entry *e = &r->entries[i];
		size_t name_len = strlen(e->name);
		size_t link_len = e->link ? strlen(e->link) : 0;

		sc_put_le(p + at, name_len, 2);
		sc_put_le(p + at + 2, link_len, 2);
		p[at + 4] = e->state;
		p[at + 5] = e->dtype;
		sc_put_le(p + at + 6, 0, 2);
		sc_put_le(p + at + 8, e->validated_ns, 8);
		sc_put_le(p + at + 16, e->ino, 8);
		at += SC_META_ENTRY_BYTES;
		if (e->state == SC_META_ATTR) {
			attr_encode(&e->attr, p + at);
			at += SC_META_ATTR_BYTES;
		}
		memcpy(p + at, e->name, name_len);
		at += name_len;
		if (link_len)
			memcpy(p + at, e->link, link_len);
		at += link_len;
	}
	crc = sc_metarec_checksum(p, len);
	sc_put_le(p + 28, crc, 4);
	return crc;
}

long sc_metarec_length(const void *buf, size_t len, uint64_t object)
{
	const unsigned char *p = buf;
	uint64_t bytes;

	if (len < SC_META_HEADER_BYTES || memcmp(p, SC_META_MAGIC, 8) != 0 ||
	    sc_get_le(p + 8, 4) != SC_META_VERSION ||
	    sc_get_le(p + 40, 8) != object)
		return -EBADMSG;
	bytes = sc_get_le(p + 24, 4);
	if (bytes < SC_META_HEADER_BYTES + SC_META_ATTR_BYTES ||
	    bytes > SC_META_MAX_BYTES)
		return -EBADMSG;
	return (long)bytes;
}

/* Copy n bytes at *at of buf (len long) into a new string. */
static char *take_string(const unsigned char *buf, size_t len, size_t *at,
			 size_t n)
{
	char *s;

	if (n > len - *at || memchr(buf + *at, '\0', n))
		return NULL;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, buf + *at, n);
	s[n] = '\0';
	*at += n;
	return s;
}

static int decode_entries(const unsigned char *p, size_t len, uint32_t count,
			  struct sc_metarec *r)
{
	size_t at = SC_META_HEADER_BYTES + SC_META_ATTR_BYTES;

	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *hdr = p + at;
		struct sc_meta_entry *e = NULL;
		size_t name_len, link_len, attr_at;
		uint8_t state;
		char *name;

		if (len - at < SC_META_ENTRY_BYTES)
			return -EBADMSG;
		name_len = sc_get_le(hdr, 2);
		link_len = sc_get_le(hdr + 2, 2);
		state = hdr[4];
		if (state < SC_META_ABSENT || state > SC_META_ATTR ||
		    link_len > LINK_MAX_BYTES || sc_get_le(hdr + 6, 2) != 0)
			return -EBADMSG;
		at += SC_META_ENTRY_BYTES;
		attr_at = at;
		if (state == SC_META_ATTR) {
			if (len - at < SC_META_ATTR_BYTES)
				return -EBADMSG;
			at += SC_META_ATTR_BYTES;
		}
		name = take_string(p, len, &at, name_len);
		if (name && !sc_metarec_find(r, name))
			e = sc_metarec_get(r, name);
		free(name);
		if (!e)
			return -EBADMSG; /* bad or repeated name, or no memory */
		e->state = state;
		e->dtype = hdr[5];
		e->validated_ns = sc_get_le(hdr + 8, 8);
		e->ino = sc_get_le(hdr + 16, 8);
		if (state == SC_META_ATTR &&
		    !attr_decode(p + attr_at, &e->attr))
			return -EBADMSG;
		if (link_len && !(e->link = take_string(p, len, &at, link_len)))
			return -EBADMSG;
	}
	return at == len ? 0 : -EBADMSG;
}

int sc_metarec_decode(const void *buf, size_t len, uint64_t object,
		      struct sc_metarec *r)
{
	const unsigned char *p = buf;
	int ret;

	if (sc_metarec_length(buf, len, object) != (long)len ||
	    sc_get_le(p + 28, 4) != sc_metarec_checksum(p, len) ||
	    (sc_get_le(p + 12, 4) &
	     ~(uint64_t)(SC_META_LISTED | SC_META_RACY)) ||
	    sc_get_le(p + 36, 4) != 0)
		return -EBADMSG;
	r->flags = (uint32_t)sc_get_le(p + 12, 4);
	r->validated_ns = sc_get_le(p + 16, 8);
	if (!attr_decode(p + SC_META_HEADER_BYTES, &r->self))
		return -EBADMSG;
	ret = decode_entries(p, len, (uint32_t)sc_get_le(p + 32, 4), r);
	if (ret < 0)
		sc_metarec_free(r);
	return ret;
}
