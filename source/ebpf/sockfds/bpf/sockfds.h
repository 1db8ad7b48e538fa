/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Minimal CO-RE definitions for the socket fd iterator: only the fields it
 * reads, relocated against the running kernel's BTF at load time
 * (preserve_access_index). Field names must match the kernel's.
 */
#ifndef SOCKFDS_H
#define SOCKFDS_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u16 umode_t;
typedef __s32 pid_t;

#define S_IFMT 00170000
#define S_IFSOCK 0140000

struct seq_file;

struct task_struct {
	pid_t pid;
	pid_t tgid;
} __attribute__((preserve_access_index));

struct inode {
	umode_t i_mode;
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

#endif
