/*
 * libnlsim.so — LD_PRELOAD shim that points unmodified netlink clients (iproute2 `ip`, `devlink`,
 * strongSwan charon, …) at the xfrmkit simulator instead of the kernel.
 *
 * With NLSIM_SOCKET=/path/to/unix.sock set, socket(AF_NETLINK, SOCK_RAW|SOCK_DGRAM, proto) for a
 * proto listed in NLSIM_PROTOCOLS (default "6,16" = NETLINK_XFRM, NETLINK_GENERIC) returns an
 * AF_UNIX SOCK_STREAM connection to that path instead. Every later call on that fd that netlink
 * semantics depend on is emulated: one send = one DATA frame, one receive = one whole frame
 * (datagram semantics incl. MSG_PEEK / MSG_TRUNC), addresses are synthesised as sockaddr_nl.
 * Everything else passes through untouched. Without NLSIM_SOCKET the library is inert.
 *
 * Wire protocol (host byte order), see /work/shared/reference/netlink-redirect.md §7:
 *   struct frame { u32 len; u16 kind; u16 flags; u32 group; u32 portid; } + len payload bytes
 *   1 DATA      both   one netlink datagram; s->c: group = multicast group (0 unicast), portid =
 *                      sender (0 kernel); c->s: group/portid = destination sockaddr_nl
 *   2 HELLO     c->s   u32 protocol, u32 pid, u32 type
 *   3 HELLO_ACK s->c   i32 err (0 or -errno), u32 portid
 *   4 BIND      c->s   u32 nl_pid, u32 nl_groups
 *   5 SETSOCKOPT c->s  i32 level, i32 optname, i32 value
 *   6 RCVLEN    c->s   u32 largest receive buffer seen (<= 32768)
 *
 * The stream is read statelessly: a frame is peeked until it is complete and only then consumed
 * in one recv, so poll/select/epoll readiness on the fd needs no interception.
 *
 * Build: gcc -O2 -Wall -Wextra -fPIC -shared -o libnlsim.so nlsim.c -ldl -lpthread
 *
 * Not covered (documented limits): fcntl(F_DUPFD*), close_range/closefrom, readv/writev,
 * recvmmsg/sendmmsg, SIOCETHTOOL forwarding, NETLINK_PKTINFO cmsgs, multicast groups > 32 in
 * msg_name, raw syscall(2) users, static binaries, setuid binaries.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define NLSIM_EXPORT __attribute__((visibility("default")))

enum { K_DATA = 1, K_HELLO = 2, K_HELLO_ACK = 3, K_BIND = 4, K_SETSOCKOPT = 5, K_RCVLEN = 6 };

struct frame_hdr {
	uint32_t len;
	uint16_t kind;
	uint16_t flags;
	uint32_t group;
	uint32_t portid;
};

#define FRAME_MAX (1u << 24) /* sanity bound on a frame from the simulator */
#define RCVLEN_CAP 32768u
#define NL_OPT_MAX 16 /* SOL_NETLINK option numbers are small (NETLINK_* <= 12 today) */

struct nlsock {
	int refs;              /* table slots + in-flight users; protected by table_lock */
	dev_t dev;             /* identity of the unix socket, to detect stale slots */
	ino_t ino;
	int protocol;
	int type;              /* original base type (SOCK_RAW / SOCK_DGRAM) */
	uint32_t portid;
	uint32_t groups;
	uint32_t rcvlen;       /* largest receive buffer reported to the simulator */
	int opts[NL_OPT_MAX];  /* recorded SOL_NETLINK int options */
	pthread_mutex_t send_lock;
	pthread_mutex_t recv_lock;
	unsigned char *rbuf;   /* frame buffer, under recv_lock */
	size_t rbuf_cap;
};

/* ---- real libc entry points ---------------------------------------------------------------- */

static int (*real_socket)(int, int, int);
static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static const char *sim_path;      /* NULL: shim inert */
static uint32_t sim_protocols;    /* bit per NETLINK_* protocol number (< 32) */
static int sim_debug;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nlsock **table;     /* indexed by fd */
static size_t table_cap;
static volatile int active_count; /* number of occupied slots; fast path for read/write/close */

