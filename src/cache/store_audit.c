// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The audit: reads every record back from the device and compares it
 * with the index in RAM (the control interface's check and the tests').
 */
#include "store_int.h"

struct audit {
	char *msg;
	size_t len;
	int ret;
};

static void audit_fail(struct audit *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void audit_fail(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	if (a->ret)
		return; /* keep the first finding */
	a->ret = -EUCLEAN;
	va_start(ap, fmt);
	vsnprintf(a->msg, a->len, fmt, ap);
	va_end(ap);
}

/* A record on the device must say exactly what the RAM index says. */
static void audit_record(struct sc_store *s, uint32_t slot,
			 enum sc_record_status status,
			 const struct sc_record *rec, void *arg)
{
	const struct slot *sl = &s->slots[slot];
	/* A slot written since the audit's commit has no record yet. */
	bool used = sl->state == SLOT_USED && !sl->unsynced;

	if (used && sl->packed) {
		const struct pack *p = &s->packs[sl->obj];

		if (p->synced == 0 ? status == SC_RECORD_FREE
				   : status == SC_RECORD_VALID &&
					     (rec->flags & SC_RECORD_PACKED) &&
					     rec->cluster == p->synced &&
					     rec->data_crc == p->synced_crc)
			return;
		audit_fail(arg,
			   "slot %u: packed, %u entries durable in RAM, the "
			   "device's record %s",
			   slot, p->synced,
			   status == SC_RECORD_VALID ? "says otherwise"
						     : "is not valid");
		return;
	}
	if (status == SC_RECORD_FREE && !used)
		return;
	if (status == SC_RECORD_VALID && used &&
	    !(rec->flags & SC_RECORD_PACKED) &&
	    rec->object == s->objects[sl->obj].name &&
	    rec->validator == s->objects[sl->obj].validator &&
	    rec->cluster == sl->cluster && rec->valid_mask == sl->valid_mask)
		return;
	audit_fail(arg, "slot %u: record %s on the device, %s in RAM", slot,
		   status == SC_RECORD_VALID  ? "valid"
		   : status == SC_RECORD_FREE ? "free"
					      : "damaged",
		   used ? "used" : "free");
}

int sc_store_audit(struct sc_store *s, char *msg, size_t len)
{
	struct audit a = { .msg = msg, .len = len };
	uint64_t used = 0, stored = 0, in_objects = 0;
	unsigned char *seen;
	int ret;

	msg[0] = '\0';
	ret = sc_store_commit(s);
	if (ret < 0) {
		snprintf(msg, len, "commit: %s", strerror(-ret));
		return ret;
	}
	seen = calloc(s->sb.nslots, 1);
	if (!seen)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->nfree_slots; i++) {
		uint32_t slot = s->free_slots[i];

		if (slot >= s->sb.nslots || seen[slot]++ ||
		    s->slots[slot].state != SLOT_FREE)
			audit_fail(&a, "free stack entry %u: slot %u", i, slot);
	}
	for (uint64_t i = 0; i < s->sb.nslots; i++) {
		const struct slot *sl = &s->slots[i];
		uint32_t pos;

		if (sl->state != SLOT_USED) {
			if (!seen[i])
				audit_fail(&a,
					   "slot %llu: leaked (neither "
					   "used nor free)",
					   (unsigned long long)i);
			continue;
		}
		used++;
		if (sl->packed) {
			stored += s->packs[sl->obj].live;
			continue;
		}
		stored++;
		pos = store_cluster_find(s, sl->obj, sl->cluster);
		if (pos == NONE || s->cluster_map[pos] != i)
			audit_fail(&a, "slot %llu: not found by its cluster",
				   (unsigned long long)i);
	}
	for (uint32_t i = 0; i < s->objects_cap; i++)
		in_objects += s->objects[i].nslots;
	if (used != s->stats.used_slots || in_objects != stored)
		audit_fail(&a,
			   "%llu slots used (counted %llu) holding %llu "
			   "clusters, objects hold %llu",
			   (unsigned long long)used,
			   (unsigned long long)s->stats.used_slots,
			   (unsigned long long)stored,
			   (unsigned long long)in_objects);
	pthread_mutex_unlock(&s->lock);
	free(seen);
	if (a.ret == 0) {
		ret = store_walk_index(s, audit_record, &a);
		if (ret < 0)
			return ret;
	}
	return a.ret;
}
