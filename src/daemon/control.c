// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control xattrs (see control.h and include/ctl.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "control.h"
#include "ctl.h"
#include "deadline.h"
#include "log.h"
#include "meta.h"
#include "nvme.h"
#include "change.h"
#include "offline.h"
#include "pool.h"
#include "scanner.h"
#include "store.h"
#include "uring.h"
#include "walkahead.h"
#include "wear.h"

#define PREFIX_LEN (sizeof(SC_CTL_PREFIX) - 1)
#define NVME_REFRESH_NS (60ULL * 1000000000ULL) /* the health log: 1 min */

bool sc_ctl_owns(const char *name)
{
	return strncmp(name, SC_CTL_PREFIX, PREFIX_LEN) == 0;
}

struct text {
	char *buf;
	size_t len, used;
};

static void line(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void line(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->used < t->len ? t->buf + t->used : NULL,
		      t->used < t->len ? t->len - t->used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->used += (size_t)n;
}

/* One "name: value" line of a counter. */
static void counter(struct text *t, const char *name, uint64_t value)
{
	line(t, "%s: %llu\n", name, (unsigned long long)value);
}

/* The drive's health, read again when the last reading is a minute old. */
static void drive_stats(struct sc_fs *fs, struct text *t)
{
	struct sc_nvme_info *d = &fs->drive;

	pthread_mutex_lock(&fs->drive_lock);
	if (d->present)
		sc_nvme_refresh(d, sc_monotonic_ns(), NVME_REFRESH_NS);
	line(t, "nvme: %s\n", d->present ? d->model : "none");
	if (d->present) {
		line(t, "nvme_serial: %s\n", d->serial);
		line(t, "nvme_firmware: %s\n", d->firmware);
	}
	if (d->present && d->health_valid) {
		line(t, "nvme_percent_used: %u\n", d->percent_used);
		counter(t, "nvme_data_units_written", d->data_units_written);
		line(t, "nvme_available_spare_pct: %u\n",
		     d->available_spare_pct);
		counter(t, "nvme_media_errors", d->media_errors);
		line(t, "nvme_critical_warning: %u\n", d->critical_warning);
	}
	pthread_mutex_unlock(&fs->drive_lock);
}

/*
 * What the drive has written in its life, and how fast: from its health
 * log (data units written, power-on hours), else from the cache's own
 * count since it was formatted (a lower bound: others may write the drive
 * too).  Called with drive_lock held.
 */
static void drive_wear(struct sc_fs *fs, uint64_t *written, double *rate,
		       const char **source)
{
	struct sc_nvme_info *d = &fs->drive;
	struct sc_store_stats st = { 0 };
	struct timespec now;
	double age;

	if (d->present)
		sc_nvme_refresh(d, sc_monotonic_ns(), NVME_REFRESH_NS);
	if (d->present && d->health_valid) {
		*written = d->data_units_written * SC_NVME_DATA_UNIT_BYTES;
		*rate = d->power_on_hours ? (double)*written /
						    (d->power_on_hours * 3600.0)
					  : 0;
		*source = "nvme";
		return;
	}
	if (fs->store)
		sc_store_get_stats(fs->store, &st);
	clock_gettime(CLOCK_REALTIME, &now);
	age = (double)now.tv_sec - (double)st.format_ns / 1e9;
	*written = st.write_bytes;
	*rate = age > 0 ? (double)st.write_bytes / age : 0;
	*source = "cache";
}

static void wear_stats(struct sc_fs *fs, struct text *t)
{
	const char *source;
	uint64_t written;
	double rate, days;

	if (!fs->store)
		return;
	pthread_mutex_lock(&fs->drive_lock);
	drive_wear(fs, &written, &rate, &source);
	days = sc_wear_days_left((uint64_t)sc_tunable_get(&fs->tunables,
							  SC_T_ENDURANCE),
				 written, rate,
				 fs->drive.present && fs->drive.health_valid
					 ? fs->drive.percent_used
					 : 0,
				 fs->drive.present && fs->drive.health_valid
					 ? fs->drive.power_on_hours
					 : 0);
	pthread_mutex_unlock(&fs->drive_lock);
	line(t, "wear_source: %s\n", source);
	counter(t, "wear_written_bytes", written);
	line(t, "wear_rate_bytes_per_s: %.0f\n", rate);
	if (days < 0)
		line(t, "projected_lifetime_days: unknown\n");
	else
		line(t, "projected_lifetime_days: %.0f\n", days);
}

size_t sc_ctl_stats(struct sc_fs *fs, char *buf, size_t len)
{
	struct text t = { buf, len, 0 };
	struct sc_scanner_stats sc = { 0 };
	struct sc_store_stats st = { 0 };
	struct sc_pool_stats ps = { 0 };
	struct sc_meta_stats ms;
	uint64_t ram = atomic_load(&fs->read_bytes_ram);
	uint64_t ssd = atomic_load(&fs->read_bytes_ssd);
	uint64_t backing = atomic_load(&fs->read_bytes_backing);
	uint64_t total = ram + ssd + backing;

	if (fs->scanner)
		sc_scanner_get_stats(fs->scanner, &sc);
	if (fs->store)
		sc_store_get_stats(fs->store, &st);
	if (fs->pool)
		sc_pool_get_stats(fs->pool, &ps);
	sc_meta_get_stats(fs->meta, &ms);
	line(&t, "state: %s\n",
	     sc.state == SC_SCAN_CLEANING ? "cleaning" : "writing");
	line(&t, "burst: %s\n",
	     sc.burst == SC_BURST_RECOVERING ? "recovering" : "bursting");
	for (int i = 0; i < SC_T_COUNT; i++)
		line(&t, "%s: %lld\n", sc_tunable_descs[i].name,
		     (long long)(i == SC_T_CURBURST && fs->scanner
					 ? sc.curburst_bytes
					 : sc_tunable_get(&fs->tunables, i)));
	counter(&t, "write_count", sc.write_count);
	counter(&t, "read_bytes_ram", ram);
	counter(&t, "read_bytes_ssd", ssd);
	counter(&t, "read_bytes_backing", backing);
	counter(&t, "fetch_bytes_backing", atomic_load(&fs->fetch_bytes));
	line(&t, "backing_state: %s\n",
	     sc_offline_now()	   ? "offline"
	     : sc_deadline_stuck() ? "hung"
				   : "ok");
	counter(&t, "backing_timeouts", sc_deadline_expired());
	counter(&t, "backing_offline_count", sc_offline_count());
	counter(&t, "meta_dirs", ms.dirs);
	counter(&t, "meta_entries", ms.entries);
	counter(&t, "meta_ram_bytes", ms.ram_bytes);
	counter(&t, "meta_hits", ms.hits);
	counter(&t, "meta_misses", ms.misses);
	counter(&t, "meta_loads", ms.loads);
	counter(&t, "meta_published", ms.published);
	counter(&t, "dir_listings", atomic_load(&fs->dirprime.listings));
	counter(&t, "dirs_confirmed_ahead", sc_walkahead_confirmed(fs));
	counter(&t, "dirs_listed_ahead", sc_walkahead_listed(fs));
	counter(&t, "changed_behind", atomic_load(&fs->changed_behind));
	counter(&t, "opens_from_meta", atomic_load(&fs->opens_from_meta));
	counter(&t, "uring_requests", sc_uring_requests(fs->uring));
	line(&t, "hit_ratio_pct: %.1f\n",
	     total ? 100.0 * (double)(ram + ssd) / (double)total : 0.0);
	counter(&t, "ssd_size_bytes", st.data_bytes);
	counter(&t, "ssd_used_bytes", st.used_bytes);
	counter(&t, "ssd_device_bytes", st.device_bytes);
	counter(&t, "ssd_cached_bytes", st.cached_bytes);
	counter(&t, "ssd_objects", st.objects);
	counter(&t, "ssd_packed_slots", st.packed_slots);
	counter(&t, "ssd_packed_clusters", st.members);
	line(&t, "write_amplification: %.3f\n",
	     st.stored_bytes
		     ? (double)st.device_written_bytes / (double)st.stored_bytes
		     : 0.0);
	counter(&t, "ram_bytes", ps.pages * SC_PAGE_BYTES);
	counter(&t, "active_pages", ps.active_pages);
	counter(&t, "inactive_pages", ps.inactive_pages);
	counter(&t, "free_pages", ps.free_pages);
	counter(&t, "recycled_pages", ps.recycled);
	counter(&t, "ram_refilled_pages", sc.ram_refilled_pages);
	counter(&t, "clusters_written", sc.clusters_written);
	counter(&t, "clusters_unsynced", st.unsynced_slots);
	counter(&t, "meta_clusters_written", sc.meta_clusters_written);
	counter(&t, "clusters_refused", sc.clusters_refused);
	counter(&t, "clusters_cleaned", sc.clusters_cleaned);
	counter(&t, "ssd_hits", st.hits);
	counter(&t, "ssd_misses", st.misses);
	counter(&t, "checksum_errors", st.checksum_errors);
	counter(&t, "trailer_reads", st.trailer_reads);
	counter(&t, "ssd_io_errors", st.io_errors);
	line(&t, "ssd_state: %s\n",
	     !fs->store			  ? "none"
	     : sc_store_failed(fs->store) ? "failed"
					  : "ok");
	counter(&t, "index_ram_bytes", st.index_ram_bytes);
	drive_stats(fs, &t);
	wear_stats(fs, &t);
	return t.used;
}

static ssize_t copy_out(const char *value, size_t n, char *buf, size_t len)
{
	if (!buf)
		return (ssize_t)n;
	if (n > len)
		return -ERANGE;
	memcpy(buf, value, n);
	return (ssize_t)n;
}

ssize_t sc_ctl_residency(struct sc_fs *fs, const char *path,
			 const struct stat *st, char *buf, size_t len)
{
	char value[256];
	struct text t = { value, sizeof(value), 0 };
	uint64_t object, validator, pages, ssd = 0, ram = 0;

	if (fs->store) {
		object = sc_object_name(&fs->objects, path);
		validator = sc_object_validator(&fs->objects, st);
		pages = ((uint64_t)st->st_size + SC_PAGE_BYTES - 1) /
			SC_PAGE_BYTES;
		ssd = sc_store_object_bytes(fs->store, object, validator);
		ram = sc_pool_object_pages(fs->pool, object, validator, pages) *
		      SC_PAGE_BYTES;
	}
	counter(&t, "ssd_bytes", ssd);
	counter(&t, "ram_bytes", ram);
	counter(&t, "size", (uint64_t)st->st_size);
	return copy_out(value, t.used, buf, len);
}

ssize_t sc_ctl_get(struct sc_fs *fs, const char *name, char *buf, size_t len)
{
	char value[4096];
	int id;

	if (strcmp(name, SC_CTL_STATS) == 0) {
		size_t n = sc_ctl_stats(fs, value, sizeof(value));

		return copy_out(value, n < sizeof(value) ? n : sizeof(value),
				buf, len);
	}
	id = sc_tunable_lookup(name + PREFIX_LEN);
	if (id < 0)
		return -ENODATA;
	snprintf(value, sizeof(value), "%lld",
		 (long long)sc_tunable_get(&fs->tunables, id));
	return copy_out(value, strlen(value), buf, len);
}

int sc_ctl_set(struct sc_fs *fs, uid_t caller, const char *name,
	       const char *value, size_t size)
{
	char text[64];
	int64_t v;
	int id, ret;

	id = sc_tunable_lookup(name + PREFIX_LEN);
	if (id < 0)
		return -EINVAL;
	if (caller != 0 && caller != fs->owner_uid)
		return -EPERM;
	/* setfattr may send a trailing newline or NUL. */
	while (size && (value[size - 1] == '\n' || value[size - 1] == '\0'))
		size--;
	if (size == 0 || size >= sizeof(text)) {
		sc_warn("tunable %s: value of %zu bytes refused", name, size);
		return -EINVAL;
	}
	if (memchr(value, '\0', size)) {
		sc_warn("tunable %s: value with a NUL byte inside refused",
			name);
		return -EINVAL;
	}
	memcpy(text, value, size);
	text[size] = '\0';
	ret = sc_tunable_parse(id, text, &v);
	if (ret < 0) {
		sc_warn("tunable %s: bad value '%s'", name, text);
		return -EINVAL;
	}
	sc_tunable_set(&fs->tunables, id, v);
	sc_info("tunable %s set to %lld by uid %u", name, (long long)v,
		(unsigned)caller);
	if (id == SC_T_ENDURANCE || id == SC_T_LIFETIME)
		sc_ctl_apply_wear_budget(fs);
	return 0;
}

void sc_ctl_apply_wear_budget(struct sc_fs *fs)
{
	int64_t endurance = sc_tunable_get(&fs->tunables, SC_T_ENDURANCE);
	int64_t lifetime = sc_tunable_get(&fs->tunables, SC_T_LIFETIME);
	const char *source;
	uint64_t written, rate;
	double observed;

	if (endurance <= 0 || lifetime <= 0)
		return;
	pthread_mutex_lock(&fs->drive_lock);
	drive_wear(fs, &written, &observed, &source);
	pthread_mutex_unlock(&fs->drive_lock);
	rate = sc_wear_accrate((uint64_t)endurance, written, (uint64_t)lifetime,
			       (uint64_t)sc_tunable_descs[SC_T_ACCRATE].min);
	if (rate > (uint64_t)sc_tunable_descs[SC_T_ACCRATE].max)
		rate = (uint64_t)sc_tunable_descs[SC_T_ACCRATE].max;
	sc_tunable_set(&fs->tunables, SC_T_ACCRATE, (int64_t)rate);
	sc_notice("wear budget: %llu bytes rated, %llu written (%s), over %llu "
		  "days: accrate %llu bytes/s",
		  (unsigned long long)endurance, (unsigned long long)written,
		  source, (unsigned long long)lifetime / 86400,
		  (unsigned long long)rate);
}

size_t sc_ctl_list(char *buf, size_t len)
{
	size_t used = 0;

	for (int i = -1; i < SC_T_COUNT; i++) {
		char name[64];
		size_t n;

		snprintf(name, sizeof(name), "%s%s", SC_CTL_PREFIX,
			 i < 0 ? "stats" : sc_tunable_descs[i].name);
		n = strlen(name) + 1;
		if (buf && used + n <= len)
			memcpy(buf + used, name, n);
		used += n;
	}
	return used;
}