#define RESOLVE(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)

static void atfork_prepare(void) { pthread_mutex_lock(&table_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&table_lock); }
static void atfork_child(void) { pthread_mutex_unlock(&table_lock); }

static void shim_init(void)
{
	RESOLVE(socket); RESOLVE(bind); RESOLVE(connect); RESOLVE(getsockname);
	RESOLVE(getpeername); RESOLVE(setsockopt); RESOLVE(getsockopt); RESOLVE(sendmsg);
	RESOLVE(sendto); RESOLVE(send); RESOLVE(write); RESOLVE(recvmsg); RESOLVE(recvfrom);
	RESOLVE(recv); RESOLVE(read); RESOLVE(close); RESOLVE(dup); RESOLVE(dup2); RESOLVE(dup3);

	const char *p = getenv("NLSIM_SOCKET");
	if (p && *p && strlen(p) < sizeof(((struct sockaddr_un *)0)->sun_path))
		sim_path = strdup(p);
	const char *protos = getenv("NLSIM_PROTOCOLS");
	if (!protos || !*protos)
		protos = "6,16";
	for (const char *s = protos; *s;) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		if (v >= 0 && v < 32)
			sim_protocols |= 1u << v;
		s = *end ? end + 1 : end;
	}
	const char *dbg = getenv("NLSIM_DEBUG");
	sim_debug = dbg && *dbg && *dbg != '0';
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static inline void ensure_init(void) { pthread_once(&init_once, shim_init); }

static void dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dbg(const char *fmt, ...)
{
	if (!sim_debug)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0) {
		int saved = errno;
		size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
		ssize_t w = real_write(2, buf, len);
		(void)w;
		errno = saved;
	}
}

/* ---- fd table --------------------------------------------------------------------------------- */

static void nlsock_free(struct nlsock *s)
{
	pthread_mutex_destroy(&s->send_lock);
	pthread_mutex_destroy(&s->recv_lock);
	free(s->rbuf);
	free(s);
}

/* Drop a reference; caller must NOT hold table_lock. */
static void nlsock_put(struct nlsock *s)
{
	pthread_mutex_lock(&table_lock);
	int left = --s->refs;
	pthread_mutex_unlock(&table_lock);
	if (left == 0)
		nlsock_free(s);
}

/* Remove fd's slot (if any); returns the removed entry for the caller to put, under table_lock. */
static struct nlsock *slot_take_locked(int fd)
{
	if (fd < 0 || (size_t)fd >= table_cap || !table[fd])
		return NULL;
	struct nlsock *s = table[fd];
	table[fd] = NULL;
	__atomic_sub_fetch(&active_count, 1, __ATOMIC_RELAXED);
	return s;
}

