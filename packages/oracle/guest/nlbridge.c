/*
 * nlbridge: the oracle guest's netlink relay. Runs as PID 1's exec target in the qemu guest and
 * moves netlink datagrams between the virtio-serial port "nlbridge" and AF_NETLINK sockets.
 *
 * Frame (both directions, little endian): u32 len | u16 chan | u16 op | payload[len]
 *
 *   op          host -> guest payload                       guest -> host
 *   0 HELLO     u64 host wall clock (ms since the epoch)     RESULT "nlbridge 1 <uname -r>"
 *   1 OPEN      u32 proto, u32 groups, u32 portid, u32 flags RESULT i32 err, u32 portid
 *               (flags: 1 EXT_ACK, 2 CAP_ACK, 4 GET_STRICT_CHK; portid 0 = kernel chooses)
 *   2 SEND      one datagram, given to sendto(kernel)        (nothing; ERROR i32 -errno on failure)
 *   3 RECV      -                                            u32 nl_pid, u32 nl_groups, datagram
 *   4 CLOSE     -                                            RESULT i32 0
 *   5 EXEC      shell command (/bin/sh -c)                   RESULT i32 wait status, output (≤ 64 KiB)
 *   7 JOIN      u32 group (NETLINK_ADD_MEMBERSHIP)           RESULT i32 err
 *   8 LEAVE     u32 group (NETLINK_DROP_MEMBERSHIP)          RESULT i32 err
 *   9 ERROR     -                                            i32 -errno (asynchronous socket error)
 *
 * Ordering guarantee: after each host frame is handled, every channel socket is drained before the
 * next frame is read, so all datagrams caused by a request (replies, notifications on any channel)
 * reach the host before anything caused by the next request, and before the RESULT of an EXEC.
 * Datagrams are forwarded whole, exactly as recvmsg() returned them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

enum { OP_HELLO = 0, OP_OPEN = 1, OP_SEND = 2, OP_RECV = 3, OP_CLOSE = 4, OP_EXEC = 5, OP_RESULT = 6,
       OP_JOIN = 7, OP_LEAVE = 8, OP_ERROR = 9 };

#define MAXCH 256
#define RXBUF (1 << 20)
#define EXEC_MAX (64 * 1024)

static int port = -1;
static int chfd[MAXCH];
static unsigned char *rx;

static void die(const char *what) {
  fprintf(stderr, "nlbridge: %s: %s\n", what, strerror(errno));
  sleep(1);
  exit(1);
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_all(const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(port, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { usleep(1000); continue; }
      die("write port");
    }
    p += w;
    n -= (size_t)w;
  }
}

/* one frame: header, then up to two payload pieces */
static void frame(uint16_t chan, uint16_t op, const void *a, size_t alen, const void *b, size_t blen) {
  unsigned char h[8];
  put32(h, (uint32_t)(alen + blen));
  h[4] = chan; h[5] = chan >> 8; h[6] = op; h[7] = op >> 8;
  unsigned char *all = malloc(8 + alen + blen);
  if (!all) die("malloc");
  memcpy(all, h, 8);
  if (alen) memcpy(all + 8, a, alen);
  if (blen) memcpy(all + 8 + alen, b, blen);
  write_all(all, 8 + alen + blen);
  free(all);
}

static void result_i32(uint16_t chan, int32_t v, const void *extra, size_t n) {
  unsigned char b[4];
  put32(b, (uint32_t)v);
  frame(chan, OP_RESULT, b, 4, extra, n);
}

static void drain(int ch) {
  for (;;) {
    struct sockaddr_nl sa;
    struct iovec iov = {rx + 8, RXBUF - 8};
    struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(chfd[ch], &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      unsigned char e[4];
      put32(e, (uint32_t)-errno);
      frame(ch, OP_ERROR, e, 4, NULL, 0);
      if (errno == ENOBUFS) continue;
      return;
    }
    put32(rx, sa.nl_pid);
    put32(rx + 4, sa.nl_groups);
    frame(ch, OP_RECV, rx, 8 + (size_t)n, NULL, 0);
  }
}

static void drain_all(void) {
  for (int i = 0; i < MAXCH; i++)
    if (chfd[i] >= 0) drain(i);
}

static void do_open(uint16_t ch, const unsigned char *p, uint32_t len) {
  unsigned char out[4];
  if (len < 16 || ch >= MAXCH) { result_i32(ch, -EINVAL, NULL, 0); return; }
  if (chfd[ch] >= 0) { result_i32(ch, -EBUSY, NULL, 0); return; }
  uint32_t proto = get32(p), groups = get32(p + 4), pid = get32(p + 8), flags = get32(p + 12);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, (int)proto);
  if (fd < 0) { result_i32(ch, -errno, NULL, 0); return; }
  int sz = 4 << 20, one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  if ((flags & 1) && setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) < 0) goto fail;
  if ((flags & 2) && setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one) < 0) goto fail;
  if ((flags & 4) && setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) < 0) goto fail;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_pid = pid, .nl_groups = groups};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) goto fail;
  socklen_t sl = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) goto fail;
  chfd[ch] = fd;
  put32(out, sa.nl_pid);
  result_i32(ch, 0, out, 4);
  return;
fail:;
  int e = errno;
  close(fd);
  result_i32(ch, -e, NULL, 0);
}

static void do_send(uint16_t ch, const unsigned char *p, uint32_t len) {
  if (ch >= MAXCH || chfd[ch] < 0) {
    unsigned char e[4];
    put32(e, (uint32_t)-EBADF);
    frame(ch, OP_ERROR, e, 4, NULL, 0);
    return;
  }
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  ssize_t n;
  do n = sendto(chfd[ch], p, len, 0, (struct sockaddr *)&sa, sizeof sa);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    unsigned char e[4];
    put32(e, (uint32_t)-errno);
    frame(ch, OP_ERROR, e, 4, NULL, 0);
  }
}

