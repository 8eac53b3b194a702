// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the libnvme adapter.  These machines have no NVMe drive,
 * so libnvme's three entry points are replaced (-Wl,--wrap) by functions
 * that hand back canned identify and SMART pages, and sysfs is a tree made
 * in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libnvme.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "nvme.h"

int __wrap_nvme_get_nsid(int fd, __u32 *nsid);
int __wrap_nvme_identify(struct nvme_identify_args *args);
int __wrap_nvme_get_log_page(int fd, __u32 xfer_len,
			     struct nvme_get_log_args *args);

/* What the fake drive answers; a test may make a command fail. */
static struct {
	int identify_ret, log_ret, log_errno;
	uint32_t nsid;
	unsigned lba_shift;
	uint8_t percent_used;
} drive;

int __wrap_nvme_get_nsid(int fd, __u32 *nsid)
{
	(void)fd;
	*nsid = drive.nsid;
	return 0;
}

static void put_counter(__u8 c[16], uint64_t v)
{
	for (int i = 0; i < 16; i++, v >>= 8)
		c[i] = (__u8)v;
}

int __wrap_nvme_identify(struct nvme_identify_args *args)
{
	if (drive.identify_ret)
		return drive.identify_ret;
	if (args->cns == NVME_IDENTIFY_CNS_CTRL) {
		struct nvme_id_ctrl *c = args->data;

		memset(c, 0, sizeof(*c));
		memcpy(c->mn, "Canned NVMe SSD 2TB                     ", 40);
		memcpy(c->sn, "S6XYZ123456         ", 20);
		memcpy(c->fr, "4B2QGXA7", 8);
		return 0;
	}
	if (args->cns == NVME_IDENTIFY_CNS_NS) {
		struct nvme_id_ns *ns = args->data;

		assert_int_equal(args->nsid, drive.nsid);
		memset(ns, 0, sizeof(*ns));
		ns->flbas = 1; /* the second LBA format is in use */
		ns->lbaf[0].ds = 9;
		ns->lbaf[1].ds = (__u8)drive.lba_shift;
		return 0;
	}
	return NVME_SC_INVALID_FIELD;
}

int __wrap_nvme_get_log_page(int fd, __u32 xfer_len,
			     struct nvme_get_log_args *args)
{
	struct nvme_smart_log *log = args->log;

	(void)fd;
	(void)xfer_len;
	if (drive.log_ret) {
		errno = drive.log_errno;
		return drive.log_ret;
	}
	assert_int_equal(args->lid, NVME_LOG_LID_SMART);
	assert_int_equal(args->len, sizeof(*log));
	memset(log, 0, sizeof(*log));
	log->critical_warning = 0x02;
	log->percent_used = drive.percent_used;
	log->avail_spare = 97;
	log->spare_thresh = 10;
	put_counter(log->data_units_written, 123456789);
	put_counter(log->data_units_read, 987654321);
	put_counter(log->media_errors, 3);
	put_counter(log->power_on_hours, 4321);
	put_counter(log->unsafe_shutdowns, 7);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	memset(&drive, 0, sizeof(drive));
	drive.nsid = 1;
	drive.lba_shift = 12;
	drive.percent_used = 5;
	return 0;
}

static void test_identify_reads_model_serial_firmware_lba(void **state)
{
	struct sc_nvme_info info;

	(void)state;
	memset(&info, 0, sizeof(info));
	assert_int_equal(sc_nvme_identify_fd(0, &info), 0);
	assert_true(info.present);
	assert_string_equal(info.model, "Canned NVMe SSD 2TB");
	assert_string_equal(info.serial, "S6XYZ123456");
	assert_string_equal(info.firmware, "4B2QGXA7");
	assert_int_equal(info.nsid, 1);
	assert_int_equal(info.lba_bytes, 4096);
}

static void test_health_log_decoded(void **state)
{
	struct sc_nvme_info info;

	(void)state;
	memset(&info, 0, sizeof(info));
	assert_int_equal(sc_nvme_read_health_fd(0, &info, 1000), 0);
	assert_true(info.health_valid);
	assert_int_equal(info.critical_warning, 0x02);
	assert_int_equal(info.percent_used, 5);
	assert_int_equal(info.available_spare_pct, 97);
	assert_int_equal(info.spare_threshold_pct, 10);
	assert_int_equal(info.data_units_written, 123456789);
	assert_int_equal(info.data_units_read, 987654321);
	assert_int_equal(info.media_errors, 3);
	assert_int_equal(info.power_on_hours, 4321);
	assert_int_equal(info.unsafe_shutdowns, 7);
	assert_int_equal(info.refreshed_ns, 1000);
}