static int slot_set_locked(int fd, struct nlsock *s)
{
	if ((size_t)fd >= table_cap) {
		size_t cap = table_cap ? table_cap : 64;
		while (cap <= (size_t)fd)
			cap *= 2;
		struct nlsock **t = realloc(table, cap * sizeof(*t));
		if (!t)
			return -1;
		memset(t + table_cap, 0, (cap - table_cap) * sizeof(*t));
		table = t;
		table_cap = cap;
	}
	table[fd] = s;
	s->refs++;
	__atomic_add_fetch(&active_count, 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Look up fd and take a reference. A slot whose fd no longer refers to the unix socket we created
 * (closed behind our back, e.g. by a raw syscall, and the number reused) is dropped.
 */
static struct nlsock *lookup(int fd)
{
	if (__atomic_load_n(&active_count, __ATOMIC_RELAXED) == 0 || fd < 0)
		return NULL;
	struct nlsock *s = NULL, *stale = NULL;
	pthread_mutex_lock(&table_lock);
	if ((size_t)fd < table_cap && table[fd]) {
		struct stat st;
		int saved = errno;
		if (fstat(fd, &st) == 0 && st.st_dev == table[fd]->dev && st.st_ino == table[fd]->ino) {
			s = table[fd];
			s->refs++;
		} else {
			stale = slot_take_locked(fd);
		}
		errno = saved;
	}
	pthread_mutex_unlock(&table_lock);
	if (stale)
		nlsock_put(stale);
	return s;
}

/* ---- stream helpers --------------------------------------------------------------------------- */

static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int r = poll(&p, 1, -1);
		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static int fd_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

/*
 * Write a whole frame (header + iov). If nothing has been written yet and the caller is
 * non-blocking, EAGAIN is returned as is; once a frame is started it is always finished, because
 * a partial frame would desynchronise the stream for good.
 */
static int write_frame(int fd, const struct frame_hdr *h, const struct iovec *iov, size_t iovcnt,
		       int nonblock)
{
	struct iovec v[1 + 64];
	struct iovec *vec = v;
	size_t n = 1 + iovcnt;
	if (n > sizeof(v) / sizeof(v[0])) {
		vec = malloc(n * sizeof(*vec));
		if (!vec) {
			errno = ENOBUFS;
			return -1;
		}
	}
	vec[0].iov_base = (void *)h;
	vec[0].iov_len = sizeof(*h);
	for (size_t i = 0; i < iovcnt; i++)
		vec[1 + i] = iov[i];

	size_t started = 0, idx = 0;
	int rc = 0;
	while (idx < n) {
		struct msghdr m = { .msg_iov = vec + idx, .msg_iovlen = n - idx };
		ssize_t w = real_sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!started && nonblock) {
					rc = -1;
					break;
				}
				if (wait_fd(fd, POLLOUT) < 0) {
					rc = -1;
					break;
				}
				continue;
			}
			if (errno == EPIPE)
				errno = ECONNREFUSED;
			rc = -1;
			break;
		}
		started = 1;
		size_t left = (size_t)w;
		while (idx < n && left >= vec[idx].iov_len)
			left -= vec[idx++].iov_len;
		if (idx < n && left) {
			vec[idx].iov_base = (char *)vec[idx].iov_base + left;
			vec[idx].iov_len -= left;
		}
	}
	if (vec != v) {
		int saved = errno;
		free(vec);
		errno = saved;
	}
	return rc;
}

static int send_ctl(struct nlsock *s, int fd, uint16_t kind, const void *payload, uint32_t len)
{
	struct frame_hdr h = { .len = len, .kind = kind };
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };
	pthread_mutex_lock(&s->send_lock);
	int rc = write_frame(fd, &h, &iov, len ? 1 : 0, 0);
	pthread_mutex_unlock(&s->send_lock);
	return rc;
}

/* Blocking exact read used only during the HELLO handshake (fd not yet visible to the app). */
static int read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = real_recv(fd, (char *)buf + got, len - got, 0);
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* ---- socket ---------------------------------------------------------------------------------- */

