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
 *   7 IOCTL     c->s   own connection, no HELLO; header `group` = ioctl request number
 *                      (0 = SIOCETHTOOL); payload char ifname[16] + request data (see below)
 *   8 IOCTL_ACK s->c   i32 err (0 or -errno; -ENODEV = "not a simulated device") + data out
 *
 * Simulated device names (netdevs that exist only in the simulator, e.g. BlueField `p0`):
 *   CHOICE: NETLINK_ROUTE stays on the kernel ("hybrid route"), and the shim answers the few
 *   questions that name a simulated netdev from the simulator:
 *   - RTM_GETLINK requests (not dumps) sent on a NETLINK_ROUTE socket: the shim first asks the
 *     simulator (a fresh simulator connection with protocol NETLINK_ROUTE, answered by the
 *     simulator's rtnl handler). If the simulator answers RTM_NEWLINK (it owns that name, or that
 *     ifindex), the reply (and the ACK, if asked) is queued on the app's socket and a "doorbell" --
 *     NLMSG_NOOP|NLM_F_ACK with nlmsg_pid NLSIM_DOORBELL -- is sent to the kernel, whose ACK makes
 *     the fd readable exactly when a kernel reply would; the receive path swaps each doorbell ACK
 *     for the queued datagram. poll/select/epoll therefore stay correct without interception.
 *     Any other answer (ENODEV: not a simulated name/index) sends the original request to the
 *     kernel unchanged. Simulated names and indexes shadow the kernel's (sim `lo` is ifindex 1,
 *     like the kernel's). RTM_GETLINK dumps and every other NETLINK_ROUTE message go to the kernel
 *     untouched, so charon's address/route cache and `ip link`/`ip addr` see the real netns.
 *   - if_nametoindex()/if_indextoname() (glibc implements them with an internal SIOCGIFINDEX /
 *     SIOCGIFNAME ioctl that LD_PRELOAD cannot see) and ioctl(SIOCGIFINDEX / SIOCGIFNAME) are
 *     interposed: simulator first (IOCTL frame), the real call when the simulator says ENODEV.
 *   Why not redirect NETLINK_ROUTE wholesale (NLSIM_PROTOCOLS=0,…, still possible): then every
 *   address, route and link message `ip` and charon send must be simulated too; charon builds its
 *   interface/address cache from them and IKE runs over the real netns.
 *   NLSIM_ROUTE=0 turns the hybrid route off (plain kernel NETLINK_ROUTE).
 *
 * ethtool: ioctl(fd, SIOCETHTOOL, ifr) on any fd (charon uses a NETLINK_XFRM SOCK_DGRAM socket,
 *   ethtool(8) an AF_INET one) is forwarded for ETHTOOL_GDRVINFO, GSSET_INFO, GSTRINGS, GSTATS,
 *   GFEATURES and SFEATURES (other commands: the simulator answers EOPNOTSUPP for its devices); the
 *   simulator writes the output struct as the kernel does (GSTRINGS fills len*32 bytes whatever
 *   `len` said). -ENODEV from the simulator falls back to the real ioctl. NLSIM_ETHTOOL=0 turns
 *   ioctl/if_nametoindex forwarding off.
 *
 * Not covered (documented limits): fcntl(F_DUPFD*), close_range/closefrom, readv/writev,
 * recvmmsg/sendmmsg, NETLINK_PKTINFO cmsgs, multicast groups > 32 in msg_name, raw syscall(2)
 * users, static binaries, setuid binaries, glibc-internal getifaddrs()/if_nameindex() (they list
 * the kernel's netdevs only), RTM_GETLINK dumps (kernel only), ethtool over netlink (ETHTOOL_GENL).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define NLSIM_EXPORT __attribute__((visibility("default")))

enum {
	K_DATA = 1, K_HELLO = 2, K_HELLO_ACK = 3, K_BIND = 4, K_SETSOCKOPT = 5, K_RCVLEN = 6,
	K_IOCTL = 7, K_IOCTL_ACK = 8
};

#define NLSIM_SIOCGIFNAME 0x8910
#define NLSIM_SIOCGIFINDEX 0x8933
#define NLSIM_SIOCETHTOOL 0x8946
#define NLSIM_RTM_GETLINK 18
#define NLSIM_RTM_NEWLINK 16
#define NLSIM_DOORBELL 0x4e4c5349u /* "NLSI": nlmsg_pid of the doorbell NOOP */
#define NLSIM_REPLY_TIMEOUT_MS 5000

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
	/* hybrid NETLINK_ROUTE socket: the fd is the real kernel socket; only RTM_GETLINK for
	 * simulated netdevs is answered from the simulator (see the top comment) */
	int hybrid;
	struct pending *pending_head, *pending_tail; /* substituted datagrams, under recv_lock */
	int pending_count;                           /* atomic: fast path when 0 */
};

