// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * NVMe identity and health through libnvme (see nvme.h).  libnvme's
 * status codes are turned into negative errnos here: a positive return is
 * an NVMe status (the drive answered "no"), -1 with errno a failed ioctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <libnvme.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "le.h"
#include "nvme.h"

static int status_to_errno(int ret)
{
	if (ret == 0)
		return 0;
	if (ret < 0)
		return errno ? -errno : -EIO;
	return -EIO; /* an NVMe status: the command failed on the drive */
}

/* Copy a space-padded identify string, trimmed, NUL-terminated. */
static void copy_trimmed(char *dst, size_t dst_len, const char *src,
			 size_t src_len)
{
	size_t n = src_len < dst_len - 1 ? src_len : dst_len - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

int sc_nvme_namespace_of(const char *sysfs_root, dev_t dev, char *ret_name,
			 size_t len)
{
	char link[PATH_MAX], target[PATH_MAX], probe[PATH_MAX + 16];
	const char *name, *parent;
	ssize_t n;

	snprintf(link, sizeof(link), "%s/dev/block/%u:%u", sysfs_root,
		 major(dev), minor(dev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	name = strrchr(target, '/');
	name = name ? name + 1 : target;
	/* A partition: the namespace is the directory above it. */
	snprintf(probe, sizeof(probe), "%s/partition", link);
	if (access(probe, F_OK) == 0) {
		char *slash = strrchr(target, '/');

		if (slash) {
			*slash = '\0';
			parent = strrchr(target, '/');
			name = parent ? parent + 1 : target;
		}
	}
	snprintf(ret_name, len, "%s", name);
	if (strncmp(name, "nvme", 4) != 0 || !strchr(name + 4, 'n'))
		return -ENODEV;
	return 0;
}

int sc_nvme_identify_fd(int fd, struct sc_nvme_info *info)
{
	struct nvme_id_ctrl ctrl;
	struct nvme_id_ns ns;
	uint32_t nsid = 0;
	unsigned lbaf;
	int ret;

	ret = status_to_errno(nvme_get_nsid(fd, &nsid));
	if (ret < 0)
		return ret;
	memset(&ctrl, 0, sizeof(ctrl));
	ret = status_to_errno(nvme_identify_ctrl(fd, &ctrl));
	if (ret < 0)
		return ret;
	memset(&ns, 0, sizeof(ns));
	ret = status_to_errno(nvme_identify_ns(fd, nsid, &ns));
	if (ret < 0)
		return ret;
	copy_trimmed(info->model, sizeof(info->model), ctrl.mn,
		     sizeof(ctrl.mn));
	copy_trimmed(info->serial, sizeof(info->serial), ctrl.sn,
		     sizeof(ctrl.sn));
	copy_trimmed(info->firmware, sizeof(info->firmware), ctrl.fr,
		     sizeof(ctrl.fr));
	info->nsid = nsid;
	/* The format in use: FLBAS bits 3:0 index the LBA format table. */
	lbaf = ns.flbas & 0xf;
	if (ns.lbaf[lbaf].ds < 9 || ns.lbaf[lbaf].ds > 16)
		return -EPROTO;
	info->lba_bytes = 1u << ns.lbaf[lbaf].ds;
	info->present = true;
	return 0;
}

/* The low 64 bits of a 128-bit little-endian SMART counter. */
static uint64_t counter(const unsigned char c[16])
{
	return sc_get_le(c, 8);
}

int sc_nvme_read_health_fd(int fd, struct sc_nvme_info *info, uint64_t now_ns)
{
	struct nvme_smart_log log;
	int ret;

	memset(&log, 0, sizeof(log));
	ret = status_to_errno(
		nvme_get_log_smart(fd, NVME_NSID_ALL, false, &log));
	if (ret < 0)
		return ret;
	info->critical_warning = log.critical_warning;
	info->percent_used = log.percent_used;
	info->available_spare_pct = log.avail_spare;
	info->spare_threshold_pct = log.spare_thresh;
	info->data_units_written = counter(log.data_units_written);
	info->data_units_read = counter(log.data_units_read);
	info->media_errors = counter(log.media_errors);
	info->power_on_hours = counter(log.power_on_hours);
	info->unsafe_shutdowns = counter(log.unsafe_shutdowns);
	info->refreshed_ns = now_ns;
	info->health_valid = true;
	return 0;
}

static int open_namespace(const struct sc_nvme_info *info)
{
	char path[96];

	snprintf(path, sizeof(path), "/dev/%s", info->device);
	return open(path, O_RDONLY | O_CLOEXEC);
}

void sc_nvme_probe(const char *cache_path, struct sc_nvme_info *info)
{
	struct stat st;
	dev_t dev;
	int fd, ret;

	memset(info, 0, sizeof(*info));
	if (stat(cache_path, &st) < 0) {
		snprintf(info->why_not, sizeof(info->why_not), "cannot stat %s",
			 cache_path);
		return;
	}
	dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	ret = sc_nvme_namespace_of("/sys", dev, info->device,
				   sizeof(info->device));
	if (ret < 0) {
		snprintf(info->why_not, sizeof(info->why_not),
			 ret == -ENODEV
				 ? "the cache is on %s, not an NVMe device"
				 : "cannot find the device of the cache (%s)",
			 ret == -ENODEV ? info->device : strerror(-ret));
		info->device[0] = '\0';
		return;
	}
	fd = open_namespace(info);
	if (fd < 0) {
		snprintf(info->why_not, sizeof(info->why_not),
			 "cannot open /dev/%s: %s", info->device,
			 strerror(errno));
		return;
	}
	ret = sc_nvme_identify_fd(fd, info);
	if (ret == 0)
		sc_nvme_read_health_fd(fd, info, sc_monotonic_ns());
	else
		snprintf(info->why_not, sizeof(info->why_not),
			 "/dev/%s does not answer NVMe identify: %s",
			 info->device, strerror(-ret));
	close(fd);
}

int sc_nvme_refresh(struct sc_nvme_info *info, uint64_t now_ns,
		    uint64_t max_age_ns)
{
	int fd, ret;

	if (!info->present)
		return -ENODEV;
	if (info->health_valid && now_ns - info->refreshed_ns < max_age_ns)
		return 0;
	fd = open_namespace(info);
	if (fd < 0)
		return -errno;
	ret = sc_nvme_read_health_fd(fd, info, now_ns);
	close(fd);
	return ret;
}
