// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Signature probing of a foreign device: the common filesystems, swap,
 * LUKS and partition tables, at the offsets their formats define.  Any
 * other non-zero content is "unrecognised data" and is refused all the
 * same: the table only makes the message more useful.
 */
#include <string.h>

#include "probe.h"

struct signature {
	size_t offset;
	const char *magic;
	size_t len;
	const char *what;
};

static const struct signature signatures[] = {
	{ 0, "LUKS\xba\xbe", 6, "a LUKS encrypted volume" },
	{ 0, "SKUL\xba\xbe", 6, "a LUKS2 encrypted volume" },
	{ 0, "XFSB", 4, "an XFS filesystem" },
	{ 1080, "\x53\xef", 2, "an ext2/3/4 filesystem" },
	{ 65600, "_BHRfS_M", 8, "a btrfs filesystem" },
	{ 4086, "SWAPSPACE2", 10, "swap space" },
	{ 4086, "SWAP-SPACE", 10, "swap space" },
	{ 512, "EFI PART", 8, "a GPT partition table" },
	{ 32769, "CD001", 5, "an ISO 9660 image" },
	{ 3, "NTFS    ", 8, "an NTFS filesystem" },
	{ 82, "FAT32   ", 8, "a FAT filesystem" },
	{ 54, "FAT1", 4, "a FAT filesystem" },
	{ 0, NULL, 0, NULL },
};

static int all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

const char *sc_probe_contents(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (all_zero(p, len))
		return NULL;
	for (const struct signature *s = signatures; s->what; s++)
		if (s->offset + s->len <= len &&
		    memcmp(p + s->offset, s->magic, s->len) == 0)
			return s->what;
	/* An MBR: the boot signature and at least one partition entry. */
	if (len >= 512 && p[510] == 0x55 && p[511] == 0xaa &&
	    !all_zero(p + 446, 64))
		return "an MBR partition table";
	return "unrecognised data";
}
