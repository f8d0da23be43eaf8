/*
 * strata-sys.node: the system calls Node 20 lacks, for the kernel door (src/sys/linux.ts).
 *
 *   mknod(path, mode, major, minor)            mknod(2); mode carries the type (S_IFCHR,
 *                                              S_IFBLK, S_IFIFO) and the permission bits
 *   utimens(path | null, fd, aSec, aNsec, mSec, mNsec)
 *                                              utimensat(2) on path without following a
 *                                              symlink, or futimens(2) on fd when path is
 *                                              null: nanoseconds (libuv keeps microseconds)
 *   mount(source, target, fstype, flags, data) mount(2) ('' data: none)
 *   umount(target, flags)                      umount2(2) (flags: MNT_DETACH = 2)
 *   topdir(path)                               sets ext4's top-directory flag (FS_TOPDIR_FL,
 *                                              `chattr +T`) on a directory; false where the
 *                                              filesystem has no such flag
 *   lstatdir(path)                             a directory's entries (not . and ..) with
 *                                              fstatat(2) of each, not following symlinks:
 *                                              [names, Float64Array of 7 per entry: mode, size,
 *                                              mtime s, mtime ns, ctime s, ctime ns, ino]; names
 *                                              is one Buffer, each name followed by a NUL byte (no
 *                                              JS string per entry); an entry gone between
 *                                              readdir and fstatat is left out
 *   lstatdirAsync(path)                        the same on libuv's thread pool: a promise
 *   lstatdirx(path)                            what packing a directory needs of each entry:
 *                                              stat fields and xattrs (native/scan.c)
 *   readinto(path, ino, dev, buf, off, len)    a small file's bytes into buf, checked to be
 *                                              the inode packing listed (native/scan.c)
 *   sha256New(), writeHash(fd, buf, state), sha256Hex(state)
 *                                              a blob written and hashed on the thread pool
 *                                              (native/hash.c)
 *   spawnInherit(file, args, stdinNull)        posix_spawn(3) of file with argv args (args[0]
 *                                              included), this process's environment and
 *                                              stdio (stdin on /dev/null when asked), no other
 *                                              fd, every signal at its default and none
 *                                              blocked: the pid. ~0.5 ms, where
 *                                              child_process's first spawn costs 12-17 ms here
 *   execReplace(file, args, stdinNull)         execve(2) of file with argv args in this
 *                                              process's place, as spawnInherit starts it
 *                                              (stdin on /dev/null when asked, fds from 3 up
 *                                              closed, signals at their defaults and none
 *                                              blocked); returns only by throwing, with this
 *                                              process as it was
 *   netnsAdd(dir, name)                        `ip netns add NAME` with dir for /run/netns,
 *                                              without a program
 *   loUp(file)                                 `ip -n NAME link set lo up` for the netns bound
 *                                              at file, without a program
 *   ifaceUp(file, ifName, address, netmask, gateway)
 *                                              in the netns bound at file: the IPv4 address
 *                                              and netmask (and its broadcast) on ifName, the
 *                                              link up, and with a gateway ('' for none) the
 *                                              default route through it: what the IPAM part of
 *                                              a CNI ADD configures, without a program
 *   sha512Hex(string)                          the hex SHA-512 of a short string (native/hash.c)
 *   tcpBindable(ip, port)                      can a TCP server listen on ip:port now? (what
 *                                              Node's listen does: SO_REUSEADDR, bind, listen;
 *                                              closed at once), without Node's net and dns
 *   waitAsync(pid)                             waitpid(2) on libuv's thread pool: a promise of
 *                                              [exit code, signal] (one of them null)
 *   run(file, args, env, input, timeoutMs, fd3)
 *                                              a program to completion on the thread pool:
 *                                              posix_spawn(3) of file (a path) with argv args,
 *                                              envp env (an array of KEY=VALUE, or null: this
 *                                              process's), input (a Buffer or null: /dev/null)
 *                                              on stdin, stdout and stderr collected, SIGKILL
 *                                              after timeoutMs (0: none): a promise of [code,
 *                                              signal, stdout, stderr]. ~2 ms a program where
 *                                              child_process takes ~5 (and ~17 for the first).
 *                                              fd3: a daemon's start instead (a session of its
 *                                              own, stdio on /dev/null): "stdout" is what it
 *                                              writes on fd 3 until every copy of fd 3 closes
 *   mountRoot(path)                            statx(2) of path (a last symlink not followed):
 *                                              whether it is the root of a mount
 *                                              (STATX_ATTR_MOUNT_ROOT), null where the kernel
 *                                              does not say (before 5.8)
 *   request(socketPath, line, timeoutMs)       one command to a unix stream socket (a
 *                                              monitor's) on the thread pool: connect, write
 *                                              line, read the reply until the peer closes, or
 *                                              until timeoutMs (ETIMEDOUT): a promise of the
 *                                              reply as a string; without Node's net and stream
 *
 * A path is a string (UTF-8) or a Buffer (bytes as they are). Errors are thrown as Node's
 * fs errors are: `EEXIST: mknod 'path'` with `code`, `errno` (negative) and `syscall`.
 * Built by scripts/build-native.sh with Node's headers; when it is absent the door spawns
 * coreutils' mknod, mount(8) and umount(8) and uses Node's utimes instead.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <net/if.h>
#include <net/route.h>
#include <sys/mount.h>
#include <unistd.h>
#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <time.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <linux/fs.h>
extern char **environ;
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <node_api.h>
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "strata-sys: bad arguments"); return NULL; } } while (0)

static const char *errno_name(int e) {
  switch (e) {
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EBADF: return "EBADF";
    case EDQUOT: return "EDQUOT";
    case EIO: return "EIO";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPIPE: return "EPIPE";
    case ECONNRESET: return "ECONNRESET";
    default: return "EUNKNOWN";
  }
}

static void throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  char msg[512];
  const char *code = errno_name(e);
  if (path) snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(e), syscall, path);
  else snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(e), syscall);
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "code", v);
  napi_create_int32(env, -e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "path", v);
  }
  napi_throw(env, err);
}

/* A string or Buffer argument as a NUL-terminated path (malloc'd; NULL and a thrown error on failure). */
/* The call's first n arguments into argv; false, with a TypeError naming `usage`, when fewer were given. */
static bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) { napi_throw_error(env, NULL, "strata-sys: bad arguments"); return false; }
  if (argc < n) { napi_throw_type_error(env, NULL, usage); return false; }
  return true;
}

