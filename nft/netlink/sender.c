/*
 * nft-batch: sends prebuilt nf_tables netlink batches to the kernel and reports the outcome.
 * Part of wasmplane's netlink fast path (nft/netlink/sender.ts builds and runs it). The batches are
 * encoded in TypeScript (nft/netlink/encode.ts); this process only owns the socket, so that a change
 * costs one sendmsg instead of an nft run that first dumps the whole ruleset into its cache.
 *
 * Usage: nft-batch [NETNS-NAME]   (joins /run/netns/NETNS-NAME first when given)
 * Input (stdin), repeated: u32 little-endian length, then that many bytes of batch.
 * Output (stdout), one line per batch:
 *   ok <microseconds>
 *   err <seq> <errno> <strerror>[: <kernel extended ack message>]   (one line per error, then)
 *   end <microseconds>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLMSGERR_ATTR_MSG
#define NLMSGERR_ATTR_MSG 1
#endif

static int read_full(int fd, void *buf, size_t len) {
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n == 0) return 0;
		if (n < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 1;
}

static long now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void report_error(const struct nlmsghdr *nlh) {
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	const char *ext = NULL;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t off = NLMSG_HDRLEN + sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
		while (off + sizeof(struct nlattr) <= nlh->nlmsg_len) {
			const struct nlattr *a = (const void *)((const char *)nlh + off);
			if (a->nla_len < sizeof(*a) || off + a->nla_len > nlh->nlmsg_len) break;
			if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) ext = (const char *)(a + 1);
			off += NLA_ALIGN(a->nla_len);
		}
	}
	printf("err %u %d %s%s%s\n", e->msg.nlmsg_seq, -e->error, strerror(-e->error), ext ? ": " : "",
	       ext ? ext : "");
}

int main(int argc, char **argv) {
	if (argc > 1) {
		char path[512];
		snprintf(path, sizeof(path), "/run/netns/%s", argv[1]);
		int nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "nft-batch: cannot enter network namespace %s: %s\n", argv[1], strerror(errno));
			return 2;
		}
		close(nsfd);
	}
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0) {
		fprintf(stderr, "nft-batch: netlink socket: %s\n", strerror(errno));
		return 2;
	}
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		fprintf(stderr, "nft-batch: bind: %s\n", strerror(errno));
		return 2;
	}
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	int rcvbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	size_t cap = 0;
	char *batch = NULL;
	static char reply[1 << 16];
	for (;;) {
		uint32_t len;
		int r = read_full(0, &len, sizeof(len));
		if (r == 0) return 0;
		if (r < 0 || len == 0) return 2;
		if (len > cap) {
			free(batch);
			cap = len;
			batch = malloc(cap);
			if (!batch) return 2;
		}
		if (read_full(0, batch, len) != 1) return 2;
		int sndbuf = (int)len + (1 << 16);
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));

		long started = now_us();
		struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
		struct iovec iov = {.iov_base = batch, .iov_len = len};
		struct msghdr msg = {.msg_name = &kernel, .msg_namelen = sizeof(kernel), .msg_iov = &iov, .msg_iovlen = 1};
		int failed = 0;
		if (sendmsg(fd, &msg, 0) < 0) {
			printf("err 0 %d sendmsg: %s\n", errno, strerror(errno));
			failed = 1;
		}
		/* The kernel handles a batch inside sendmsg, so every reply is queued when it returns. Only
		 * errors are replied to (no NLM_F_ACK is set), so an empty queue means success. */
		for (;;) {
			ssize_t n = recv(fd, reply, sizeof(reply), MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR) continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) break;
				printf("err 0 %d recv: %s\n", errno, strerror(errno));
				failed = 1;
				break;
			}
			for (struct nlmsghdr *nlh = (void *)reply; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
				if (nlh->nlmsg_type != NLMSG_ERROR) continue;
				const struct nlmsgerr *e = NLMSG_DATA(nlh);
				if (e->error == 0) continue;
				report_error(nlh);
				failed = 1;
			}
		}
		printf(failed ? "end %ld\n" : "ok %ld\n", now_us() - started);
		fflush(stdout);
	}
}