struct pending {
	struct pending *next;
	size_t len;
	unsigned char data[];
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
static int (*real_ioctl)(int, unsigned long, ...);
static unsigned int (*real_if_nametoindex)(const char *);
static char *(*real_if_indextoname)(unsigned int, char[IF_NAMESIZE]);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static const char *sim_path;      /* NULL: shim inert */
static uint32_t sim_protocols;    /* bit per NETLINK_* protocol number (< 32) */
static int sim_debug;
static int sim_route = 1;   /* hybrid NETLINK_ROUTE (RTM_GETLINK of simulated netdevs) */
static int sim_ioctl_on = 1; /* SIOCETHTOOL / SIOCGIFINDEX / SIOCGIFNAME / if_nametoindex */

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
	RESOLVE(ioctl); RESOLVE(if_nametoindex); RESOLVE(if_indextoname);

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
	const char *route = getenv("NLSIM_ROUTE");
	if (route && *route == '0')
		sim_route = 0;
	if (sim_protocols & 1u) /* NETLINK_ROUTE redirected wholesale */
		sim_route = 0;
	const char *eth = getenv("NLSIM_ETHTOOL");
	if (eth && *eth == '0')
		sim_ioctl_on = 0;
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
	for (struct pending *p = s->pending_head, *n; p; p = n) {
		n = p->next;
		free(p);
	}
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

/* Like lookup(), but only for sockets emulated on the simulator (hybrid ROUTE sockets are real). */
static struct nlsock *lookup_sim(int fd)
{
	struct nlsock *s = lookup(fd);
	if (s && s->hybrid) {
		nlsock_put(s);
		return NULL;
	}
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

static void register_hybrid(int fd, int type)
{
	struct nlsock *s = calloc(1, sizeof(*s));
	struct stat st;
	if (!s || fstat(fd, &st) < 0) {
		free(s);
		return; /* untracked: plain kernel socket */
	}
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->recv_lock, NULL);
	s->protocol = 0;
	s->type = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
	s->hybrid = 1;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	pthread_mutex_lock(&table_lock);
	struct nlsock *stale = slot_take_locked(fd);
	int rc = slot_set_locked(fd, s);
	pthread_mutex_unlock(&table_lock);
	if (stale)
		nlsock_put(stale);
	if (rc < 0)
		nlsock_free(s);
	else
		dbg("nlsim: fd %d NETLINK_ROUTE on the kernel (hybrid)\n", fd);
}

NLSIM_EXPORT int socket(int domain, int type, int protocol)
{
	ensure_init();
	if (domain == AF_NETLINK && protocol == 0 && sim_path && sim_route) {
		int fd = real_socket(domain, type, protocol);
		if (fd >= 0) {
			int saved = errno;
			register_hybrid(fd, type);
			errno = saved;
		}
		return fd;
	}
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
	struct nlsock *s = lookup_sim(fd);
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
	struct nlsock *s = lookup_sim(fd);
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
	struct nlsock *s = lookup_sim(fd);
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
	struct nlsock *s = lookup_sim(fd);
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
	if (s->hybrid) {
		/* kernel socket; remember NETLINK_CAP_ACK / EXT_ACK for the simulator's answers */
		int rc = real_setsockopt(fd, level, optname, optval, optlen);
		if (rc == 0 && level == SOL_NETLINK && optval && optlen >= (socklen_t)sizeof(int) &&
		    optname >= 0 && optname < NL_OPT_MAX)
			memcpy(&s->opts[optname], optval, sizeof(int));
		nlsock_put(s);
		return rc;
	}
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
	struct nlsock *s = lookup_sim(fd);
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

/* ---- one-shot simulator exchanges (ioctl, hybrid RTM_GETLINK) -------------------------------- */

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* Reads one whole frame (blocking, bounded by NLSIM_REPLY_TIMEOUT_MS). *data is malloc'd. */
static int read_frame(int fd, struct frame_hdr *h, unsigned char **data)
{
	*data = NULL;
	if (wait_readable(fd, NLSIM_REPLY_TIMEOUT_MS) < 0 || read_exact(fd, h, sizeof(*h)) < 0)
		return -1;
	if (h->len > FRAME_MAX) {
		errno = EPROTO;
		return -1;
	}
	*data = malloc(h->len ? h->len : 1);
	if (!*data) {
		errno = ENOBUFS;
		return -1;
	}
	if (h->len && read_exact(fd, *data, h->len) < 0) {
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

static int plain_write_frame(int fd, uint16_t kind, uint32_t group, const void *a, size_t alen,
			     const void *b, size_t blen)
{
	struct frame_hdr h = { .len = (uint32_t)(alen + blen), .kind = kind, .group = group };
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	return write_frame(fd, &h, iov, blen ? 2 : (alen ? 1 : 0), 0);
}

/* A fresh connection to the simulator; protocol >= 0 also does the HELLO (autobound port). */
static int sim_open(int protocol)
{
	int fd = real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, sim_path);
	while (real_connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno != EINTR)
			goto fail;
	}
	if (protocol >= 0) {
		uint32_t hello[3] = { (uint32_t)protocol, 0, SOCK_RAW };
		struct frame_hdr h;
		unsigned char *d;
		if (plain_write_frame(fd, K_HELLO, 0, hello, sizeof(hello), NULL, 0) < 0 ||
		    read_frame(fd, &h, &d) < 0)
			goto fail;
		int32_t err = -EPROTO;
		if (h.kind == K_HELLO_ACK && h.len >= 8)
			memcpy(&err, d, sizeof(err));
		free(d);
		if (err != 0) {
			errno = -err;
			goto fail;
		}
	}
	return fd;
fail: {
	int e = errno;
	real_close(fd);
	errno = e;
	return -1;
}
}

/*
 * One IOCTL exchange on a fresh connection. Returns 1 when the simulator owns the device (*err =
 * 0 or -errno; out/outlen = the data it wrote), 0 when it does not (-ENODEV) or cannot be reached.
 */
static int sim_ioctl_xchg(uint32_t req, const char *ifname, const void *in, size_t inlen,
			  unsigned char **out, size_t *outlen, int32_t *err)
{
	*out = NULL;
	*outlen = 0;
	int saved = errno;
	int fd = sim_open(-1);
	if (fd < 0) {
		errno = saved;
		return 0;
	}
	char name[IFNAMSIZ] = { 0 };
	if (ifname)
		memcpy(name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	struct frame_hdr h;
	unsigned char *d = NULL;
	int owned = 0;
	if (plain_write_frame(fd, K_IOCTL, req, name, sizeof(name), in, inlen) == 0 &&
	    read_frame(fd, &h, &d) == 0 && h.kind == K_IOCTL_ACK && h.len >= 4) {
		memcpy(err, d, sizeof(*err));
		if (*err != -ENODEV) {
			owned = 1;
			*outlen = h.len - 4;
			*out = malloc(*outlen ? *outlen : 1);
			if (*out)
				memcpy(*out, d + 4, *outlen);
			else
				*err = -ENOMEM;
		}
	}
	free(d);
	real_close(fd);
	errno = saved;
	dbg("nlsim: ioctl 0x%x %s -> %s\n", req, name, owned ? "simulator" : "kernel");
	return owned;
}

/* Bytes of the ethtool request the kernel reads before answering (the rest is output). */
static size_t ethtool_in_len(const unsigned char *data)
{
	uint32_t cmd, size;
	memcpy(&cmd, data, 4);
	switch (cmd) {
	case 0x37: /* ETHTOOL_GSSET_INFO: cmd, reserved, u64 sset_mask */
		return 16;
	case 0x1b: /* ETHTOOL_GSTRINGS: cmd, string_set, len */
		return 12;
	case 0x1d: /* ETHTOOL_GSTATS: cmd, n_stats */
	case 0x3a: /* ETHTOOL_GFEATURES: cmd, size */
		return 8;
	case 0x3b: /* ETHTOOL_SFEATURES: cmd, size, {valid, requested}[size] */
		memcpy(&size, data + 4, 4);
		return 8 + (size_t)(size > 64 ? 64 : size) * 8;
	default: /* GDRVINFO and the rest: the command word */
		return 4;
	}
}

/* 1 = answered by the simulator (*rc set, errno set on failure), 0 = do the real ioctl. */
static int sim_ioctl_ifreq(unsigned long req, struct ifreq *ifr, int *rc)
{
	unsigned char *out;
	size_t outlen;
	int32_t err;
	const void *in = NULL;
	size_t inlen = 0;
	int32_t idx;
	if (req == NLSIM_SIOCGIFNAME) {
		idx = ifr->ifr_ifindex;
		in = &idx;
		inlen = sizeof(idx);
	} else if (req == NLSIM_SIOCETHTOOL) {
		if (!ifr->ifr_data)
			return 0;
		in = ifr->ifr_data;
		inlen = ethtool_in_len((const unsigned char *)ifr->ifr_data);
	}
	if (!sim_ioctl_xchg((uint32_t)req, req == NLSIM_SIOCGIFNAME ? NULL : ifr->ifr_name, in, inlen,
			    &out, &outlen, &err))
		return 0;
	if (err == 0) {
		if (req == NLSIM_SIOCGIFINDEX && outlen >= 4)
			memcpy(&ifr->ifr_ifindex, out, 4);
		else if (req == NLSIM_SIOCGIFNAME && outlen >= IFNAMSIZ) {
			memcpy(ifr->ifr_name, out, IFNAMSIZ);
			ifr->ifr_name[IFNAMSIZ - 1] = 0;
		} else if (req == NLSIM_SIOCETHTOOL)
			memcpy(ifr->ifr_data, out, outlen); /* as the kernel: it sized the output */
		*rc = 0;
	} else {
		errno = -err;
		*rc = -1;
	}
	free(out);
	return 1;
}

NLSIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	ensure_init();
	if (sim_path && sim_ioctl_on && arg &&
	    (req == NLSIM_SIOCETHTOOL || req == NLSIM_SIOCGIFINDEX || req == NLSIM_SIOCGIFNAME)) {
		int rc;
		if (sim_ioctl_ifreq(req, (struct ifreq *)arg, &rc))
			return rc;
	}
	return real_ioctl(fd, req, arg);
}

NLSIM_EXPORT unsigned int if_nametoindex(const char *name)
{
	ensure_init();
	if (sim_path && sim_ioctl_on && name) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
		int rc;
		if (strlen(name) < IFNAMSIZ && sim_ioctl_ifreq(NLSIM_SIOCGIFINDEX, &ifr, &rc))
			return rc == 0 ? (unsigned int)ifr.ifr_ifindex : 0;
	}
	return real_if_nametoindex(name);
}

NLSIM_EXPORT char *if_indextoname(unsigned int index, char buf[IF_NAMESIZE])
{
	ensure_init();
	if (sim_path && sim_ioctl_on && buf) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_ifindex = (int)index;
		int rc;
		if (sim_ioctl_ifreq(NLSIM_SIOCGIFNAME, &ifr, &rc)) {
			if (rc != 0) {
				errno = ENXIO; /* glibc's answer for an unknown index */
				return NULL;
			}
			memcpy(buf, ifr.ifr_name, IFNAMSIZ);
			return buf;
		}
	}
	return real_if_indextoname(index, buf);
}

