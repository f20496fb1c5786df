/*
 * The impairment relay (see impair.h): a child process that copies IP
 * packets between two TUN descriptors through a drop decision and a
 * delay queue, steered over a control socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "impair.h"

#define PKT_MAX 65536		/* one read from a TUN device */
#define QUEUE_MAX 8192		/* delayed packets per direction */
#define BURST 64		/* packets read per wake and direction */

enum { OP_SET = 1, OP_STATS = 2 };

struct ctl_msg {
	int op;
	struct impair_opts o;
};

/* ---- namespaces and devices ---------------------------------------------- */

static int if_up(int s, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

static int set_in4(int s, const char *name, unsigned long req, in_addr_t a)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = a;
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

int impair_tun(const char *name, const char *ip, int prefix)
{
	struct ifreq ifr;
	struct in_addr a;
	in_addr_t mask;
	int fd, s, rc;

	if (inet_pton(AF_INET, ip, &a) != 1 || prefix < 1 || prefix > 32)
		return -EINVAL;
	mask = htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = if_up(s, "lo");
	if (!rc)
		rc = set_in4(s, name, SIOCSIFADDR, a.s_addr);
	if (!rc)
		rc = set_in4(s, name, SIOCSIFNETMASK, mask);
	if (!rc)
		rc = if_up(s, name);
	close(s);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int impair_send_fd(int sock, int fd)
{
	char c = 'F';
	struct iovec iov = { &c, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	memset(u.buf, 0, sizeof(u.buf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

int impair_recv_fd(int sock)
{
	char c;
	struct iovec iov = { &c, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -EIO;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

pid_t impair_spawn_ns(const char *name, const char *ip, int prefix,
		      int (*fn)(void *arg, int sock), void *arg, int *tun_fd,
		      int *ctl)
{
	int sv[2], fd, rc;
	pid_t pid, parent = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(5);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(6);
		fd = impair_tun(name, ip, prefix);
		if (fd < 0 || impair_send_fd(sv[1], fd) < 0)
			_exit(7);
		close(fd);
		_exit(fn(arg, sv[1]));
	}
	close(sv[1]);
	fd = impair_recv_fd(sv[0]);
	if (fd < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return fd;
	}
	*tun_fd = fd;
	*ctl = sv[0];
	return pid;
}

/* ---- the relay ------------------------------------------------------------ */

struct pkt {
	uint64_t due;		/* CLOCK_MONOTONIC ns */
	size_t len;
	uint8_t *data;
};

struct queue {
	struct pkt q[QUEUE_MAX];
	unsigned head, n;
};

struct relay {
	int fd[2];		/* [0] a, [1] b */
	int ctl;
	struct impair_opts o;
	uint64_t rng;		/* xorshift64 state */
	struct queue dq[2];	/* [i]: read from fd[i], to fd[!i] */
	struct impair_stats st;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double rnd(struct relay *rl)
{
	uint64_t x = rl->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rl->rng = x;
	return (double)(x >> 11) / (double)(1ull << 53);
}

static bool is_udp(const uint8_t *p, size_t n)
{
	if (n >= 20 && (p[0] >> 4) == 4)
		return p[9] == IPPROTO_UDP;
	if (n >= 40 && (p[0] >> 4) == 6)
		return p[6] == IPPROTO_UDP;
	return false;
}

static void deliver(struct relay *rl, int dir, const uint8_t *p, size_t n)
{
	/* a full device queue drops, as a congested link would */
	if (write(rl->fd[!dir], p, n) == (ssize_t)n)
		rl->st.forwarded[dir]++;
}

static void take(struct relay *rl, int dir, uint8_t *p, size_t n,
		 uint64_t now)
{
	bool impaired = !rl->o.udp_only || is_udp(p, n);
	struct queue *q = &rl->dq[dir];
	struct pkt *k;

	if (impaired && rl->o.cut) {
		rl->st.cut[dir]++;
		return;
	}
	if (impaired && rl->o.loss > 0 && rnd(rl) < rl->o.loss) {
		rl->st.lost[dir]++;
		return;
	}
	if (!rl->o.delay_ms && !q->n) {
		deliver(rl, dir, p, n);
		return;
	}
	if (q->n == QUEUE_MAX) {
		rl->st.overflow++;
		return;
	}
	k = &q->q[(q->head + q->n) % QUEUE_MAX];
	k->data = malloc(n);
	if (!k->data) {
		rl->st.overflow++;
		return;
	}
	memcpy(k->data, p, n);
	k->len = n;
	k->due = now + (uint64_t)rl->o.delay_ms * 1000000u;
	q->n++;
}

/* Send what is due; returns the ns until the next due packet, or
 * UINT64_MAX when both queues are empty. */
static uint64_t release_due(struct relay *rl, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int d = 0; d < 2; d++) {
		struct queue *q = &rl->dq[d];

		while (q->n) {
			struct pkt *k = &q->q[q->head];

			if (k->due > now) {
				if (k->due - now < next)
					next = k->due - now;
				break;
			}
			deliver(rl, d, k->data, k->len);
			free(k->data);
			q->head = (q->head + 1) % QUEUE_MAX;
			q->n--;
		}
	}
	return next;
}

/* A control message; false when the controller is gone. */
static bool control(struct relay *rl)
{
	struct ctl_msg m;
	ssize_t n = read(rl->ctl, &m, sizeof(m));

	if (n != (ssize_t)sizeof(m))
		return false;
	if (m.op == OP_SET) {
		if (m.o.seed && m.o.seed != rl->o.seed)
			rl->rng = m.o.seed;
		rl->o = m.o;
		return write(rl->ctl, "k", 1) == 1;
	}
	if (m.op == OP_STATS)
		return write(rl->ctl, &rl->st, sizeof(rl->st)) ==
		       (ssize_t)sizeof(rl->st);
	return false;
}

static int relay_run(struct relay *rl)
{
	uint8_t *buf = malloc(PKT_MAX);

	if (!buf)
		return 2;
	for (;;) {
		struct pollfd pf[3] = {
			{ rl->fd[0], POLLIN, 0 },
			{ rl->fd[1], POLLIN, 0 },
			{ rl->ctl, POLLIN, 0 },
		};
		uint64_t wait = release_due(rl, mono_ns());
		struct timespec ts, *tp = NULL;

		if (wait != UINT64_MAX) {
			ts.tv_sec = (time_t)(wait / 1000000000u);
			ts.tv_nsec = (long)(wait % 1000000000u);
			tp = &ts;
		}
		if (ppoll(pf, 3, tp, NULL) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[2].revents && !control(rl))
			break;
		for (int d = 0; d < 2; d++) {
			if (!(pf[d].revents & POLLIN))
				continue;
			for (int i = 0; i < BURST; i++) {
				ssize_t n = read(rl->fd[d], buf, PKT_MAX);

				if (n <= 0)
					break;
				take(rl, d, buf, (size_t)n, mono_ns());
			}
		}
	}
	free(buf);
	return 0;
}

int impair_start(struct impair *im, int fa, int fb,
		 const struct impair_opts *o)
{
	static struct relay rl;	/* the child's; large (queues) */
	int sv[2], rc;
	pid_t parent = getpid();

	im->pid = 0;
	im->ctl = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	im->pid = fork();
	if (im->pid < 0) {
		rc = -errno;
		close(sv[0]);
		close(sv[1]);
		im->pid = 0;
		return rc;
	}
	if (im->pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(5);
		memset(&rl, 0, sizeof(rl));
		rl.fd[0] = fa;
		rl.fd[1] = fb;
		rl.ctl = sv[1];
		rl.o = *o;
		rl.rng = o->seed ? o->seed : 1;
		_exit(relay_run(&rl));
	}
	close(sv[1]);
	close(fa);
	close(fb);
	im->ctl = sv[0];
	return 0;
}

int impair_set(struct impair *im, const struct impair_opts *o)
{
	struct ctl_msg m;
	char k;

	memset(&m, 0, sizeof(m));	/* padding goes over the socket */
	m.op = OP_SET;
	m.o = *o;

	if (write(im->ctl, &m, sizeof(m)) != (ssize_t)sizeof(m))
		return -EIO;
	return read(im->ctl, &k, 1) == 1 ? 0 : -EIO;
}

int impair_get_stats(struct impair *im, struct impair_stats *st)
{
	struct ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.op = OP_STATS;

	if (write(im->ctl, &m, sizeof(m)) != (ssize_t)sizeof(m))
		return -EIO;
	return read(im->ctl, st, sizeof(*st)) == (ssize_t)sizeof(*st) ? 0
								      : -EIO;
}

void impair_stop(struct impair *im)
{
	int st;

	if (im->ctl >= 0)
		close(im->ctl);
	im->ctl = -1;
	if (im->pid > 0) {
		/* the relay sees EOF on its control socket and exits */
		for (int i = 0; i < 200; i++) {
			if (waitpid(im->pid, &st, WNOHANG) == im->pid) {
				im->pid = 0;
				return;
			}
			usleep(5000);
		}
		kill(im->pid, SIGKILL);
		waitpid(im->pid, &st, 0);
	}
	im->pid = 0;
}