static char *path_arg(napi_env env, napi_value v) {
  bool isbuf = false;
  napi_is_buffer(env, v, &isbuf);
  if (isbuf) {
    void *data;
    size_t len;
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return NULL;
    if (memchr(data, 0, len)) { napi_throw_type_error(env, NULL, "path contains a NUL byte"); return NULL; }
    char *p = malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, data, len);
    p[len] = 0;
    return p;
  }
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) { napi_throw_type_error(env, NULL, "path must be a string or Buffer"); return NULL; }
  char *p = malloc(len + 1);
  if (!p) return NULL;
  napi_get_value_string_utf8(env, v, p, len + 1, &len);
  if (strlen(p) != len) { free(p); napi_throw_type_error(env, NULL, "path contains a NUL byte"); return NULL; }
  return p;
}

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv, "mknod(path, mode, major, minor)")) return NULL;
  uint32_t mode, major, minor;
  CHECK(napi_get_value_uint32(env, argv[1], &mode));
  CHECK(napi_get_value_uint32(env, argv[2], &major));
  CHECK(napi_get_value_uint32(env, argv[3], &minor));
  char *path = path_arg(env, argv[0]);
  if (!path) return NULL;
  if (mknod(path, (mode_t)mode, makedev(major, minor)) != 0) throw_errno(env, errno, "mknod", path);
  free(path);
  return NULL;
}

static napi_value js_utimens(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv, "utimens(path | null, fd, aSec, aNsec, mSec, mNsec)")) return NULL;
  int64_t v[4];
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_int64(env, argv[2 + i], &v[i]));
  if (v[1] < 0 || v[1] > 999999999 || v[3] < 0 || v[3] > 999999999) { napi_throw_range_error(env, NULL, "nanoseconds out of range"); return NULL; }
  struct timespec ts[2] = { { .tv_sec = v[0], .tv_nsec = v[1] }, { .tv_sec = v[2], .tv_nsec = v[3] } };
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  if (t == napi_null || t == napi_undefined) {
    int32_t fd;
    CHECK(napi_get_value_int32(env, argv[1], &fd));
    if (futimens(fd, ts) != 0) throw_errno(env, errno, "futime", NULL);
    return NULL;
  }
  char *path = path_arg(env, argv[0]);
  if (!path) return NULL;
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno(env, errno, "lutime", path);
  free(path);
  return NULL;
}

static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, "mount(source, target, fstype, flags, data)")) return NULL;
  uint32_t flags;
  CHECK(napi_get_value_uint32(env, argv[3], &flags));
  char *source = path_arg(env, argv[0]);
  if (!source) return NULL;
  char *target = path_arg(env, argv[1]);
  char *fstype = target ? path_arg(env, argv[2]) : NULL;
  char *data = fstype ? path_arg(env, argv[4]) : NULL;
  if (data && mount(source, target, fstype, flags, data[0] ? data : NULL) != 0) throw_errno(env, errno, "mount", target);
  free(source); free(target); free(fstype); free(data);
  return NULL;
}