/* ---- hybrid NETLINK_ROUTE: RTM_GETLINK of simulated netdevs ----------------------------------- */

#define HYB_PASS (-2) /* not for us: do the real call */

static uint32_t kernel_portid(int fd)
{
	struct sockaddr_nl nl;
	socklen_t len = sizeof(nl);
	int saved = errno;
	uint32_t pid = 0;
	if (real_getsockname(fd, (struct sockaddr *)&nl, &len) == 0 && nl.nl_family == AF_NETLINK)
		pid = nl.nl_pid;
	errno = saved;
	return pid;
}

static void pending_push(struct nlsock *s, const unsigned char *d, size_t len, uint32_t portid)
{
	struct pending *p = malloc(sizeof(*p) + len);
	if (!p)
		return;
	p->next = NULL;
	p->len = len;
	memcpy(p->data, d, len);
	/* replies carry the requester's port id: the kernel socket's, not the simulator connection's */
	for (size_t off = 0; off + sizeof(struct nlmsghdr) <= len;) {
		struct nlmsghdr *n = (struct nlmsghdr *)(p->data + off);
		if (n->nlmsg_len < sizeof(*n))
			break;
		n->nlmsg_pid = portid;
		off += NLMSG_ALIGN(n->nlmsg_len);
	}
	if (s->pending_tail)
		s->pending_tail->next = p;
	else
		s->pending_head = p;
	s->pending_tail = p;
	__atomic_add_fetch(&s->pending_count, 1, __ATOMIC_RELEASE);
}