NLSIM_EXPORT int socket(int domain, int type, int protocol)
{
	ensure_init();
	if (domain != AF_NETLINK || !sim_path || protocol < 0 || protocol >= 32 ||
	    !(sim_protocols & (1u << protocol)))
		return real_socket(domain, type, protocol);

	int base = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (base != SOCK_RAW && base != SOCK_DGRAM) {
		errno = ESOCKTNOSUPPORT;
		return -1;
	}
	/* Connect and handshake blocking; O_NONBLOCK is applied afterwards if asked for. */
	int fd = real_socket(AF_UNIX, SOCK_STREAM | (type & SOCK_CLOEXEC), 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, sim_path);
	struct nlsock *s = NULL;
	int err;
	while (real_connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno != EINTR)
			goto fail;
	}

	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOBUFS;
		goto fail;
	}
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->recv_lock, NULL);
	s->protocol = protocol;
	s->type = base;

	uint32_t hello[3] = { (uint32_t)protocol, (uint32_t)getpid(), (uint32_t)base };
	if (send_ctl(s, fd, K_HELLO, hello, sizeof(hello)) < 0)
		goto fail;
	struct frame_hdr h;
	int32_t ack[2];
	if (read_exact(fd, &h, sizeof(h)) < 0)
		goto fail;
	if (h.kind != K_HELLO_ACK || h.len != sizeof(ack)) {
		errno = EPROTO;
		goto fail;
	}
	if (read_exact(fd, ack, sizeof(ack)) < 0)
		goto fail;
	if (ack[0] != 0) {
		errno = ack[0] < 0 ? -ack[0] : EPROTO;
		goto fail;
	}
	s->portid = (uint32_t)ack[1];

	struct stat st;
	if (fstat(fd, &st) < 0)
		goto fail;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if ((type & SOCK_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		goto fail;

	pthread_mutex_lock(&table_lock);
	struct nlsock *stale = slot_take_locked(fd);
	int rc = slot_set_locked(fd, s);
	pthread_mutex_unlock(&table_lock);
	if (stale)
		nlsock_put(stale);
	if (rc < 0) {
		errno = ENOBUFS;
		goto fail;
	}
	dbg("nlsim: fd %d -> %s (protocol %d, portid %u)\n", fd, sim_path, protocol, s->portid);
	return fd;

fail:
	err = errno;
	if (s)
		nlsock_free(s);
	real_close(fd);
	errno = err;
	return -1;
}

/* ---- addresses ------------------------------------------------------------------------------- */

static void put_nladdr(struct sockaddr *addr, socklen_t *alen, uint32_t pid, uint32_t groups)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = pid, .nl_groups = groups };
	if (addr && alen) {
		socklen_t n = *alen < (socklen_t)sizeof(nl) ? *alen : (socklen_t)sizeof(nl);
		memcpy(addr, &nl, n);
	}
	if (alen)
		*alen = sizeof(nl);
}

static int check_nladdr(const struct sockaddr *addr, socklen_t len)
{
	if (!addr || len < (socklen_t)sizeof(struct sockaddr_nl) || addr->sa_family != AF_NETLINK) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

NLSIM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_bind(fd, addr, len);
	int rc = check_nladdr(addr, len);
	if (rc == 0) {
		const struct sockaddr_nl *nl = (const struct sockaddr_nl *)addr;
		uint32_t p[2] = { nl->nl_pid, nl->nl_groups };
		rc = send_ctl(s, fd, K_BIND, p, sizeof(p));
		if (rc == 0) {
			if (nl->nl_pid)
				s->portid = nl->nl_pid;
			s->groups = nl->nl_groups;
		}
	}
	nlsock_put(s);
	return rc;
}

NLSIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_connect(fd, addr, len);
	/* netlink connect() only sets a default destination; the simulator is the only peer. */
	int rc = check_nladdr(addr, len);
	nlsock_put(s);
	return rc;
}

NLSIM_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_getsockname(fd, addr, len);
	int rc = 0;
	if (!len) {
		errno = EFAULT;
		rc = -1;
	} else {
		put_nladdr(addr, len, s->portid, s->groups);
	}
	nlsock_put(s);
	return rc;
}

NLSIM_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_getpeername(fd, addr, len);
	int rc = 0;
	if (!len) {
		errno = EFAULT;
		rc = -1;
	} else {
		put_nladdr(addr, len, 0, 0);
	}
	nlsock_put(s);
	return rc;
}

/* ---- socket options -------------------------------------------------------------------------- */

NLSIM_EXPORT int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_setsockopt(fd, level, optname, optval, optlen);
	int rc = 0;
	if (level == SOL_NETLINK) {
		if (!optval || optlen < (socklen_t)sizeof(int)) {
			errno = EINVAL;
			rc = -1;
		} else {
			int32_t p[3] = { level, optname, 0 };
			memcpy(&p[2], optval, sizeof(int));
			rc = send_ctl(s, fd, K_SETSOCKOPT, p, sizeof(p));
			if (rc == 0 && optname >= 0 && optname < NL_OPT_MAX)
				s->opts[optname] = p[2];
		}
	} else if (level == SOL_SOCKET && (optname == SO_ATTACH_FILTER || optname == SO_DETACH_FILTER ||
					    optname == SO_LOCK_FILTER || optname == SO_ATTACH_BPF)) {
		/* A classic BPF filter would run on the framed stream: accept and ignore. */
		rc = 0;
	} else {
		rc = real_setsockopt(fd, level, optname, optval, optlen);
	}
	nlsock_put(s);
	return rc;
}