static napi_value js_tcp_bindable(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "tcpBindable(ip, port)")) return NULL;
  char ip[64];
  size_t len;
  uint32_t port;
  struct sockaddr_in sa = {.sin_family = AF_INET};
  if (napi_get_value_string_utf8(env, argv[0], ip, sizeof ip, &len) != napi_ok || napi_get_value_uint32(env, argv[1], &port) != napi_ok ||
      port > 65535 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "tcpBindable(ip, port): an IPv4 address and a port");
    return NULL;
  }
  sa.sin_port = htons((uint16_t)port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { throw_errno(env, errno, "socket", NULL); return NULL; }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0;
  close(fd);
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

/* the child of netnsAdd: in a network namespace of its own, bound at the file; shares the
 * parent's memory (CLONE_VM, the parent waits), so raw system calls only */
static int netns_child(void *arg) {
  const char *file = arg;
  if (unshare(CLONE_NEWNET) != 0) return errno;
  if (mount("/proc/self/ns/net", file, "none", MS_BIND, NULL) != 0) return errno;
  return 0;
}

/* what `ip netns add NAME` does (iproute2's netns_add), without a program: /run/netns made a
 * shared mount (bound onto itself first when it is not a mount point), an empty file, and a new
 * network namespace bind-mounted on it by a short child sharing this process's memory; nothing
 * is left when it fails */
static napi_value js_netns_add(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "netnsAdd(dir, name)")) return NULL;
  char *dir = path_arg(env, argv[0]);
  char *name = dir ? path_arg(env, argv[1]) : NULL;
  if (!name) { free(dir); return NULL; }
  char file[4096];
  snprintf(file, sizeof file, "%s/%s", dir, name);
  int e = 0;
  const char *what = "mkdir";
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) e = errno;
  if (!e && mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) {
    if (errno != EINVAL) { e = errno; what = "mount --make-shared"; }
    else if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) { e = errno; what = "mount --bind"; }
    else if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) { e = errno; what = "mount --make-shared"; }
  }
  if (!e) {
    what = "create";
    int fd = open(file, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) e = errno;
    else {
      close(fd);
      what = "unshare/mount";
      static char stack[16384] __attribute__((aligned(16)));
      pid_t pid = clone(netns_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, file);
      int status = 0;
      if (pid < 0) e = errno;
      else {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (!WIFEXITED(status)) e = EIO;
        else e = WEXITSTATUS(status);
      }
      if (e) unlink(file);
    }
  }
  if (e) throw_errno(env, e, what, file);
  free(dir);
  free(name);
  return NULL;
}

/* In the netns bound at file (a child's own: this process stays in its namespace), an AF_INET
 * datagram socket for the interface ioctls; -errno on failure */
static int netns_socket(const char *file) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (setns(fd, CLONE_NEWNET) != 0) return -errno;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return s < 0 ? -errno : s;
}

/* ifr's interface up (`ip link set NAME up`): 0 or errno */
static int link_up(int s, struct ifreq *ifr) {
  if (ioctl(s, SIOCGIFFLAGS, ifr) != 0) return errno;
  ifr->ifr_flags |= IFF_UP;
  return ioctl(s, SIOCSIFFLAGS, ifr) != 0 ? errno : 0;
}

/* fn(arg) in a short child sharing this process's memory (CLONE_VM, this thread waiting for it,
 * raw system calls only in fn): its result, an errno */
static int in_child(int (*fn)(void *), void *arg) {
  static char stack[16384] __attribute__((aligned(16)));
  int status = 0;
  pid_t pid = clone(fn, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
  if (pid < 0) return errno;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* the child of loUp: in the named network namespace, `lo` up (what `ip -n NAME link set lo
 * up` does, and the kernel then gives it 127.0.0.1/8 and ::1) */
static int lo_up_child(void *arg) {
  int s = netns_socket(arg);
  if (s < 0) return -s;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  return link_up(s, &ifr);
}

/* loUp(file): `ip -n NAME link set lo up` for the namespace bound at file (in_child) */
static napi_value js_lo_up(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "loUp(file)")) return NULL;
  char *file = path_arg(env, argv[0]);
  if (!file) return NULL;
  int e = in_child(lo_up_child, file);
  if (e) throw_errno(env, e, "link set lo up", file);
  free(file);
  return NULL;
}

/* ifaceUp's arguments, for its child */
struct iface_up { const char *file, *ifname; struct in_addr addr, mask, gw; bool route; const char *step; };

static int iface_up_child(void *arg) {
  struct iface_up *a = arg;
  a->step = "setns";
  int s = netns_socket(a->file);
  if (s < 0) return -s;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, a->ifname, IFNAMSIZ - 1);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  a->step = "addr add";
  sin->sin_addr = a->addr;
  if (ioctl(s, SIOCSIFADDR, &ifr) != 0) return errno;
  sin->sin_addr = a->mask;
  if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0) return errno;
  sin->sin_addr.s_addr = a->addr.s_addr | ~a->mask.s_addr;
  if (ioctl(s, SIOCSIFBRDADDR, &ifr) != 0) return errno;
  a->step = "link set up";
  int e = link_up(s, &ifr);
  if (e) return e;
  if (a->route) {
    a->step = "route add default";
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
    struct sockaddr_in *g = (struct sockaddr_in *)&rt.rt_gateway;
    g->sin_family = AF_INET;
    g->sin_addr = a->gw;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)a->ifname;
    if (ioctl(s, SIOCADDRT, &rt) != 0) return errno;
  }
  return 0;
}

static bool inet_arg(napi_env env, napi_value v, struct in_addr *out, bool empty_ok, bool *given) {
  char buf[64];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok) { napi_throw_type_error(env, NULL, "an IPv4 address string"); return false; }
  if (given) *given = len > 0;
  if (len == 0 && empty_ok) return true;
  if (inet_pton(AF_INET, buf, out) != 1) { napi_throw_type_error(env, NULL, "not an IPv4 address"); return false; }
  return true;
}

/* ifaceUp(file, ifName, address, netmask, gateway): in the namespace, as loUp (in_child) */
static napi_value js_iface_up(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, "ifaceUp(file, ifName, address, netmask, gateway)")) return NULL;
  struct iface_up a;
  memset(&a, 0, sizeof a);
  char ifname[IFNAMSIZ + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], ifname, sizeof ifname, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "an interface name");
    return NULL;
  }
  if (!inet_arg(env, argv[2], &a.addr, false, NULL) || !inet_arg(env, argv[3], &a.mask, false, NULL) ||
      !inet_arg(env, argv[4], &a.gw, true, &a.route)) return NULL;
  char *file = path_arg(env, argv[0]);
  if (!file) return NULL;
  a.file = file;
  a.ifname = ifname;
  int e = in_child(iface_up_child, &a);
  if (e) throw_errno(env, e, a.step ? a.step : "clone", file);
  free(file);
  return NULL;
}

static napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "umount(target, flags)")) return NULL;
  uint32_t flags;
  CHECK(napi_get_value_uint32(env, argv[1], &flags));
  char *target = path_arg(env, argv[0]);
  if (!target) return NULL;
  if (umount2(target, (int)flags) != 0) throw_errno(env, errno, "umount", target);
  free(target);
  return NULL;
}

static napi_value js_topdir(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "topdir(path)")) return NULL;
  char *target = path_arg(env, argv[0]);
  if (!target) return NULL;
  int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) { throw_errno(env, errno, "open", target); free(target); return NULL; }
  int flags = 0;
  bool done = false;
  if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    flags |= FS_TOPDIR_FL;
    done = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  close(fd);
  free(target);
  napi_value r;
  napi_get_boolean(env, done, &r);
  return r;
}

#define LSTATDIR_FIELDS 7

/* A directory listing in C memory: no JS call, so it can run on a worker thread. */
struct listing { double *vals; size_t n; size_t fields; char *names; size_t nlen; };

/* what a listing keeps of each entry's stat: `fields` numbers */
typedef void (*fill_fn)(double *v, const struct stat *st);

/* more work for each entry kept (index: its place in the listing): 0, or an errno that stops the listing */
typedef int (*each_fn)(void *ctx, int dfd, const char *name, size_t index);

static void fill_lstatdir(double *v, const struct stat *st) {
  v[0] = st->st_mode; v[1] = (double)st->st_size;
  v[2] = (double)st->st_mtim.tv_sec; v[3] = (double)st->st_mtim.tv_nsec;
  v[4] = (double)st->st_ctim.tv_sec; v[5] = (double)st->st_ctim.tv_nsec;
  v[6] = (double)st->st_ino;
}

/* readdir + fstatat (+ each) of every entry; 0, or an errno (and nothing allocated). */
static int list_dir_with(const char *dir, size_t fields, fill_fn fill, each_fn each, void *ctx, struct listing *out) {
  memset(out, 0, sizeof *out);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno;
  DIR *d = fdopendir(dfd);
  if (!d) { int e = errno; close(dfd); return e; }
  size_t cap = 64, n = 0, ncap = 4096, nlen = 0;
  double *vals = malloc(cap * fields * sizeof(double));
  char *nbuf = malloc(ncap);
  int err = (vals && nbuf) ? 0 : ENOMEM;
  struct dirent *e;
  while (!err) {
    errno = 0;
    e = readdir(d);
    if (!e) { err = errno; break; }
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      err = errno;
      break;
    }
    if (n == cap) {
      double *more = realloc(vals, cap * 2 * fields * sizeof(double));
      if (!more) { err = ENOMEM; break; }
      vals = more;
      cap *= 2;
    }
    fill(vals + n * fields, &st);
    if (each && (err = each(ctx, dfd, e->d_name, n)) != 0) break;
    size_t len = strlen(e->d_name) + 1;
    if (nlen + len > ncap) {
      char *more = realloc(nbuf, ncap * 2 + len);
      if (!more) { err = ENOMEM; break; }
      nbuf = more;
      ncap = ncap * 2 + len;
    }
    memcpy(nbuf + nlen, e->d_name, len);
    nlen += len;
    n++;
  }
  closedir(d);
  if (err) { free(vals); free(nbuf); return err; }
  out->vals = vals; out->n = n; out->fields = fields; out->names = nbuf; out->nlen = nlen;
  return 0;
}

static int list_dir(const char *dir, struct listing *out) {
  return list_dir_with(dir, LSTATDIR_FIELDS, fill_lstatdir, NULL, NULL, out);
}

/* [names Buffer, Float64Array]; frees the listing. */
static napi_value listing_value(napi_env env, struct listing *l) {
  napi_value names, ab, fields, r;
  napi_create_buffer_copy(env, l->nlen, l->nlen ? l->names : "", NULL, &names);
  void *data;
  napi_create_arraybuffer(env, l->n * l->fields * sizeof(double), &data, &ab);
  if (l->n) memcpy(data, l->vals, l->n * l->fields * sizeof(double));
  free(l->vals);
  free(l->names);
  napi_create_typedarray(env, napi_float64_array, l->n * l->fields, ab, 0, &fields);
  napi_create_array_with_length(env, 2, &r);
  napi_set_element(env, r, 0, names);
  napi_set_element(env, r, 1, fields);
  return r;
}

static napi_value js_lstatdir(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "lstatdir(path)")) return NULL;
  char *dir = path_arg(env, argv[0]);
  if (!dir) return NULL;
  struct listing l;
  int err = list_dir(dir, &l);
  if (err) { throw_errno(env, err, "scandir", dir); free(dir); return NULL; }
  free(dir);
  return listing_value(env, &l);
}

/* settle a promise with the error throw_errno would throw */
static void reject_errno(napi_env env, napi_deferred deferred, int err, const char *syscall, const char *path) {
  throw_errno(env, err, syscall, path);
  napi_value e;
  napi_get_and_clear_last_exception(env, &e);
  napi_reject_deferred(env, deferred, e);
}

