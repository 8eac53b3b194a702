/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libnvme adapter: when the cache device is an NVMe namespace, a
 * partition of one, or a file on one, read the drive's identity (model,
 * serial, firmware, LBA size) and its SMART / health log (percentage
 * used, data units written, media errors, spare, critical warning).  The
 * stats show them and the wear budget is derived from them.  Everything
 * libnvme returns is turned into plain values here; libnvme.h is included
 * nowhere else.
 */
#ifndef SC_NVME_H
#define SC_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sc_nvme_info {
	bool present;	   /* the cache is on an NVMe namespace */
	char why_not[160]; /* when !present: why there is no NVMe data */
	char device[64];   /* the namespace, such as "nvme0n1" */
	char model[41];
	char serial[21];
	char firmware[9];
	uint32_t nsid;
	uint32_t lba_bytes;
	/* The health log, as of refreshed_ns (CLOCK_MONOTONIC). */
	bool health_valid;
	uint8_t critical_warning;
	uint8_t percent_used;
	uint8_t available_spare_pct;
	uint8_t spare_threshold_pct;
	uint64_t data_units_written; /* units of 512,000 bytes */
	uint64_t data_units_read;
	uint64_t media_errors;
	uint64_t power_on_hours;
	uint64_t unsafe_shutdowns;
	uint64_t refreshed_ns;
};

/* Bytes in one NVMe "data unit" (1000 sectors of 512 bytes). */
#define SC_NVME_DATA_UNIT_BYTES 512000ull

/*
 * The NVMe namespace under the block device dev, found in sysfs below
 * sysfs_root ("/sys" outside the tests): "nvme0n1" for nvme0n1 and for
 * its partitions.  -ENODEV (with the device's own name in ret_name) when
 * it is not NVMe.
 */
int sc_nvme_namespace_of(const char *sysfs_root, dev_t dev, char *ret_name,
			 size_t len);

/*
 * Fill info for the cache at cache_path: identity and a first health
 * read.  Never fails: info->present says whether there is NVMe data, and
 * why_not why not.
 */
void sc_nvme_probe(const char *cache_path, struct sc_nvme_info *info);

/*
 * Identify the namespace open at fd (any fd the libnvme calls accept)
 * into info.  Returns 0 or a negative errno.
 */
int sc_nvme_identify_fd(int fd, struct sc_nvme_info *info);

/* Read the health log at fd into info; 0 or a negative errno. */
int sc_nvme_read_health_fd(int fd, struct sc_nvme_info *info, uint64_t now_ns);

/*
 * Re-read the health log when it is older than max_age_ns.  Returns 0
 * (fresh enough or refreshed) or a negative errno; a cache not on NVMe
 * returns -ENODEV.
 */
int sc_nvme_refresh(struct sc_nvme_info *info, uint64_t now_ns,
		    uint64_t max_age_ns);

#endif