static void do_member(uint16_t ch, const unsigned char *p, uint32_t len, int opt) {
  if (len < 4 || ch >= MAXCH || chfd[ch] < 0) { result_i32(ch, -EINVAL, NULL, 0); return; }
  int g = (int)get32(p);
  int r = setsockopt(chfd[ch], SOL_NETLINK, opt, &g, sizeof g);
  result_i32(ch, r < 0 ? -errno : 0, NULL, 0);
}

static void do_exec(uint16_t ch, const unsigned char *p, uint32_t len) {
  char *cmd = malloc(len + 1);
  if (!cmd) die("malloc");
  memcpy(cmd, p, len);
  cmd[len] = 0;
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) { free(cmd); result_i32(ch, -errno, NULL, 0); return; }
  pid_t pid = fork();
  if (pid < 0) { free(cmd); result_i32(ch, -errno, NULL, 0); return; }
  if (pid == 0) {
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  free(cmd);
  close(pfd[1]);
  char *out = malloc(EXEC_MAX);
  size_t n = 0;
  for (;;) {
    char tmp[4096];
    ssize_t r = read(pfd[0], tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    size_t take = (size_t)r;
    if (n + take > EXEC_MAX) take = EXEC_MAX - n;
    memcpy(out + n, tmp, take);
    n += take;
  }
  close(pfd[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  drain_all();
  result_i32(ch, st, out, n);
  free(out);
}

static void do_hello(uint16_t ch, const unsigned char *p, uint32_t len) {
  if (len >= 8) {
    uint64_t ms = (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    clock_settime(CLOCK_REALTIME, &ts);
  }
  struct utsname u;
  uname(&u);
  char msg[256];
  int n = snprintf(msg, sizeof msg, "nlbridge 1 %s", u.release);
  result_i32(ch, 0, msg, (size_t)n);
}

static void handle(uint16_t ch, uint16_t op, const unsigned char *p, uint32_t len) {
  switch (op) {
  case OP_HELLO: do_hello(ch, p, len); break;
  case OP_OPEN: do_open(ch, p, len); break;
  case OP_SEND: do_send(ch, p, len); break;
  case OP_CLOSE:
    if (ch < MAXCH && chfd[ch] >= 0) { close(chfd[ch]); chfd[ch] = -1; }
    result_i32(ch, 0, NULL, 0);
    break;
  case OP_EXEC: do_exec(ch, p, len); break;
  case OP_JOIN: do_member(ch, p, len, NETLINK_ADD_MEMBERSHIP); break;
  case OP_LEAVE: do_member(ch, p, len, NETLINK_DROP_MEMBERSHIP); break;
  default: result_i32(ch, -EOPNOTSUPP, NULL, 0);
  }
  drain_all();
}

static int open_port(void) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return -1;
  struct dirent *e;
  int fd = -1;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[512], name[64] = {0};
    snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(name, sizeof name, f) && strncmp(name, "nlbridge", 8) == 0) {
      snprintf(path, sizeof path, "/dev/%s", e->d_name);
      fd = open(path, O_RDWR | O_CLOEXEC);
    }
    fclose(f);
    if (fd >= 0) break;
  }
  closedir(d);
  return fd;
}

int main(void) {
  for (int i = 0; i < MAXCH; i++) chfd[i] = -1;
  rx = malloc(RXBUF);
  for (int tries = 0; (port = open_port()) < 0; tries++) {
    if (tries == 500) die("no virtio-serial port named nlbridge");
    usleep(10000);
  }
  fprintf(stderr, "nlbridge: ready\n");
  size_t cap = 1 << 20, have = 0;
  unsigned char *in = malloc(cap);
  for (;;) {
    /* the port, plus every channel socket (asynchronous notifications, e.g. lifetime expiries) */
    struct pollfd pf[MAXCH + 1];
    int chan_of[MAXCH + 1], n_pf = 1;
    pf[0] = (struct pollfd){.fd = port, .events = POLLIN};
    for (int i = 0; i < MAXCH; i++)
      if (chfd[i] >= 0) {
        pf[n_pf] = (struct pollfd){.fd = chfd[i], .events = POLLIN};
        chan_of[n_pf++] = i;
      }
    int r = poll(pf, (nfds_t)n_pf, -1);
    if (r < 0 && errno != EINTR) die("poll");
    if (r <= 0) continue;
    for (int i = 1; i < n_pf; i++)
      if (pf[i].revents) drain(chan_of[i]);
    if (!pf[0].revents) continue;
    if (!(pf[0].revents & POLLIN)) { usleep(20000); continue; } /* host side not connected */
    if (cap - have < 65536) {
      cap *= 2;
      in = realloc(in, cap);
      if (!in) die("realloc");
    }
    ssize_t n = read(port, in + have, cap - have);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      usleep(20000);
      continue;
    }
    if (n == 0) { usleep(20000); continue; } /* host disconnected: EOF until it comes back */
    have += (size_t)n;
    size_t off = 0;
    while (have - off >= 8) {
      uint32_t len = get32(in + off);
      if (have - off < 8 + (size_t)len) break;
      uint16_t ch = (uint16_t)(in[off + 4] | in[off + 5] << 8);
      uint16_t op = (uint16_t)(in[off + 6] | in[off + 7] << 8);
      handle(ch, op, in + off + 8, len);
      off += 8 + len;
    }
    memmove(in, in + off, have - off);
    have -= off;
  }
}