/*
 * Asks the simulator an RTM_GETLINK; queues its answer when it owns the netdev. Returns the number
 * of datagrams queued (0: let the kernel answer).
 */
static int route_query(struct nlsock *s, int fd, const unsigned char *req, size_t len)
{
	int saved = errno;
	int c = sim_open(0);
	if (c < 0) {
		errno = saved;
		return 0;
	}
	const struct nlmsghdr *rh = (const struct nlmsghdr *)req;
	int queued = 0;
	unsigned char *d1 = NULL, *d2 = NULL;
	struct frame_hdr h1, h2;
	static const int fwd[] = { 10 /* NETLINK_CAP_ACK */, 11 /* NETLINK_EXT_ACK */ };
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		int32_t opt[3] = { SOL_NETLINK, fwd[i], s->opts[fwd[i]] };
		if (opt[2] && plain_write_frame(c, K_SETSOCKOPT, 0, opt, sizeof(opt), NULL, 0) < 0)
			goto out;
	}
	if (plain_write_frame(c, K_DATA, 0, req, len, NULL, 0) < 0 || read_frame(c, &h1, &d1) < 0 ||
	    h1.kind != K_DATA || h1.len < sizeof(struct nlmsghdr))
		goto out;
	if (((struct nlmsghdr *)d1)->nlmsg_type != NLSIM_RTM_NEWLINK)
		goto out; /* ENODEV & co: not a simulated netdev, the kernel answers */
	int with_ack = (rh->nlmsg_flags & NLM_F_ACK) != 0;
	if (with_ack && (read_frame(c, &h2, &d2) < 0 || h2.kind != K_DATA))
		goto out;
	pthread_mutex_lock(&s->recv_lock);
	uint32_t pid = kernel_portid(fd);
	pending_push(s, d1, h1.len, pid);
	queued = 1;
	if (with_ack) {
		pending_push(s, d2, h2.len, pid);
		queued = 2;
	}
	pthread_mutex_unlock(&s->recv_lock);