static int put_int_opt(void *optval, socklen_t *optlen, int v)
{
	if (!optval || !optlen || *optlen < (socklen_t)sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(optval, &v, sizeof(int));
	*optlen = sizeof(int);
	return 0;
}

NLSIM_EXPORT int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_getsockopt(fd, level, optname, optval, optlen);
	int rc;
	if (level == SOL_SOCKET && optname == SO_DOMAIN)
		rc = put_int_opt(optval, optlen, AF_NETLINK);
	else if (level == SOL_SOCKET && optname == SO_PROTOCOL)
		rc = put_int_opt(optval, optlen, s->protocol);
	else if (level == SOL_SOCKET && optname == SO_TYPE)
		rc = put_int_opt(optval, optlen, s->type);
	else if (level == SOL_NETLINK && optname == NETLINK_LIST_MEMBERSHIPS) {
		/* kernel semantics: copy what fits, report the size needed */
		if (!optlen) {
			errno = EFAULT;
			rc = -1;
		} else {
			uint32_t g = s->groups;
			if (optval && *optlen >= (socklen_t)sizeof(g))
				memcpy(optval, &g, sizeof(g));
			*optlen = sizeof(g);
			rc = 0;
		}
	} else if (level == SOL_NETLINK)
		rc = put_int_opt(optval, optlen, optname >= 0 && optname < NL_OPT_MAX ? s->opts[optname] : 0);
	else
		rc = real_getsockopt(fd, level, optname, optval, optlen);
	nlsock_put(s);
	return rc;
}

/* ---- send ------------------------------------------------------------------------------------ */

static ssize_t sim_send(struct nlsock *s, int fd, const struct iovec *iov, size_t iovcnt,
			const struct sockaddr *to, socklen_t tolen, int flags)
{
	struct frame_hdr h = { .kind = K_DATA };
	size_t total = 0;
	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (to) {
		if (check_nladdr(to, tolen) < 0)
			return -1;
		const struct sockaddr_nl *nl = (const struct sockaddr_nl *)to;
		h.portid = nl->nl_pid;
		h.group = nl->nl_groups;
	}
	h.len = (uint32_t)total;
	int nonblock = (flags & MSG_DONTWAIT) || fd_nonblocking(fd);
	pthread_mutex_lock(&s->send_lock);
	int rc = write_frame(fd, &h, iov, iovcnt, nonblock);
	pthread_mutex_unlock(&s->send_lock);
	return rc < 0 ? -1 : (ssize_t)total;
}

NLSIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_sendmsg(fd, msg, flags);
	ssize_t r;
	if (!msg) {
		errno = EFAULT;
		r = -1;
	} else {
		r = sim_send(s, fd, msg->msg_iov, msg->msg_iovlen, msg->msg_name, msg->msg_namelen, flags);
	}
	nlsock_put(s);
	return r;
}

NLSIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
			    socklen_t tolen)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_sendto(fd, buf, len, flags, to, tolen);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	ssize_t r = sim_send(s, fd, &iov, 1, to, tolen, flags);
	nlsock_put(s);
	return r;
}

NLSIM_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_send(fd, buf, len, flags);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	ssize_t r = sim_send(s, fd, &iov, 1, NULL, 0, flags);
	nlsock_put(s);
	return r;
}

NLSIM_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_write(fd, buf, len);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	ssize_t r = sim_send(s, fd, &iov, 1, NULL, 0, 0);
	nlsock_put(s);
	return r;
}

/* ---- receive --------------------------------------------------------------------------------- */

static void sleep_briefly(void)
{
	struct timespec ts = { 0, 50 * 1000 };
	nanosleep(&ts, NULL);
}

