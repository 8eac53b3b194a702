/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE low-level operations table of the overlay.
 */
#ifndef SC_OPS_H
#define SC_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops sc_ops;

#endif
