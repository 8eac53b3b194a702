/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The on-device format of a swapcachefs cache, version 2.  Version 1 (the
 * same without packed slots) is read, and its superblock made version 2
 * when it is opened: everything it can hold means the same in version 2.
 *
 * This header is the contract: a cache written by one build is read by
 * another through it.  Every integer is little-endian.  The codec that
 * turns these structs into bytes and back is src/cache/codec.c.
 *
 * Device layout
 *
 * | offset          | size                  | meaning                                  |
 * |-----------------|-----------------------|------------------------------------------|
 * | 0               | 4 KiB                 | superblock, copy A                       |
 * | 4 KiB           | 4 KiB                 | superblock, copy B                       |
 * | 8 KiB           | to 1 MiB              | zero; a new device must be all zero in   |
 * |                 |                       | its first MiB to be formatted unasked    |
 * | index_offset    | index_bytes           | slot records, SC_RECORDS_PER_SECTOR to a |
 * | (1 MiB)         | (nslots * 64, 4 KiB   | 4 KiB sector; record i describes data    |
 * |                 |  aligned)             | slot i                                   |
 * | trailer_offset  | nslots * 4 KiB        | slot trailers: trailer i holds the CRC32C|
 * | (4 KiB aligned) |                       | of each page of data slot i              |
 * | data_offset     | nslots * 64 KiB       | data slots: one cluster each, aligned to |
 * | (64 KiB aligned)|                       | the cluster size                         |
 *
 * The two superblock copies are written alternately, each with a higher
 * sequence number, so a torn superblock write leaves the other copy: the
 * valid copy with the highest sequence is the superblock.
 *
 * Superblock (4 KiB block; unlisted bytes are zero)
 *
 * | offset | size | field           | meaning                                      |
 * |--------|------|-----------------|----------------------------------------------|
 * | 0      | 8    | magic           | "SWPCACHE"                                   |
 * | 8      | 4    | version         | SC_FORMAT_VERSION                            |
 * | 12     | 4    | header_bytes    | bytes covered by the checksum's meaning (160)|
 * | 16     | 8    | sb_offset       | the offset of this copy (0 or 4096)          |
 * | 24     | 8    | sequence        | higher is newer                              |
 * | 32     | 16   | uuid            | random, chosen at format                     |
 * | 48     | 16   | hash_key        | SipHash key for object names and validators  |
 * | 64     | 4    | page_bytes      | 4096                                         |
 * | 68     | 4    | cluster_pages   | pages per cluster (16)                       |
 * | 72     | 4    | block_bytes     | device logical block size at format          |
 * | 76     | 4    | record_bytes    | 64                                           |
 * | 80     | 8    | device_bytes    | bytes of the device in use                   |
 * | 88     | 8    | index_offset    |                                              |
 * | 96     | 8    | index_bytes     |                                              |
 * | 104    | 8    | data_offset     |                                              |
 * | 112    | 8    | nslots          | data slots                                   |
 * | 120    | 4    | clean           | 1: unmounted cleanly; 0: in use or crashed   |
 * | 124    | 4    | reserved        | 0                                            |
 * | 128    | 8    | format_ns       | CLOCK_REALTIME at format                     |
 * | 136    | 8    | mount_count     | mounts since format                          |
 * | 144    | 8    | write_bytes     | bytes written to the data region, lifetime   |
 * | 152    | 8    | trailer_offset  |                                              |
 * | 4092   | 4    | checksum        | CRC32C of bytes 0..4091                      |
 *
 * Slot record (64 bytes; a record of all zero bytes is a free slot that
 * was never written)
 *
 * | offset | size | field          | meaning                                       |
 * |--------|------|----------------|-----------------------------------------------|
 * | 0      | 8    | object         | SipHash of the path below BACKING             |
 * | 8      | 8    | validator      | SipHash of (size, mtime ns, ctime ns)         |
 * | 16     | 4    | cluster        | cluster index in the object (offset / 64 KiB) |
 * | 20     | 4    | slot           | the record's own slot number                  |
 * | 24     | 4    | data_crc       | CRC32C of the valid pages' CRC32Cs (each 4    |
 * |        |      |                | bytes little-endian), in page order           |
 * | 28     | 2    | valid_mask     | bit p: page p of the cluster holds data       |
 * | 30     | 2    | flags          | SC_RECORD_USED, SC_RECORD_PACKED              |
 * | 32     | 8    | sequence       | store-wide commit counter                     |
 * | 40     | 8    | format_id      | first 8 bytes of the superblock uuid          |
 * | 48     | 2    | ram_mask       | bit p: page p was in the RAM pool at the clean|
 * |        |      |                | unmount that wrote this record (a subset of   |
 * |        |      |                | valid_mask; see "RAM hints" below)            |
 * | 50     | 10   | reserved       | 0                                             |
 * | 60     | 4    | checksum       | CRC32C of bytes 0..59                         |
 *
 * Slot trailer (4 KiB; written with its cluster, before the record)
 *
 * | offset | size | field          | meaning                                       |
 * |--------|------|----------------|-----------------------------------------------|
 * | 0      | 8    | magic          | "SWPCTRLR"                                    |
 * | 8      | 8    | format_id      | as in the record                              |
 * | 16     | 8    | object         | as in the record                              |
 * | 24     | 4    | cluster        |                                               |
 * | 28     | 4    | slot           |                                               |
 * | 32     | 4    | data_crc       | the record's data_crc                         |
 * | 36     | 2    | valid_mask     |                                               |
 * | 38     | 2    | reserved       | 0                                             |
 * | 40     | 64   | page_crc[16]   | CRC32C of each valid page; 0 for the others   |
 * | 4092   | 4    | checksum       | CRC32C of bytes 0..4091                       |
 *
 * Packed slots (version 2)
 *
 * A slot may hold the clusters of several objects, packed: the clusters
 * whose valid pages are one run shorter than a cluster (small files, and
 * the tails of large ones), each stored as its run's bytes without their
 * trailing zero bytes, one after another.  Its record has flags
 * SC_RECORD_USED | SC_RECORD_PACKED and says which entries of the slot's
 * member table it vouches for:
 *
 * | offset | size | field      | meaning                                        |
 * |--------|------|------------|------------------------------------------------|
 * | 0      | 16   | dead       | bit i (little-endian, bytes 0..15): entry i was|
 * |        |      |            | dropped and is not to be served                |
 * | 16     | 4    | nmembers   | entries 0..nmembers-1 of the table, 1..96      |
 * | 24     | 4    | data_crc   | CRC32C of those entries' 32 bytes each, in turn|
 * | 28     | 2    | valid_mask | 0                                              |
 * | 48     | 12   | ram        | bit i: entry i was in the RAM pool at the clean|
 * |        |      |            | unmount that wrote this record (a RAM hint)    |
 *
 * (slot, flags, sequence, format_id and checksum as in any record.)  The
 * member table takes the slot's trailer (4 KiB): a 32-byte header (magic
 * "SWPCPACK", format_id at 8, slot at 16, the entries written at 20, zero
 * to 32) and 32-byte entries:
 *
 * | offset | size | field      | meaning                                        |
 * |--------|------|------------|------------------------------------------------|
 * | 0      | 8    | object     | as in a record                                 |
 * | 8      | 8    | validator  | as in a record                                 |
 * | 16     | 4    | cluster    | as in a record                                 |
 * | 20     | 4    | data_crc   | CRC32C of the bytes stored                     |
 * | 24     | 2    | offset     | where they start in the slot                   |
 * | 26     | 2    | length     | bytes stored, 1..npages * 4096                 |
 * | 28     | 1    | first_page | the run's first page in the cluster            |
 * | 29     | 1    | npages     | pages of the run, 1..15; the bytes of the run  |
 * |        |      |            | past length are zero                           |
 * | 30     | 2    | reserved   | 0                                              |
 *
 * Members are only ever added to a slot (at a page boundary, after the
 * last), never moved: the table is rewritten whole with the new entries
 * after the old ones, and the record vouches for the new ones only once
 * their data and the table are durable.  A torn table or one that does not
 * match its record's data_crc makes the whole slot a miss.
 *
 * A record is trusted only if its checksum, slot number and format_id
 * match; anything else (a torn sector, a stale record from an earlier
 * format, a misdirected write) reads as a free slot.  A whole data
 * cluster is trusted only if its CRC32C matches the record's data_crc; a
 * part of one only if the slot's trailer is intact, names the same
 * object, cluster, slot and data_crc as the record, and each page matches
 * its page_crc.
 *
 * RAM hints
 *
 * At a clean unmount the daemon notes which pages of which clusters its
 * RAM pool held, and the last commit writes them as ram_mask; the next
 * mount reads those pages back into the pool in the background, so a
 * restart keeps the RAM tier too.  A hint is only a hint: it is trusted
 * when the superblock says clean and the record's sequence is the newest
 * in the index (written by that unmount's commit; a later commit makes
 * older hints stale), and what it names is read and verified like any
 * other read.
 *
 * Metadata records
 *
 * Directories are cached as well as files: a directory's names, the
 * attributes and symlink targets of its entries and the names known to be
 * absent make one metadata record, stored like a file's contents (pages
 * of an object, in clusters, checked by the slot trailers) under the
 * object named by the SipHash of the directory's path followed by a NUL
 * byte (no file's name has one), with the validator SC_META_VALIDATOR.
 * File validators are always odd, so never equal to it.  A record is
 * trusted only if its checksum matches; a stale one is refused by
 * comparing its directory's attributes with the directory's own.
 *
 * Cache flags
 *
 * The cache/noscache flags set with the user.swapcache.cache xattr are
 * kept in one object (named by the SipHash of BACKING's path, a NUL and
 * "flags") under SC_PINNED_VALIDATOR, which the cleaner never frees: a
 * 24-byte header ("SWPCFLAG", then 4 bytes each, little-endian: version
 * 1, count, bytes of the whole set, CRC32C of the bytes after the header),
 * then per flag one byte (1 cache, 2 noscache), two bytes of path length
 * and the path below BACKING.
 *
 * Record header (then the directory's attributes, then the entries)
 *
 * | offset | size | field        | meaning                                      |
 * |--------|------|--------------|----------------------------------------------|
 * | 0      | 8    | magic        | "SWPCMETA"                                   |
 * | 8      | 4    | version      | SC_META_VERSION                              |
 * | 12     | 4    | flags        | SC_META_LISTED: the names are the whole list |
 * | 16     | 8    | validated_ns | CLOCK_REALTIME the list was last confirmed   |
 * | 24     | 4    | bytes        | the record's length, header included         |
 * | 28     | 4    | checksum     | CRC32C of the record, bytes 16..23 and 28..31|
 * |        |      |              | taken as zero                                |
 * | 32     | 4    | nentries     |                                              |
 * | 36     | 4    | reserved     | 0                                            |
 * | 40     | 8    | object       | the record's own object name                 |
 *
 * Attributes (96 bytes; times in ns since the epoch, two's complement)
 *
 * | offset | size | field   | | offset | size | field                      |
 * |--------|------|---------| |--------|------|----------------------------|
 * | 0      | 8    | ino     | | 64     | 8    | ctime                      |
 * | 8      | 8    | birth   | | 72     | 4    | mode                       |
 * | 16     | 8    | size    | | 76     | 4    | nlink                      |
 * | 24     | 8    | blocks  | | 80     | 4    | uid                        |
 * | 32     | 8    | rdev    | | 84     | 4    | gid                        |
 * | 40     | 8    | dev     | | 88     | 4    | blksize                    |
 * | 48     | 8    | atime   | | 92     | 4    | flags: SC_META_FOREIGN_DEV |
 * | 56     | 8    | mtime   | |        |      | (dev is not BACKING's)     |
 *
 * Entry (24 bytes, the attributes when state is 3, the name, the target)
 *
 * | offset | size | field        | meaning                                      |
 * |--------|------|--------------|----------------------------------------------|
 * | 0      | 2    | name_len     | 1..255                                       |
 * | 2      | 2    | link_len     | symlink target bytes; 0: unknown             |
 * | 4      | 1    | state        | 1 absent, 2 listed (type only), 3 attributes |
 * | 5      | 1    | dtype        | DT_* of the entry                            |
 * | 6      | 2    | reserved     | 0                                            |
 * | 8      | 8    | validated_ns | CLOCK_REALTIME the state was last confirmed  |
 * | 16     | 8    | ino          | the inode number the listing gave            |
 */
#ifndef SC_FORMAT_H
#define SC_FORMAT_H

#include <stdint.h>

#define SC_FORMAT_MAGIC "SWPCACHE"
#define SC_FORMAT_VERSION 2u
#define SC_FORMAT_VERSION_OLDEST 1u /* read, and made SC_FORMAT_VERSION */

#define SC_PAGE_BYTES 4096u
#define SC_CLUSTER_PAGES 16u
#define SC_CLUSTER_BYTES (SC_PAGE_BYTES * SC_CLUSTER_PAGES) /* 64 KiB */
#define SC_SB_BYTES 4096u
#define SC_SB_HEADER_BYTES 160u
#define SC_SB_COPIES 2u
#define SC_SECTOR_BYTES 4096u
#define SC_RECORD_BYTES 64u
#define SC_RECORDS_PER_SECTOR (SC_SECTOR_BYTES / SC_RECORD_BYTES)
#define SC_ZERO_PROBE_BYTES (1u << 20) /* first MiB: zero means empty */
#define SC_INDEX_OFFSET (1u << 20)

#define SC_TRAILER_MAGIC "SWPCTRLR"
#define SC_TRAILER_BYTES 4096u

#define SC_RECORD_USED 0x1u
#define SC_RECORD_PACKED 0x2u

#define SC_PACK_MAGIC "SWPCPACK"
#define SC_PACK_HEADER_BYTES 32u
#define SC_PACK_ENTRY_BYTES 32u
#define SC_PACK_MAX_MEMBERS 96u /* the ram bits of a packed record */

#define SC_META_MAGIC "SWPCMETA"
#define SC_META_VERSION 1u
#define SC_META_VALIDATOR 2u
/* Clusters stored under this validator are settings: never cleaned. */
#define SC_PINNED_VALIDATOR 4u
#define SC_META_HEADER_BYTES 48u
#define SC_META_ATTR_BYTES 96u
#define SC_META_ENTRY_BYTES 24u
#define SC_META_LISTED 0x1u
/* Listed while its mtime could not tell it from the next change. */
#define SC_META_RACY 0x2u
#define SC_META_FOREIGN_DEV 0x1u
/* A larger record is not cached (about 100,000 entries). */
#define SC_META_MAX_BYTES (32u << 20)

struct sc_superblock {
	uint32_t version;
	uint64_t sb_offset;
	uint64_t sequence;
	uint8_t uuid[16];
	uint64_t hash_k0, hash_k1;
	uint32_t page_bytes;
	uint32_t cluster_pages;
	uint32_t block_bytes;
	uint32_t record_bytes;
	uint64_t device_bytes;
	uint64_t index_offset;
	uint64_t index_bytes;
	uint64_t data_offset;
	uint64_t nslots;
	uint32_t clean;
	uint64_t format_ns;
	uint64_t mount_count;
	uint64_t write_bytes;
	uint64_t trailer_offset;
};

struct sc_record {
	uint64_t object;
	uint64_t validator;
	uint32_t cluster;
	uint32_t slot;
	uint32_t data_crc;
	uint16_t valid_mask;
	uint16_t flags;
	uint64_t sequence;
	uint64_t format_id;
	uint16_t ram_mask;
	/*
	 * SC_RECORD_PACKED: dead in place of object and validator, ram in
	 * place of ram_mask and the reserved bytes; cluster is nmembers.
	 */
	uint64_t dead[2];
	uint64_t ram[2];
};

struct sc_pack_entry {
	uint64_t object;
	uint64_t validator;
	uint32_t cluster;
	uint32_t data_crc;
	uint16_t offset;
	uint16_t length;
	uint8_t first_page;
	uint8_t npages;
};

struct sc_trailer {
	uint64_t format_id;
	uint64_t object;
	uint32_t cluster;
	uint32_t slot;
	uint32_t data_crc;
	uint16_t valid_mask;
	uint32_t page_crc[16];
};

#endif