/* a job on libuv's thread pool settling a promise: its work and deferred come first */
struct job { napi_async_work work; napi_deferred deferred; };

static napi_value queue_job(napi_env env, const char *name, napi_async_execute_callback execute,
                            napi_async_complete_callback complete, struct job *j) {
  napi_value promise, n;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &n);
  napi_create_async_work(env, NULL, n, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

struct lstatdir_job { struct job job; char *dir; int err; struct listing l; };

static void lstatdir_execute(napi_env env, void *data) {
  (void)env;
  struct lstatdir_job *j = data;
  j->err = list_dir(j->dir, &j->l);
}

static void lstatdir_complete(napi_env env, napi_status status, void *data) {
  struct lstatdir_job *j = data;
  if (status != napi_ok && !j->err) j->err = ECANCELED;
  if (j->err) reject_errno(env, j->job.deferred, j->err, "scandir", j->dir);
  else napi_resolve_deferred(env, j->job.deferred, listing_value(env, &j->l));
  napi_delete_async_work(env, j->job.work);
  free(j->dir);
  free(j);
}

/* lstatdir on libuv's thread pool: a promise of the same answer. */
static napi_value js_lstatdir_async(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "lstatdirAsync(path)")) return NULL;
  struct lstatdir_job *j = calloc(1, sizeof *j);
  if (!j) { throw_errno(env, ENOMEM, "scandir", NULL); return NULL; }
  j->dir = path_arg(env, argv[0]);
  if (!j->dir) { free(j); return NULL; }
  return queue_job(env, "strata:lstatdir", lstatdir_execute, lstatdir_complete, &j->job);
}

/*
 * posix_spawn of file with fds[0..2] as its stdio (-1: /dev/null) and, when fds[3] >= 0, as its
 * fd 3; no other fd; every signal at its default and none blocked; a session of its own when
 * asked. Node keeps its own stdio close-on-exec: a dup2 onto itself clears the flag. 0 or an errno.
 */
static int spawn_with(pid_t *pid, const char *file, char **argv, char **envp, const int fds[4], bool setsid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  for (int i = 0; i < 3; i++) {
    if (fds[i] < 0) posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    else posix_spawn_file_actions_adddup2(&fa, fds[i], i);
  }
  if (fds[3] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[3], 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, fds[3] >= 0 ? 4 : 3);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (setsid ? POSIX_SPAWN_SETSID : 0));
  int e = posix_spawn(pid, file, &fa, &at, argv, envp ? envp : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  return e;
}

static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

/* a string array as a NULL-terminated vector (NULL for a JS null) */
static bool strv_arg(napi_env env, napi_value v, char ***out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *out = NULL;
  if (t == napi_null || t == napi_undefined) return true;
  uint32_t n = 0;
  napi_get_array_length(env, v, &n);
  char **strv = calloc((size_t)n + 1, sizeof *strv);
  if (!strv) { throw_errno(env, ENOMEM, "posix_spawn", NULL); return false; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    if (!(strv[i] = path_arg(env, e))) { free_strv(strv); return false; }
  }
  *out = strv;
  return true;
}

/* the (file, args, stdinNull) of spawnInherit and execReplace; false when one is unusable (thrown) */
static bool program_args(napi_env env, napi_callback_info info, const char *usage, char **file, char ***args, bool *stdin_null) {
  napi_value argv[3];
  *file = NULL;
  *args = NULL;
  *stdin_null = false;
  if (!get_args(env, info, 3, argv, usage)) return false;
  napi_get_value_bool(env, argv[2], stdin_null);
  *file = path_arg(env, argv[0]);
  return *file && strv_arg(env, argv[1], args) && *args;
}

static napi_value js_spawn_inherit(napi_env env, napi_callback_info info) {
  char *file;
  char **args;
  bool stdin_null;
  napi_value result = NULL;
  if (program_args(env, info, "spawnInherit(file, args, stdinNull)", &file, &args, &stdin_null)) {
    const int fds[4] = {stdin_null ? -1 : 0, 1, 2, -1};
    pid_t pid;
    int e = spawn_with(&pid, file, args, NULL, fds, false);
    if (e) throw_errno(env, e, "posix_spawn", file);
    else napi_create_int32(env, pid, &result);
  }
  free_strv(args);
  free(file);
  return result;
}