out:
	free(d1);
	free(d2);
	real_close(c);
	errno = saved;
	return queued;
}

/* Send path of a hybrid socket: HYB_PASS, or the byte count consumed by the substitution. */
static ssize_t hybrid_send(struct nlsock *s, int fd, const struct iovec *iov, size_t iovcnt, int flags)
{
	size_t total = 0;
	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total < sizeof(struct nlmsghdr) + 16 || total > 4096 || !iovcnt ||
	    iov[0].iov_len < sizeof(struct nlmsghdr))
		return HYB_PASS;
	const struct nlmsghdr *first = iov[0].iov_base;
	if (first->nlmsg_type != NLSIM_RTM_GETLINK || !(first->nlmsg_flags & NLM_F_REQUEST) ||
	    (first->nlmsg_flags & NLM_F_DUMP) || first->nlmsg_len < sizeof(*first) + 16 ||
	    first->nlmsg_len > total || NLMSG_ALIGN(first->nlmsg_len) < total)
		return HYB_PASS; /* not exactly one RTM_GETLINK request */
	unsigned char buf[4096];
	size_t off = 0;
	for (size_t i = 0; i < iovcnt; i++) {
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	int n = route_query(s, fd, buf, first->nlmsg_len);
	if (n == 0)
		return HYB_PASS;
	/* one doorbell per queued datagram: the kernel's ACKs make the fd readable in order */
	struct nlmsghdr bell = { .nlmsg_len = sizeof(bell), .nlmsg_type = NLMSG_NOOP,
				 .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = first->nlmsg_seq,
				 .nlmsg_pid = NLSIM_DOORBELL };
	struct sockaddr_nl kern = { .nl_family = AF_NETLINK };
	for (int i = 0; i < n; i++) {
		if (real_sendto(fd, &bell, sizeof(bell), flags & MSG_DONTWAIT, (struct sockaddr *)&kern,
				sizeof(kern)) < 0)
			return -1;
	}
	dbg("nlsim: RTM_GETLINK answered by the simulator (%d datagram(s))\n", n);
	return (ssize_t)total;
}

static int is_doorbell(const unsigned char *d, ssize_t n)
{
	if (n != (ssize_t)(sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr)))
		return 0;
	const struct nlmsghdr *h = (const struct nlmsghdr *)d;
	const struct nlmsgerr *e = (const struct nlmsgerr *)(d + sizeof(*h));
	return h->nlmsg_type == NLMSG_ERROR && e->error == 0 && e->msg.nlmsg_type == NLMSG_NOOP &&
	       e->msg.nlmsg_pid == NLSIM_DOORBELL;
}

