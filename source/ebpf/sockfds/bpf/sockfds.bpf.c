// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * tcptop's socket fd lister: a task_file iterator that writes one record
 * (tgid, fd, inode) for every open file that is a socket, so that user
 * space learns which process holds which socket inode in one read instead
 * of a readlinkat per fd under /proc/PID/fd.
 *
 * Only thread group leaders are reported: /proc/PID/fd lists the leader's
 * file table, and the kernel's iterator already skips threads that share
 * it (task_seq_get_next's skip_if_dup_files). A thread that unshared its
 * table (unshare(CLONE_FILES)) shows only under /proc/PID/task/TID/fd,
 * which tcptop does not read: skipping it keeps both paths identical.
 *
 * The fields are read through BTF-typed pointers, relocated against the
 * running kernel's BTF at load time (CO-RE).
 */
#include "sockfds.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What one socket fd produces. */
struct sock_fd {
	__u32 tgid;
	__u32 fd;
	__u64 ino;
};

SEC("iter/task_file")
int sock_fds(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct sock_fd rec;
	struct inode *inode;

	if (!task || !file)
		return 0;
	if (task->pid != task->tgid)
		return 0;
	inode = file->f_inode;
	if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	rec.tgid = task->tgid;
	rec.fd = ctx->fd;
	rec.ino = inode->i_ino;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