static napi_value js_exec_replace(napi_env env, napi_callback_info info) {
  char *file;
  char **args;
  bool stdin_null;
  if (program_args(env, info, "execReplace(file, args, stdinNull)", &file, &args, &stdin_null)) {
    /* what is changed is put back if execve fails: Node's handlers, mask and stdin */
    struct sigaction old[NSIG], dfl;
    sigset_t all, none, oldmask;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigfillset(&all);
    sigemptyset(&none);
    int saved_in = -1, e = 0;
    pthread_sigmask(SIG_BLOCK, &all, &oldmask);
    if (stdin_null) {
      int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      saved_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
      if (null_fd < 0 || dup2(null_fd, 0) < 0) e = errno;
      if (null_fd >= 0) close(null_fd);
    }
    /* stdio as a spawned helper gets it: open across execve, blocking (Node marks them) */
    int fdflags[3], flflags[3];
    for (int i = 0; i < 3; i++) {
      fdflags[i] = fcntl(i, F_GETFD);
      flflags[i] = fcntl(i, F_GETFL);
    }
    if (!e) {
      for (int i = 0; i < 3; i++) {
        if (fdflags[i] >= 0) fcntl(i, F_SETFD, fdflags[i] & ~FD_CLOEXEC);
        if (flflags[i] >= 0) fcntl(i, F_SETFL, flflags[i] & ~O_NONBLOCK);
      }
      /* fds from 3 up close at execve (Node opens its own close-on-exec; an inherited one may not be) */
      syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
      for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, &old[s]);
      pthread_sigmask(SIG_SETMASK, &none, NULL);
      execv(file, args);
      e = errno;
      pthread_sigmask(SIG_BLOCK, &all, NULL);
      for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &old[s], NULL);
    }
    if (saved_in >= 0) {
      dup2(saved_in, 0);
      close(saved_in);
    }
    for (int i = 0; i < 3; i++) {
      if (fdflags[i] >= 0) fcntl(i, F_SETFD, fdflags[i]);
      if (flflags[i] >= 0) fcntl(i, F_SETFL, flflags[i]);
    }
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    throw_errno(env, e, "execve", file);
  }
  free_strv(args);
  free(file);
  return NULL;
}

/* a waitpid status as elements 0 and 1 of arr: [exit code, signal], one of them null */
static void set_status(napi_env env, napi_value arr, int status) {
  napi_value code, sig;
  napi_get_null(env, &code);
  napi_get_null(env, &sig);
  if (WIFEXITED(status)) napi_create_int32(env, WEXITSTATUS(status), &code);
  if (WIFSIGNALED(status)) napi_create_int32(env, WTERMSIG(status), &sig);
  napi_set_element(env, arr, 0, code);
  napi_set_element(env, arr, 1, sig);
}

struct wait_job {
  struct job job;
  pid_t pid;
  int status, err;
};

static void wait_execute(napi_env env, void *data) {
  struct wait_job *j = data;
  while (waitpid(j->pid, &j->status, 0) < 0) {
    if (errno != EINTR) { j->err = errno; break; }
  }
}

static void wait_complete(napi_env env, napi_status status, void *data) {
  struct wait_job *j = data;
  if (status != napi_ok && !j->err) j->err = ECANCELED;
  if (j->err) reject_errno(env, j->job.deferred, j->err, "waitpid", NULL);
  else {
    napi_value out;
    napi_create_array_with_length(env, 2, &out);
    set_status(env, out, j->status);
    napi_resolve_deferred(env, j->job.deferred, out);
  }
  napi_delete_async_work(env, j->job.work);
  free(j);
}

static napi_value js_wait_async(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "waitAsync(pid)")) return NULL;
  struct wait_job *j = calloc(1, sizeof *j);
  if (!j) { throw_errno(env, ENOMEM, "waitpid", NULL); return NULL; }
  napi_get_value_int32(env, argv[0], &j->pid);
  return queue_job(env, "strata:waitpid", wait_execute, wait_complete, &j->job);
}

struct buf { char *p; size_t len, cap; };