/*
 * Peek until `want` bytes are queued. 1 = ready, 0 = EOF, -1 = error (EAGAIN if non-blocking).
 * A partially arrived frame makes poll() report readable at once, so back off with short sleeps.
 */
static int peek_bytes(int fd, void *buf, size_t want, int nonblock)
{
	for (;;) {
		ssize_t r = real_recv(fd, buf, want, MSG_PEEK | MSG_DONTWAIT);
		if (r == (ssize_t)want)
			return 1;
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if (nonblock)
				return -1;
			if (wait_fd(fd, POLLIN) < 0)
				return -1;
			continue;
		}
		/* partial */
		if (nonblock) {
			errno = EAGAIN;
			return -1;
		}
		sleep_briefly();
	}
}

static ssize_t sim_recv(struct nlsock *s, int fd, struct msghdr *msg, int flags)
{
	if (flags & MSG_ERRQUEUE) {
		errno = EAGAIN;
		return -1;
	}
	int nonblock = (flags & MSG_DONTWAIT) || fd_nonblocking(fd);
	size_t cap = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
		cap += msg->msg_iov[i].iov_len;

	/* Tell the simulator how large a datagram this reader takes (dump page sizing). */
	uint32_t rl = cap > RCVLEN_CAP ? RCVLEN_CAP : (uint32_t)cap;
	if (rl > __atomic_load_n(&s->rcvlen, __ATOMIC_RELAXED)) {
		__atomic_store_n(&s->rcvlen, rl, __ATOMIC_RELAXED);
		if (send_ctl(s, fd, K_RCVLEN, &rl, sizeof(rl)) < 0)
			return -1;
	}

	pthread_mutex_lock(&s->recv_lock);
	ssize_t ret = -1;
	struct frame_hdr h;
	for (;;) {
		int r = peek_bytes(fd, &h, sizeof(h), nonblock);
		if (r <= 0) {
			ret = r; /* 0 = EOF: the simulator went away */
			goto out;
		}
		if (h.len > FRAME_MAX) {
			errno = EPROTO;
			goto out;
		}
		size_t need = sizeof(h) + h.len;
		if (s->rbuf_cap < need) {
			unsigned char *nb = realloc(s->rbuf, need);
			if (!nb) {
				errno = ENOBUFS;
				goto out;
			}
			s->rbuf = nb;
			s->rbuf_cap = need;
		}
		r = peek_bytes(fd, s->rbuf, need, nonblock);
		if (r <= 0) {
			ret = r;
			goto out;
		}
		if (h.kind == K_DATA)
			break;
		/* Unknown control frame from the simulator: consume and ignore. */
		if (real_recv(fd, s->rbuf, need, MSG_DONTWAIT) != (ssize_t)need) {
			errno = EPROTO;
			goto out;
		}
	}

	/* Copy the datagram into the caller's iov. */
	const unsigned char *data = s->rbuf + sizeof(h);
	size_t left = h.len;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && left; i++) {
		size_t n = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;
		if (n)
			memcpy(msg->msg_iov[i].iov_base, data, n);
		data += n;
		left -= n;
	}
	size_t copied = h.len - left;
	if (!(flags & MSG_PEEK)) {
		size_t need = sizeof(h) + h.len;
		if (real_recv(fd, s->rbuf, need, MSG_DONTWAIT) != (ssize_t)need) {
			errno = EPROTO;
			goto out;
		}
	}
	msg->msg_flags = h.len > cap ? MSG_TRUNC : 0;
	if (msg->msg_name) {
		uint32_t g = h.group >= 1 && h.group <= 32 ? 1u << (h.group - 1) : 0;
		socklen_t alen = msg->msg_namelen;
		put_nladdr(msg->msg_name, &alen, h.portid, g);
		msg->msg_namelen = alen;
	}
	msg->msg_controllen = 0;
	ret = (flags & MSG_TRUNC) ? (ssize_t)h.len : (ssize_t)copied;