/* Receive path of a hybrid socket: HYB_PASS, or the emulated result for a doorbell at the head. */
static ssize_t hybrid_recv(struct nlsock *s, int fd, struct msghdr *msg, int flags)
{
	if (!__atomic_load_n(&s->pending_count, __ATOMIC_ACQUIRE) || (flags & MSG_ERRQUEUE))
		return HYB_PASS;
	pthread_mutex_lock(&s->recv_lock);
	ssize_t ret;
	if (!s->pending_head) {
		pthread_mutex_unlock(&s->recv_lock);
		return HYB_PASS;
	}
	unsigned char head[64];
	int nb = (flags & MSG_DONTWAIT) || fd_nonblocking(fd);
	ssize_t n;
	do
		n = real_recv(fd, head, sizeof(head), MSG_PEEK | MSG_TRUNC | (nb ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = -1;
		goto out;
	}
	if (!is_doorbell(head, n)) {
		ret = real_recvmsg(fd, msg, flags); /* a kernel datagram queued before our doorbell */
		goto out;
	}
	struct pending *p = s->pending_head;
	size_t left = p->len;
	const unsigned char *data = p->data;
	size_t cap = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
		size_t k = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;
		cap += msg->msg_iov[i].iov_len;
		if (k)
			memcpy(msg->msg_iov[i].iov_base, data, k);
		data += k;
		left -= k;
	}
	size_t copied = p->len - left;
	msg->msg_flags = p->len > cap ? MSG_TRUNC : 0;
	if (msg->msg_name) {
		socklen_t alen = msg->msg_namelen;
		put_nladdr(msg->msg_name, &alen, 0, 0);
		msg->msg_namelen = alen;
	}
	msg->msg_controllen = 0;
	ret = (flags & MSG_TRUNC) ? (ssize_t)p->len : (ssize_t)copied;
	if (!(flags & MSG_PEEK)) {
		ssize_t r = real_recv(fd, head, sizeof(head), MSG_DONTWAIT); /* the doorbell itself */
		(void)r;
		s->pending_head = p->next;
		if (!s->pending_head)
			s->pending_tail = NULL;
		__atomic_sub_fetch(&s->pending_count, 1, __ATOMIC_RELEASE);
		free(p);
	}
out:
	pthread_mutex_unlock(&s->recv_lock);
	return ret;
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
	if (s->hybrid) {
		r = msg ? hybrid_send(s, fd, msg->msg_iov, msg->msg_iovlen, flags) : HYB_PASS;
		nlsock_put(s);
		return r == HYB_PASS ? real_sendmsg(fd, msg, flags) : r;
	}
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
	if (s->hybrid) {
		ssize_t h = hybrid_send(s, fd, &iov, 1, flags);
		nlsock_put(s);
		return h == HYB_PASS ? real_sendto(fd, buf, len, flags, to, tolen) : h;
	}
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
	if (s->hybrid) {
		ssize_t h = hybrid_send(s, fd, &iov, 1, flags);
		nlsock_put(s);
		return h == HYB_PASS ? real_send(fd, buf, len, flags) : h;
	}
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
	if (s->hybrid) {
		ssize_t h = hybrid_send(s, fd, &iov, 1, 0);
		nlsock_put(s);
		return h == HYB_PASS ? real_write(fd, buf, len) : h;
	}
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
	if (s->hybrid) {
		r = msg ? hybrid_recv(s, fd, msg, flags) : HYB_PASS;
		nlsock_put(s);
		return r == HYB_PASS ? real_recvmsg(fd, msg, flags) : r;
	}
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
	ssize_t r = s->hybrid ? hybrid_recv(s, fd, &m, flags) : sim_recv(s, fd, &m, flags);
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
	return r == HYB_PASS ? real_recvfrom(fd, buf, len, flags, from, fromlen) : r;
}

NLSIM_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_recv(fd, buf, len, flags);
	ssize_t r = sim_recvfrom(s, fd, buf, len, flags, NULL, NULL);
	nlsock_put(s);
	return r == HYB_PASS ? real_recv(fd, buf, len, flags) : r;
}

NLSIM_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	ensure_init();
	struct nlsock *s = lookup(fd);
	if (!s)
		return real_read(fd, buf, len);
	ssize_t r = sim_recvfrom(s, fd, buf, len, 0, NULL, NULL);
	nlsock_put(s);
	return r == HYB_PASS ? real_read(fd, buf, len) : r;
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