static int buf_read(struct buf *b, int fd) {
  if (b->cap - b->len < 65536) {
    size_t cap = b->cap ? b->cap * 2 : 65536;
    while (cap - b->len < 65536) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : -errno;
  b->len += (size_t)n;
  return n > 0;
}

struct run_job {
  struct job job;
  char *file;
  char **argv, **envp; /* envp NULL: environ */
  char *input;
  size_t input_len;
  long long timeout_ms;
  bool fd3;
  int err, status;
  struct buf out, errb;
};

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void run_execute(napi_env env, void *data) {
  (void)env;
  struct run_job *j = data;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
  if ((j->input && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    j->err = errno;
    goto close_all;
  }
  /* a daemon (fd3): stdio on /dev/null, the pipe on its fd 3 */
  const int fds[4] = {j->input ? in[0] : -1, j->fd3 ? -1 : out[1], j->fd3 ? -1 : errp[1], j->fd3 ? out[1] : -1};
  pid_t pid;
  int e = spawn_with(&pid, j->file, j->argv, j->envp, fds, j->fd3);
  if (e) { j->err = e; goto close_all; }
  if (in[0] >= 0) { close(in[0]); in[0] = -1; }
  close(out[1]);
  close(errp[1]);
  out[1] = errp[1] = -1;
  size_t sent = 0;
  if (in[1] >= 0 && j->input_len == 0) { close(in[1]); in[1] = -1; }
  /* never block on stdin while the program waits for us to read its output */
  if (in[1] >= 0) fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
  long long deadline = j->timeout_ms > 0 ? mono_ms() + j->timeout_ms : 0;
  int killed = 0;
  while (out[0] >= 0 || errp[0] >= 0) {
    struct pollfd pf[3];
    int n = 0, io = -1, oo = -1, eo = -1;
    if (in[1] >= 0) { io = n; pf[n++] = (struct pollfd){in[1], POLLOUT, 0}; }
    if (out[0] >= 0) { oo = n; pf[n++] = (struct pollfd){out[0], POLLIN, 0}; }
    if (errp[0] >= 0) { eo = n; pf[n++] = (struct pollfd){errp[0], POLLIN, 0}; }
    int wait = -1;
    if (deadline && !killed) {
      long long left = deadline - mono_ms();
      if (left <= 0) { kill(pid, SIGKILL); killed = 1; }
      else wait = (int)left;
    }
    int r = poll(pf, (nfds_t)n, wait);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (io >= 0 && pf[io].revents) {
      ssize_t w = (pf[io].revents & POLLOUT) ? write(in[1], j->input + sent, j->input_len - sent) : -1;
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) w = 0;
      if (w > 0) sent += (size_t)w;
      /* a program that exits before reading its stdin: its exit code tells the story */
      if (w < 0 || sent == j->input_len || (w == 0 && !(pf[io].revents & POLLOUT))) { close(in[1]); in[1] = -1; }
    }
    if (oo >= 0 && pf[oo].revents) {
      int k = buf_read(&j->out, out[0]);
      if (k <= 0) { close(out[0]); out[0] = -1; }
    }
    if (eo >= 0 && pf[eo].revents) {
      int k = buf_read(&j->errb, errp[0]);
      if (k <= 0) { close(errp[0]); errp[0] = -1; }
    }
  }
  while (waitpid(pid, &j->status, 0) < 0) {
    if (errno != EINTR) { j->err = errno; break; }
  }
close_all:
  for (int i = 0; i < 2; i++) {
    if (in[i] >= 0) close(in[i]);
    if (out[i] >= 0) close(out[i]);
    if (errp[i] >= 0) close(errp[i]);
  }
}

static void free_run_job(struct run_job *j) {
  free(j->file);
  free_strv(j->argv);
  free_strv(j->envp);
  free(j->input);
  free(j->out.p);
  free(j->errb.p);
  free(j);
}

static void run_complete(napi_env env, napi_status status, void *data) {
  struct run_job *j = data;
  if (status != napi_ok && !j->err) j->err = ECANCELED;
  if (j->err) reject_errno(env, j->job.deferred, j->err, "posix_spawn", j->file);
  else {
    napi_value res, out, errv;
    napi_create_array_with_length(env, 4, &res);
    set_status(env, res, j->status);
    napi_create_buffer_copy(env, j->out.len, j->out.len ? j->out.p : "", NULL, &out);
    napi_create_buffer_copy(env, j->errb.len, j->errb.len ? j->errb.p : "", NULL, &errv);
    napi_set_element(env, res, 2, out);
    napi_set_element(env, res, 3, errv);
    napi_resolve_deferred(env, j->job.deferred, res);
  }
  napi_delete_async_work(env, j->job.work);
  free_run_job(j);
}

static napi_value js_run(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv, "run(file, args, env, input, timeoutMs, fd3)")) return NULL;
  struct run_job *j = calloc(1, sizeof *j);
  if (!j) { throw_errno(env, ENOMEM, "posix_spawn", NULL); return NULL; }
  j->file = path_arg(env, argv[0]);
  if (!j->file || !strv_arg(env, argv[1], &j->argv) || !j->argv || !strv_arg(env, argv[2], &j->envp)) goto fail;
  bool isbuf = false;
  napi_is_buffer(env, argv[3], &isbuf);
  if (isbuf) {
    void *d;
    size_t len;
    napi_get_buffer_info(env, argv[3], &d, &len);
    j->input = malloc(len ? len : 1);
    if (!j->input) goto fail;
    memcpy(j->input, d, len);
    j->input_len = len;
  }
  double t = 0;
  napi_get_value_double(env, argv[4], &t);
  j->timeout_ms = (long long)t;
  napi_get_value_bool(env, argv[5], &j->fd3);
  return queue_job(env, "strata:run", run_execute, run_complete, &j->job);
fail:
  free_run_job(j);
  return NULL;
}

struct request_job {
  struct job job;
  char *path, *line;
  long long timeout_ms;
  int err;
  const char *syscall;
  struct buf reply;
};

static void request_execute(napi_env env, void *data) {
  (void)env;
  struct request_job *j = data;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(j->path) >= sizeof sa.sun_path) { j->err = ENAMETOOLONG; j->syscall = "connect"; return; }
  strcpy(sa.sun_path, j->path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { j->err = errno; j->syscall = "socket"; return; }
  int r;
  do r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0) { j->err = errno; j->syscall = "connect"; close(fd); return; }
  size_t len = strlen(j->line), off = 0;
  while (off < len) {
    ssize_t w = send(fd, j->line + off, len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) { j->err = errno; j->syscall = "write"; close(fd); return; }
    off += (size_t)w;
  }
  long long end = j->timeout_ms > 0 ? mono_ms() + j->timeout_ms : 0;
  for (;;) {
    int wait = -1;
    if (end) {
      long long left = end - mono_ms();
      if (left <= 0) { j->err = ETIMEDOUT; j->syscall = "read"; break; }
      wait = (int)left;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    int p = poll(&pfd, 1, wait);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) { j->err = errno; j->syscall = "poll"; break; }
    if (p == 0) continue;
    int n = buf_read(&j->reply, fd);
    if (n < 0) { j->err = -n; j->syscall = "read"; break; }
    if (n == 0) break; /* the peer closed: the whole reply */
  }
  close(fd);
}

static void request_complete(napi_env env, napi_status status, void *data) {
  struct request_job *j = data;
  if (status != napi_ok && !j->err) j->err = ECANCELED, j->syscall = "request";
  if (j->err) reject_errno(env, j->job.deferred, j->err, j->syscall, j->path);
  else {
    napi_value out;
    napi_create_string_utf8(env, j->reply.p ? j->reply.p : "", j->reply.len, &out);
    napi_resolve_deferred(env, j->job.deferred, out);
  }
  napi_delete_async_work(env, j->job.work);
  free(j->reply.p);
  free(j->path);
  free(j->line);
  free(j);
}