out:
	pthread_mutex_unlock(&s->recv_lock);
	return ret;
}

NLSIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_recvmsg(fd, msg, flags);
	ssize_t r;
	if (!msg) {
		errno = EFAULT;
		r = -1;
	} else {
		r = sim_recv(s, fd, msg, flags);
	}
	nlsock_put(s);
	return r;
}

static ssize_t sim_recvfrom(struct nlsock *s, int fd, void *buf, size_t len, int flags,
			    struct sockaddr *from, socklen_t *fromlen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (from && fromlen) {
		m.msg_name = from;
		m.msg_namelen = *fromlen;
	}
	ssize_t r = sim_recv(s, fd, &m, flags);
	if (r >= 0 && from && fromlen)
		*fromlen = m.msg_namelen;
	return r;
}

NLSIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
			      socklen_t *fromlen)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_recvfrom(fd, buf, len, flags, from, fromlen);
	ssize_t r = sim_recvfrom(s, fd, buf, len, flags, from, fromlen);
	nlsock_put(s);
	return r;
}

NLSIM_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_recv(fd, buf, len, flags);
	ssize_t r = sim_recvfrom(s, fd, buf, len, flags, NULL, NULL);
	nlsock_put(s);
	return r;
}

NLSIM_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_read(fd, buf, len);
	ssize_t r = sim_recvfrom(s, fd, buf, len, 0, NULL, NULL);
	nlsock_put(s);
	return r;
}

/* _FORTIFY_SOURCE variants: same checks glibc does, then the emulated call. */
NLSIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		abort();
	return recv(fd, buf, len, flags);
}

NLSIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				    struct sockaddr *from, socklen_t *fromlen)
{
	if (len > buflen)
		abort();
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

NLSIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		abort();
	return read(fd, buf, len);
}

/* ---- fd lifetime ----------------------------------------------------------------------------- */

NLSIM_EXPORT int close(int fd)
{
	ensure_init();
	struct nlsock *s = NULL;
	if (__atomic_load_n(&active_count, __ATOMIC_RELAXED) && fd >= 0) {
		pthread_mutex_lock(&table_lock);
		s = slot_take_locked(fd);
		pthread_mutex_unlock(&table_lock);
	}
	int rc = real_close(fd);
	if (s) {
		int saved = errno;
		nlsock_put(s);
		errno = saved;
	}
	return rc;
}

/* After a successful dup into newfd: newfd shares the emulated socket of oldfd (or none). */
static void dup_slot(int oldfd, int newfd)
{
	struct nlsock *old_entry = NULL;
	struct nlsock *src = lookup(oldfd);
	pthread_mutex_lock(&table_lock);
	old_entry = slot_take_locked(newfd);
	if (src && slot_set_locked(newfd, src) < 0)
		dbg("nlsim: out of memory tracking dup of fd %d\n", oldfd);
	pthread_mutex_unlock(&table_lock);
	if (old_entry)
		nlsock_put(old_entry);
	if (src)
		nlsock_put(src);
}

NLSIM_EXPORT int dup(int oldfd)
{
	ensure_init();
	int fd = real_dup(oldfd);
	if (fd >= 0 && __atomic_load_n(&active_count, __ATOMIC_RELAXED)) {
		int saved = errno;
		dup_slot(oldfd, fd);
		errno = saved;
	}
	return fd;
}

NLSIM_EXPORT int dup2(int oldfd, int newfd)
{
	ensure_init();
	int fd = real_dup2(oldfd, newfd);
	if (fd >= 0 && oldfd != newfd && __atomic_load_n(&active_count, __ATOMIC_RELAXED)) {
		int saved = errno;
		dup_slot(oldfd, fd);
		errno = saved;
	}
	return fd;
}

NLSIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	ensure_init();
	int fd = real_dup3(oldfd, newfd, flags);
	if (fd >= 0 && __atomic_load_n(&active_count, __ATOMIC_RELAXED)) {
		int saved = errno;
		dup_slot(oldfd, fd);
		errno = saved;
	}
	return fd;
}