static void test_failures_become_errnos(void **state)
{
	struct sc_nvme_info info;

	(void)state;
	memset(&info, 0, sizeof(info));
	drive.identify_ret = NVME_SC_INVALID_OPCODE; /* the drive said no */
	assert_int_equal(sc_nvme_identify_fd(0, &info), -EIO);
	assert_false(info.present);
	drive.identify_ret = 0;
	drive.lba_shift = 30; /* nonsense from the drive */
	assert_int_equal(sc_nvme_identify_fd(0, &info), -EPROTO);
	drive.log_ret = -1; /* the ioctl itself failed */
	drive.log_errno = EACCES;
	assert_int_equal(sc_nvme_read_health_fd(0, &info, 5), -EACCES);
	assert_false(info.health_valid);
}

static void test_refresh_only_when_stale(void **state)
{
	struct sc_nvme_info info;

	(void)state;
	memset(&info, 0, sizeof(info));
	assert_int_equal(sc_nvme_refresh(&info, 10, 5), -ENODEV);
	info.present = true;
	info.health_valid = true;
	info.refreshed_ns = 100;
	info.percent_used = 1;
	/* Younger than max_age: nothing read (the device would not open). */
	assert_int_equal(sc_nvme_refresh(&info, 150, 100), 0);
	assert_int_equal(info.percent_used, 1);
	snprintf(info.device, sizeof(info.device), "no-such-nvme9n9");
	assert_int_equal(sc_nvme_refresh(&info, 1000, 100), -ENOENT);
}

static char sysfs[256];

static void make_link(unsigned maj, unsigned min, const char *target)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/dev/block/%u:%u", sysfs, maj, min);
	assert_int_equal(symlink(target, path), 0);
}

static void make_dirs(const char *rel)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", sysfs, rel);
	assert_int_equal(system(cmd), 0);
}

static void test_namespace_found_through_sysfs(void **state)
{
	char name[64], cmd[300], part[512];
	FILE *f;

	(void)state;
	snprintf(sysfs, sizeof(sysfs), "/tmp/scfs-sysfs-%d", getpid());
	make_dirs("dev/block");
	make_dirs("devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p3");
	make_dirs("devices/virtio1/block/vda/vda1");
	snprintf(part, sizeof(part),
		 "%s/devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p3/partition",
		 sysfs);
	f = fopen(part, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(part, sizeof(part),
		 "%s/devices/virtio1/block/vda/vda1/partition", sysfs);
	f = fopen(part, "w");
	assert_non_null(f);
	fclose(f);
	make_link(259, 0, "../../devices/pci0000:00/nvme/nvme0/nvme0n1");
	make_link(259, 3,
		  "../../devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p3");
	make_link(254, 1, "../../devices/virtio1/block/vda/vda1");

	assert_int_equal(sc_nvme_namespace_of(sysfs, makedev(259, 0), name,
					      sizeof(name)),
			 0);
	assert_string_equal(name, "nvme0n1");
	assert_int_equal(sc_nvme_namespace_of(sysfs, makedev(259, 3), name,
					      sizeof(name)),
			 0);
	assert_string_equal(name, "nvme0n1");
	assert_int_equal(sc_nvme_namespace_of(sysfs, makedev(254, 1), name,
					      sizeof(name)),
			 -ENODEV);
	assert_string_equal(name, "vda");
	assert_int_equal(sc_nvme_namespace_of(sysfs, makedev(1, 99), name,
					      sizeof(name)),
			 -ENOENT);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sysfs);
	assert_int_equal(system(cmd), 0);
}

static void test_probe_of_a_non_nvme_cache_says_why(void **state)
{
	struct sc_nvme_info info;

	(void)state;
	sc_nvme_probe("/", &info);
	assert_false(info.present);
	assert_true(strlen(info.why_not) > 0);
	sc_nvme_probe("/no/such/cache", &info);
	assert_false(info.present);
	assert_non_null(strstr(info.why_not, "cannot stat"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, reset)
		T(test_identify_reads_model_serial_firmware_lba),
		T(test_health_log_decoded),
		T(test_failures_become_errnos),
		T(test_refresh_only_when_stale),
		T(test_namespace_found_through_sysfs),
		T(test_probe_of_a_non_nvme_cache_says_why),
#undef T
	};

	return cmocka_run_group_tests_name("nvme", tests, NULL, NULL);
}