static napi_value js_mount_root(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "mountRoot(path)")) return NULL;
  char *p = path_arg(env, argv[0]);
  if (!p) return NULL;
  struct statx stx;
  if (statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) != 0) {
    throw_errno(env, errno, "statx", p);
    free(p);
    return NULL;
  }
  free(p);
  napi_value out;
  if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) napi_get_null(env, &out);
  else napi_get_boolean(env, (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0, &out);
  return out;
}

static napi_value js_request(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, "request(socketPath, line, timeoutMs)")) return NULL;
  struct request_job *j = calloc(1, sizeof *j);
  if (!j) { throw_errno(env, ENOMEM, "request", NULL); return NULL; }
  j->path = path_arg(env, argv[0]);
  j->line = j->path ? path_arg(env, argv[1]) : NULL;
  if (!j->line) { free(j->path); free(j); return NULL; }
  int64_t t = 0;
  napi_get_value_int64(env, argv[2], &t);
  j->timeout_ms = t;
  return queue_job(env, "strata:request", request_execute, request_complete, &j->job);
}

#include "scan.c"
#include "hash.c"

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mknod", NAPI_AUTO_LENGTH, js_mknod, NULL, &f);
  napi_set_named_property(env, exports, "mknod", f);
  napi_create_function(env, "utimens", NAPI_AUTO_LENGTH, js_utimens, NULL, &f);
  napi_set_named_property(env, exports, "utimens", f);
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "umount", NAPI_AUTO_LENGTH, js_umount, NULL, &f);
  napi_set_named_property(env, exports, "umount", f);
  napi_create_function(env, "topdir", NAPI_AUTO_LENGTH, js_topdir, NULL, &f);
  napi_set_named_property(env, exports, "topdir", f);
  napi_create_function(env, "lstatdir", NAPI_AUTO_LENGTH, js_lstatdir, NULL, &f);
  napi_set_named_property(env, exports, "lstatdir", f);
  napi_create_function(env, "lstatdirAsync", NAPI_AUTO_LENGTH, js_lstatdir_async, NULL, &f);
  napi_set_named_property(env, exports, "lstatdirAsync", f);
  napi_create_function(env, "spawnInherit", NAPI_AUTO_LENGTH, js_spawn_inherit, NULL, &f);
  napi_set_named_property(env, exports, "spawnInherit", f);
  napi_create_function(env, "execReplace", NAPI_AUTO_LENGTH, js_exec_replace, NULL, &f);
  napi_set_named_property(env, exports, "execReplace", f);
  napi_create_function(env, "netnsAdd", NAPI_AUTO_LENGTH, js_netns_add, NULL, &f);
  napi_set_named_property(env, exports, "netnsAdd", f);
  napi_create_function(env, "ifaceUp", NAPI_AUTO_LENGTH, js_iface_up, NULL, &f);
  napi_set_named_property(env, exports, "ifaceUp", f);
  napi_create_function(env, "loUp", NAPI_AUTO_LENGTH, js_lo_up, NULL, &f);
  napi_set_named_property(env, exports, "loUp", f);
  napi_create_function(env, "tcpBindable", NAPI_AUTO_LENGTH, js_tcp_bindable, NULL, &f);
  napi_set_named_property(env, exports, "tcpBindable", f);
  napi_create_function(env, "waitAsync", NAPI_AUTO_LENGTH, js_wait_async, NULL, &f);
  napi_set_named_property(env, exports, "waitAsync", f);
  napi_create_function(env, "run", NAPI_AUTO_LENGTH, js_run, NULL, &f);
  napi_set_named_property(env, exports, "run", f);
  napi_create_function(env, "mountRoot", NAPI_AUTO_LENGTH, js_mount_root, NULL, &f);
  napi_set_named_property(env, exports, "mountRoot", f);
  napi_create_function(env, "request", NAPI_AUTO_LENGTH, js_request, NULL, &f);
  napi_set_named_property(env, exports, "request", f);
  napi_create_function(env, "lstatdirx", NAPI_AUTO_LENGTH, js_lstatdirx, NULL, &f);
  napi_set_named_property(env, exports, "lstatdirx", f);
  napi_create_function(env, "readinto", NAPI_AUTO_LENGTH, js_readinto, NULL, &f);
  napi_set_named_property(env, exports, "readinto", f);
  napi_create_function(env, "sha256New", NAPI_AUTO_LENGTH, js_sha256_new, NULL, &f);
  napi_set_named_property(env, exports, "sha256New", f);
  napi_create_function(env, "writeHash", NAPI_AUTO_LENGTH, js_write_hash, NULL, &f);
  napi_set_named_property(env, exports, "writeHash", f);
  napi_create_function(env, "sha256Hex", NAPI_AUTO_LENGTH, js_sha256_hex, NULL, &f);
  napi_set_named_property(env, exports, "sha256Hex", f);
  napi_create_function(env, "sha512Hex", NAPI_AUTO_LENGTH, js_sha512_hex, NULL, &f);
  napi_set_named_property(env, exports, "sha512Hex", f);
  return exports;
}
