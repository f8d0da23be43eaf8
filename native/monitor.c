/*
 * strata-monitor: one small process per running container.
 *
 * It daemonizes, becomes the child subreaper, creates the container with
 * `runc create` (pipes for stdio, or a pty received from runc over
 * --console-socket with SCM_RIGHTS), starts it with `runc start` (or both at
 * once with `runc run --detach`: --run, and --gate, see "the gate" below), and
 * then owns the container's stdio for the container's whole life:
 *
 *   - output goes to a json-file log (Docker's format, one JSON object per line)
 *     and to every attached client;
 *   - clients on a unix stream socket can attach (output framed with Docker's
 *     8-byte stdcopy header when there is no tty, raw with a tty), send stdin,
 *     resize the pty, start a deferred container, disable restarts, ask status;
 *   - when the container's init exits (it is reparented to us once runc create
 *     has exited), the exit code and finish time go to an exit file, written
 *     atomically, after the runtime state is cleaned (runc delete's work, done
 *     here without runc when nothing is left in the cgroups; state.json says
 *     "exited" just before);
 *   - restart policies (no, always, unless-stopped, on-failure[:N]) with
 *     Docker's back-off: 100 ms, doubling, reset after 10 s of running, max 1 min.
 *
 * The process only uses libc, a few static buffers and per-client buffers
 * allocated on demand, so it costs well under 1 MiB of PSS.
 *
 * Socket protocol (client -> monitor), one command line, then:
 *   attach FLAGS\n   FLAGS from "ioec": stdin, stdout, stderr, close stdin at
 *                    the end of this client's input. Reply "ok\n", then the
 *                    stream (client bytes after the line are stdin).
 *   resize ROWS COLS\n   reply "ok\n" (stored until a pty exists)
 *   start\n          (with --defer-start, or --gate) reply "ok PID\n" or "err CODE MSG\n"
 *   norestart\n      no restart after the next exit; ends a back-off wait.
 *   kill SIG [norestart]\n   signal the container's init (runc kill without runc);
 *                    reply "ok\n", or "err 1 ..." when it is not running.
 *   status\n         reply one JSON line.
 *
 * --go FIFO: the monitor may be spawned before its bundle exists: it starts up (daemon,
 * socket, log) and waits for one 'g' on the fifo, which the starter holds open for writing
 * from before the spawn; EOF instead (the starter gave up, or died) ends it, having made nothing.
 *
 * Sync pipe (--sync-fd, to the starter): one line, "ok PID MONITORPID\n" once
 * running, "created PID MONITORPID\n" with --defer-start, "gated 0 MONITORPID\n"
 * with --gate (runc run waits for "start"; norestart or kill instead cancel it),
 * or "err CODE MESSAGE\n".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define LINE_MAX_LOG 16384          /* Docker splits log messages at 16 KiB */
#define CLIENT_OUT_MAX (4u << 20)   /* a client further behind than this is dropped */
#define STDIN_BUF 65536

enum { R_NO, R_ALWAYS, R_ON_FAILURE, R_UNLESS_STOPPED };
enum { ST_CREATED, ST_RUNNING, ST_DRAINING, ST_BACKOFF, ST_DONE, ST_GATED };
enum { F_IN = 1, F_OUT = 2, F_ERR = 4, F_ONCE = 8 };

static struct {
  const char *runtime, *root, *id, *bundle, *pidfile, *log_path, *state_path, *exit_path, *sock_path,
      *runc_log, *gate, *go;
  int tty, stdin_open, defer_start, run, sync_fd, restart, restart_max;
} opt = {.runtime = "runc", .sync_fd = -1};

struct client {
  int fd;
  int attached;
  int flags;
  int in_eof;
  int closing; /* close once `out` is flushed */
  char line[256];
  size_t linelen;
  char *out;
  size_t outlen, outcap;
};

static struct client clients[MAX_CLIENTS];
static int nclients;

static int sig_fd = -1, listen_fd = -1, log_fd = -1, devnull = -1;
static int out_fd = -1, err_fd = -1; /* pipe read ends, or the pty master as out_fd */
static int in_fd = -1;               /* stdin pipe write end, or a dup of the pty master */
static int pty_fd = -1;
static pid_t cpid;
static int state = ST_CREATED;
static int exit_code = -1;
static int no_restart;
static int restart_count;
static long long backoff_ms;
static long long deadline_ms; /* drain / back-off deadline */
static struct timespec started_ts;
static char started_at[48], finished_at[48];
static char oom_file[PATH_MAX];
static int oom_killed;
static unsigned short win_rows, win_cols;
static char in_buf[STDIN_BUF];
static size_t in_len;
static int stdin_closed;
static char last_error[1024];
/* --gate: `runc run` in flight, held in the bundle's createRuntime hook until "start" */
static pid_t gate_runc;   /* runc run's pid while it runs; 0 once reaped */
static int gate_status;   /* its wait status once reaped before "start" */
static int gate_fd = -1;  /* the gate fifo, held open for writing */

struct linebuf { char buf[LINE_MAX_LOG]; size_t len; };
static struct linebuf lb_out, lb_err;
static char esc_buf[LINE_MAX_LOG * 6 + 256];
/* json-file rotation (--log-max-size / --log-max-file), as Docker's: once the
 * file has reached max-size, the next entry goes to a new file; the old ones
 * become <log>.1, <log>.2 ... and the oldest beyond max-file - 1 is removed. */
static long long log_max_size = -1, log_size;
static int log_max_file = 1;

/* ---------- small helpers ---------- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 with 9 fraction digits, as Docker's json-file log writes it. */
static void fmt_time(char *buf, size_t n, const struct timespec *ts) {
  struct tm tm;
  gmtime_r(&ts->tv_sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%09ldZ", ts->tv_nsec);
}

static void now_str(char *buf, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  fmt_time(buf, n, &ts);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
static void set_cloexec(int fd) { fcntl(fd, F_SETFD, FD_CLOEXEC); }

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, 1000) <= 0) return -1;
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* JSON string escaping with Docker's rules (jsonlog): \" \\ \n \r, other control
 * bytes and < > & as \u00XX, U+2028/9 escaped, invalid UTF-8 as \ufffd. */
static size_t json_escape(char *dst, const unsigned char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned char b = s[i];
    if (b < 0x80) {
      if (b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&') {
        dst[o++] = (char)b;
      } else if (b == '\\' || b == '"') {
        dst[o++] = '\\';
        dst[o++] = (char)b;
      } else if (b == '\n') {
        dst[o++] = '\\';
        dst[o++] = 'n';
      } else if (b == '\r') {
        dst[o++] = '\\';
        dst[o++] = 'r';
      } else {
        memcpy(dst + o, "\\u00", 4);
        o += 4;
        dst[o++] = hex[b >> 4];
        dst[o++] = hex[b & 15];
      }
      i++;
      continue;
    }
    /* decode one UTF-8 sequence */
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((b & 0xe0) == 0xc0) len = 2, cp = b & 0x1f, min = 0x80;
    else if ((b & 0xf0) == 0xe0) len = 3, cp = b & 0x0f, min = 0x800;
    else if ((b & 0xf8) == 0xf0) len = 4, cp = b & 0x07, min = 0x10000;
    int ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) ok = 0;
      else cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = 0;
    if (!ok) {
      memcpy(dst + o, "\\ufffd", 6);
      o += 6;
      i++;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      memcpy(dst + o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
      o += 6;
    } else {
      memcpy(dst + o, s + i, len);
      o += len;
    }
    i += len;
  }
  return o;
}

static void log_rotate(void) {
  char from[PATH_MAX], to[PATH_MAX];
  close(log_fd);
  if (log_max_file >= 2) {
    snprintf(to, sizeof to, "%s.%d", opt.log_path, log_max_file - 1);
    unlink(to);
    for (int i = log_max_file - 1; i > 1; i--) {
      snprintf(to, sizeof to, "%s.%d", opt.log_path, i);
      snprintf(from, sizeof from, "%s.%d", opt.log_path, i - 1);
      rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", opt.log_path);
    rename(opt.log_path, to);
  } else {
    unlink(opt.log_path); /* a reader may still hold it: start a new file rather than truncate */
  }
  log_fd = open(opt.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  log_size = 0;
}

static void log_entry(const char *stream, const char *data, size_t len) {
  if (log_fd < 0 || len == 0) return;
  if (log_max_size > 0 && log_size >= log_max_size) {
    log_rotate();
    if (log_fd < 0) return;
  }
  char ts[48];
  now_str(ts, sizeof ts);
  size_t o = 0;
  memcpy(esc_buf, "{\"log\":\"", 8);
  o = 8;
  o += json_escape(esc_buf + o, (const unsigned char *)data, len);
  o += (size_t)snprintf(esc_buf + o, sizeof esc_buf - o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
  write_all(log_fd, esc_buf, o);
  log_size += (long long)o;
}

/* Feed output into the line assembler: one log entry per line, 16 KiB max. */
static void log_feed(struct linebuf *lb, const char *stream, const char *p, size_t n) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) + 1 : n;
    size_t room = LINE_MAX_LOG - lb->len;
    if (take > room) take = room;
    memcpy(lb->buf + lb->len, p, take);
    lb->len += take;
    p += take;
    n -= take;
    if (lb->buf[lb->len - 1] == '\n' || lb->len == LINE_MAX_LOG) {
      log_entry(stream, lb->buf, lb->len);
      lb->len = 0;
    }
  }
}

static void log_flush(void) {
  if (lb_out.len) log_entry("stdout", lb_out.buf, lb_out.len);
  if (lb_err.len) log_entry("stderr", lb_err.buf, lb_err.len);
  lb_out.len = lb_err.len = 0;
}

/* Write a small file atomically: temp beside it, fsync, rename. */
static void write_file_atomic(const char *path, const char *data, int sync) {
  if (!path) return;
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, data, strlen(data));
  if (sync) fsync(fd);
  close(fd);
  if (rename(tmp, path) != 0) unlink(tmp);
}

static void json_str(char *dst, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (n * 6 + 3 > cap) n = (cap - 3) / 6;
  dst[0] = '"';
  size_t o = 1 + json_escape(dst + 1, (const unsigned char *)s, n);
  dst[o++] = '"';
  dst[o] = 0;
}

static void write_state(const char *status) {
  char buf[8192], err[6200];
  json_str(err, sizeof err, last_error);
  snprintf(buf, sizeof buf,
           "{\"status\":\"%s\",\"pid\":%d,\"monitorPid\":%d,\"startedAt\":\"%s\",\"finishedAt\":\"%s\","
           "\"exitCode\":%d,\"restartCount\":%d,\"oomKilled\":%s,\"error\":%s}\n",
           status, state == ST_RUNNING || state == ST_CREATED ? (int)cpid : 0, (int)getpid(), started_at,
           finished_at, exit_code, restart_count, oom_killed ? "true" : "false", err);
  write_file_atomic(opt.state_path, buf, 0);
}

/* Done for good: stop accepting clients first, so that a new monitor for the
 * same container (docker start right after the exit) keeps its socket. */
static void write_exit(void) {
  if (listen_fd >= 0) {
    unlink(opt.sock_path);
    close(listen_fd);
    listen_fd = -1;
  }
  char buf[8192], err[6200];
  json_str(err, sizeof err, last_error);
  snprintf(buf, sizeof buf,
           "{\"exitCode\":%d,\"finishedAt\":\"%s\",\"startedAt\":\"%s\",\"restartCount\":%d,\"oomKilled\":%s,"
           "\"error\":%s}\n",
           exit_code, finished_at, started_at, restart_count, oom_killed ? "true" : "false", err);
  write_file_atomic(opt.exit_path, buf, 1);
}

static void sync_report(const char *fmt, ...) {
  if (opt.sync_fd < 0) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n') buf[i] = ' ';
  buf[n++] = '\n';
  write_all(opt.sync_fd, buf, (size_t)n);
  close(opt.sync_fd);
  opt.sync_fd = -1;
}

/* ---------- child processes ---------- */

static pid_t spawn(char *const argv[], int in, int out, int err) {
  pid_t p = fork();
  if (p != 0) return p;
  sigset_t s;
  sigemptyset(&s);
  sigprocmask(SIG_SETMASK, &s, NULL);
  signal(SIGPIPE, SIG_DFL);
  int fds[3] = {in, out, err};
  /* move the sources out of the way first so dup2 cannot clobber one another */
  for (int i = 0; i < 3; i++) fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
  for (int i = 0; i < 3; i++) dup2(fds[i], i);
  syscall(SYS_close_range, 3u, ~0u, 0u);
  execvp(argv[0], argv);
  _exit(127);
}

static int wait_pid(pid_t p) {
  int st;
  while (waitpid(p, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return st;
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

static int runc(const char *cmd, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5) {
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)opt.runtime;
  if (opt.root) {
    argv[n++] = "--root";
    argv[n++] = (char *)opt.root;
  }
  argv[n++] = (char *)cmd;
  const char *rest[] = {a1, a2, a3, a4, a5};
  for (int i = 0; i < 5 && rest[i]; i++) argv[n++] = (char *)rest[i];
  argv[n] = NULL;
  pid_t p = spawn(argv, devnull, devnull, devnull);
  if (p < 0) return -1;
  return status_code(wait_pid(p));
}

/* Last error message of runc's JSON log (`--log-format json`). */
static void read_runc_error(char *dst, size_t cap) {
  dst[0] = 0;
  if (!opt.runc_log) return;
  int fd = open(opt.runc_log, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  static char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  char *line = buf, *found = NULL;
  while (line && *line) {
    char *next = strchr(line, '\n');
    if (next) *next++ = 0;
    if (strstr(line, "\"level\":\"error\"") || strstr(line, "\"level\":\"fatal\"")) found = line;
    line = next;
  }
  if (!found) return;
  char *m = strstr(found, "\"msg\":\"");
  if (!m) return;
  m += 7;
  size_t o = 0;
  for (; *m && *m != '"' && o + 1 < cap; m++) {
    if (*m == '\\' && m[1]) {
      m++;
      switch (*m) {
        case 'n': dst[o++] = ' '; break;
        case 't': dst[o++] = ' '; break;
        case 'u':
          if (strlen(m) >= 5) {
            unsigned v = (unsigned)strtoul((char[]){m[1], m[2], m[3], m[4], 0}, NULL, 16);
            dst[o++] = v < 0x80 ? (char)v : '?';
            m += 4;
          }
          break;
        default: dst[o++] = *m;
      }
    } else {
      dst[o++] = *m;
    }
  }
  dst[o] = 0;
}

static int error_exit_code(const char *msg) {
  if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory")) return 127;
  if (strstr(msg, "permission denied") || strstr(msg, "is a directory")) return 126;
  return 125;
}

static int recv_fd(int sock) {
  char data[256];
  struct iovec iov = {data, sizeof data};
  union {
    struct cmsghdr h;
    char c[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = u.c;
  m.msg_controllen = sizeof u.c;
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  return -1;
}

static void apply_winsize(void) {
  if (pty_fd < 0 || !win_rows || !win_cols) return;
  struct winsize ws = {.ws_row = win_rows, .ws_col = win_cols};
  ioctl(pty_fd, TIOCSWINSZ, &ws);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void close_stdio(void) {
  if (in_fd >= 0 && in_fd != pty_fd) close(in_fd);
  in_fd = -1;
  if (out_fd >= 0 && out_fd != pty_fd) close(out_fd);
  out_fd = -1;
  close_fd(&err_fd);
  close_fd(&pty_fd);
  in_len = 0;
}

/* Remember the memory cgroup so an OOM kill can be reported after exit. */
static void find_oom_file(void) {
  oom_file[0] = 0;
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/cgroup", (int)cpid);
  FILE *f = fopen(p, "re");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *a = strchr(line, ':');
    char *b = a ? strchr(a + 1, ':') : NULL;
    if (!b) continue;
    *b = 0;
    const char *ctrl = a + 1, *path = b + 1;
    if (strcmp(ctrl, "memory") == 0) {
      snprintf(oom_file, sizeof oom_file, "/sys/fs/cgroup/memory%s/memory.oom_control", path);
      break;
    }
    if (*ctrl == 0 && !oom_file[0]) snprintf(oom_file, sizeof oom_file, "/sys/fs/cgroup%s/memory.events", path);
  }
  fclose(f);
}

static int read_oom_kills(void) {
  if (!oom_file[0]) return 0;
  FILE *f = fopen(oom_file, "re");
  if (!f) return 0;
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "oom_kill ", 9) == 0) n = atoi(line + 9);
  fclose(f);
  return n;
}

/*
 * runc create + (unless deferred) runc start. Returns 0 when the container is
 * created (and started), or the exit code to report (127/126/125) with
 * last_error set.
 */
/* `runc create` (waited for), or with opt.run `runc run --detach`: waited for, or with
 * opt.gate left running, held by the hook until "start" (the console, with a tty, is taken
 * first: runc sends it before it runs the hooks). */
static int created(int st);
static int create_container(int gated) {
  last_error[0] = 0;
  int stdin_r = -1, stdout_w = -1, stderr_w = -1;
  int con_listen = -1;
  char con_path[PATH_MAX];
  if (opt.runc_log) {
    int fd = open(opt.runc_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
  }
  unlink(opt.pidfile);
  if (opt.tty) {
    snprintf(con_path, sizeof con_path, "%s-con", opt.sock_path);
    unlink(con_path);
    con_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(con_path) >= sizeof sa.sun_path) {
      snprintf(last_error, sizeof last_error, "console socket path too long: %s", con_path);
      close(con_listen);
      return 125;
    }
    strcpy(sa.sun_path, con_path);
    mode_t old = umask(077);
    int r = bind(con_listen, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0 || listen(con_listen, 1) < 0) {
      snprintf(last_error, sizeof last_error, "console socket %s: %s", con_path, strerror(errno));
      close(con_listen);
      return 125;
    }
  } else {
    int p[2];
    if (opt.stdin_open) {
      if (pipe2(p, O_CLOEXEC) < 0) goto pipe_fail;
      stdin_r = p[0];
      in_fd = p[1];
      set_nonblock(in_fd);
      stdin_closed = 0;
    }
    if (pipe2(p, O_CLOEXEC) < 0) goto pipe_fail;
    out_fd = p[0];
    stdout_w = p[1];
    if (pipe2(p, O_CLOEXEC) < 0) goto pipe_fail;
    err_fd = p[0];
    stderr_w = p[1];
    set_nonblock(out_fd);
    set_nonblock(err_fd);
  }

  char *argv[20];
  int n = 0;
  argv[n++] = (char *)opt.runtime;
  if (opt.root) argv[n++] = "--root", argv[n++] = (char *)opt.root;
  if (opt.runc_log) argv[n++] = "--log", argv[n++] = (char *)opt.runc_log, argv[n++] = "--log-format",
                     argv[n++] = "json";
  if (opt.run) argv[n++] = "run", argv[n++] = "--detach";
  else argv[n++] = "create";
  argv[n++] = "--bundle";
  argv[n++] = (char *)opt.bundle;
  argv[n++] = "--pid-file";
  argv[n++] = (char *)opt.pidfile;
  if (opt.tty) argv[n++] = "--console-socket", argv[n++] = con_path;
  argv[n++] = (char *)opt.id;
  argv[n] = NULL;

  if (opt.run && !gated) {
    clock_gettime(CLOCK_REALTIME, &started_ts);
    fmt_time(started_at, sizeof started_at, &started_ts);
  }
  pid_t p;
  if (opt.tty) p = spawn(argv, devnull, devnull, devnull);
  else p = spawn(argv, stdin_r >= 0 ? stdin_r : devnull, stdout_w, stderr_w);
  close_fd(&stdin_r);
  close_fd(&stdout_w);
  close_fd(&stderr_w);
  if (p < 0) {
    snprintf(last_error, sizeof last_error, "fork: %s", strerror(errno));
    close_fd(&con_listen);
    close_stdio();
    return 125;
  }

  int st = 0, done = 0;
  if (opt.tty) {
    /* accept the console connection while runc create runs */
    while (!done && !(gated && pty_fd >= 0)) {
      struct pollfd pfd = {con_listen, POLLIN, 0};
      int r = poll(&pfd, 1, 20);
      if (r > 0 && (pfd.revents & POLLIN)) {
        int c = accept4(con_listen, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
          int m = recv_fd(c);
          close(c);
          if (m >= 0) {
            pty_fd = m;
            set_nonblock(pty_fd);
            out_fd = pty_fd;
            if (opt.stdin_open) in_fd = pty_fd, stdin_closed = 0;
            apply_winsize();
          }
        }
      }
      pid_t w = waitpid(p, &st, WNOHANG);
      if (w == p) done = 1;
    }
    close_fd(&con_listen);
    unlink(con_path);
  } else if (!gated) {
    st = wait_pid(p);
  }
  if (gated && !done) {
    gate_runc = p;
    state = ST_GATED;
    return 0;
  }
  return created(st);

pipe_fail:
  snprintf(last_error, sizeof last_error, "pipe: %s", strerror(errno));
  close_fd(&stdin_r);
  close_fd(&stdout_w);
  close_fd(&stderr_w);
  close_stdio();
  return 125;
}

/* After runc create (or run) exited with wait status `st`: the container's pid, or the error. */
static int created(int st) {

  if (status_code(st) != 0) {
    read_runc_error(last_error, sizeof last_error);
    if (!last_error[0] && err_fd >= 0) {
      ssize_t k = read(err_fd, last_error, sizeof last_error - 1);
      last_error[k > 0 ? k : 0] = 0;
      last_error[strcspn(last_error, "\n")] = 0;
    }
    if (!last_error[0]) snprintf(last_error, sizeof last_error, "runc create exited with status %d", status_code(st));
    /* Docker's words are runc create's: `runc run failed: ...` reads `runc create failed: ...` */
    char *rr = strstr(last_error, "runc run failed");
    if (rr) {
      size_t tail = strlen(rr + 8);
      if ((size_t)(rr - last_error) + 11 + tail >= sizeof last_error) tail = sizeof last_error - (size_t)(rr - last_error) - 12;
      memmove(rr + 11, rr + 8, tail);
      rr[11 + tail] = 0;
      memcpy(rr, "runc create", 11);
    }
    close_stdio();
    runc("delete", "-f", opt.id, NULL, NULL, NULL);
    return error_exit_code(last_error);
  }
  if (opt.tty && pty_fd < 0) {
    snprintf(last_error, sizeof last_error, "runc create did not send a console");
    runc("delete", "-f", opt.id, NULL, NULL, NULL);
    close_stdio();
    return 125;
  }

  char buf[32] = {0};
  int fd = open(opt.pidfile, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t k = read(fd, buf, sizeof buf - 1);
    (void)k;
    close(fd);
  }
  cpid = (pid_t)atoi(buf);
  if (cpid <= 0) {
    snprintf(last_error, sizeof last_error, "no pid in %s", opt.pidfile);
    runc("delete", "-f", opt.id, NULL, NULL, NULL);
    close_stdio();
    return 125;
  }
  find_oom_file();
  if (opt.run) {
    state = ST_RUNNING;
    finished_at[0] = 0;
    exit_code = -1;
    oom_killed = 0;
    write_state("running");
  } else {
    state = ST_CREATED;
  }
  return 0;
}

/* ---------- the gate (--gate) ----------
 * runc run waits in the bundle's createRuntime hook, `strata-monitor --gate-wait FIFO`, until the
 * hook reads a byte from this fifo: '1' lets the run go on (the "start" command), anything else,
 * or EOF once the monitor is gone, fails the hook and with it the run. The container is made
 * while its network is attached, and started with no second runc process (`runc start`). */

static int gate_make(void) {
  unlink(opt.gate);
  if (mkfifo(opt.gate, 0600) != 0 || (gate_fd = open(opt.gate, O_RDWR | O_CLOEXEC)) < 0) {
    snprintf(last_error, sizeof last_error, "gate %s: %s", opt.gate, strerror(errno));
    return 125;
  }
  return 0; /* O_RDWR: the open does not wait for a reader, and the hook always has a writer */
}

/* Let runc run go on (go), or make it fail; then its outcome, as created() tells it. */
static int gate_open(int go) {
  if (go) {
    clock_gettime(CLOCK_REALTIME, &started_ts);
    fmt_time(started_at, sizeof started_at, &started_ts);
  }
  ssize_t w;
  do w = write(gate_fd, go ? "1" : "0", 1);
  while (w < 0 && errno == EINTR);
  int st = gate_status;
  if (gate_runc > 0) st = wait_pid(gate_runc);
  gate_runc = 0;
  close_fd(&gate_fd);
  unlink(opt.gate);
  return created(st);
}

/* A gated run that did not start: recorded, and the monitor is done. */
static void gate_failed(int code) {
  no_restart = 1;
  exit_code = code;
  now_str(finished_at, sizeof finished_at);
  write_state("exited");
  write_exit();
  state = ST_DONE;
}

/* Asked to stop (norestart, kill, a signal) before the start: the run fails in its hook. */
static void gate_cancel(void) {
  no_restart = 1;
  int code = gate_open(0);
  if (code == 0) kill(cpid, SIGKILL); /* it ran after all (no hook): its exit is recorded as any */
  else gate_failed(code);
}

/* The hook's side: 0 lets runc run go on. No fifo: no gate (a restart by the monitor). */
static int gate_wait(const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    fprintf(stderr, "gate %s: %s\n", path, strerror(errno));
    return 1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  char c = 0;
  ssize_t n;
  do n = read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n == 1 && c == '1') return 0;
  fputs("the start was cancelled\n", stderr);
  return 1;
}

static int start_container(void) {
  if (opt.runc_log) {
    int fd = open(opt.runc_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
  }
  char *argv[12];
  int n = 0;
  argv[n++] = (char *)opt.runtime;
  if (opt.root) argv[n++] = "--root", argv[n++] = (char *)opt.root;
  if (opt.runc_log) argv[n++] = "--log", argv[n++] = (char *)opt.runc_log, argv[n++] = "--log-format",
                     argv[n++] = "json";
  argv[n++] = "start";
  argv[n++] = (char *)opt.id;
  argv[n] = NULL;
  clock_gettime(CLOCK_REALTIME, &started_ts);
  fmt_time(started_at, sizeof started_at, &started_ts);
  pid_t p = spawn(argv, devnull, devnull, devnull);
  int st = p < 0 ? -1 : wait_pid(p);
  if (p < 0 || status_code(st) != 0) {
    read_runc_error(last_error, sizeof last_error);
    if (!last_error[0]) snprintf(last_error, sizeof last_error, "runc start failed");
    return error_exit_code(last_error);
  }
  state = ST_RUNNING;
  finished_at[0] = 0;
  exit_code = -1;
  oom_killed = 0;
  write_state("running");
  return 0;
}

/* ---------- clients ---------- */

static void client_drop(int i) {
  close(clients[i].fd);
  free(clients[i].out);
  clients[i] = clients[--nclients];
}

/* Queue bytes for a client; returns -1 if the client must be dropped. */
static int client_send(struct client *c, const char *p, size_t n) {
  if (c->outlen == 0) {
    ssize_t w = write(c->fd, p, n);
    if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
    if (w > 0) p += w, n -= (size_t)w;
    if (n == 0) return 0;
  }
  if (c->outlen + n > CLIENT_OUT_MAX) return -1;
  if (c->outlen + n > c->outcap) {
    size_t cap = c->outcap ? c->outcap : 4096;
    while (cap < c->outlen + n) cap *= 2;
    char *q = realloc(c->out, cap);
    if (!q) return -1;
    c->out = q;
    c->outcap = cap;
  }
  memcpy(c->out + c->outlen, p, n);
  c->outlen += n;
  return 0;
}

static void client_reply(struct client *c, const char *s) {
  if (client_send(c, s, strlen(s)) < 0) c->closing = 1;
}

static void broadcast(int stream, const char *p, size_t n) {
  unsigned char hdr[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
  int want = stream == 2 ? F_ERR : F_OUT;
  for (int i = 0; i < nclients; i++) {
    struct client *c = &clients[i];
    if (!c->attached || !(c->flags & want) || c->closing) continue;
    int bad = 0;
    if (!opt.tty) bad = client_send(c, (const char *)hdr, 8) < 0;
    if (!bad) bad = client_send(c, p, n) < 0;
    if (bad) {
      client_drop(i);
      i--;
    }
  }
}

static void close_container_stdin(void) {
  if (stdin_closed || opt.tty) return; /* a pty has no end of input: keep it for the next client */
  stdin_closed = 1;
  if (!opt.tty && in_fd >= 0 && in_len == 0) close_fd(&in_fd);
}

static void handle_command(struct client *c, char *line);

static void client_readable(int i) {
  struct client *c = &clients[i];
  char buf[8192];
  size_t cap = sizeof buf;
  if (c->attached && (c->flags & F_IN)) {
    size_t room = STDIN_BUF - in_len;
    if (room < cap) cap = room;
    if (cap == 0) return;
  }
  ssize_t n = read(c->fd, buf, cap);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    c->in_eof = 1;
    if (c->attached && (c->flags & F_IN) && (c->flags & F_ONCE)) close_container_stdin();
    if (!c->attached) c->closing = 1;
    shutdown(c->fd, SHUT_RD);
    return;
  }
  size_t off = 0;
  while (!c->attached && off < (size_t)n) {
    char ch = buf[off++];
    if (ch == '\n') {
      c->line[c->linelen] = 0;
      c->linelen = 0;
      handle_command(c, c->line);
      if (!c->attached) return; /* one command per connection */
    } else if (c->linelen + 1 < sizeof c->line) {
      c->line[c->linelen++] = ch;
    }
  }
  if (c->attached && (c->flags & F_IN) && off < (size_t)n && in_fd >= 0 && !stdin_closed) {
    size_t k = (size_t)n - off;
    if (k > STDIN_BUF - in_len) k = STDIN_BUF - in_len;
    memcpy(in_buf + in_len, buf + off, k);
    in_len += k;
  }
}

static const char *state_name(void) {
  switch (state) {
    case ST_CREATED:
    case ST_GATED: return "created";
    case ST_RUNNING: return "running";
    case ST_DRAINING: return "running";
    case ST_BACKOFF: return "restarting";
    default: return "exited";
  }
}

static void finish_run(void);

/* The reply to "start": "ok PID", or "err CODE MESSAGE" on one line. */
static void start_reply(char *buf, size_t cap, int code) {
  if (code == 0) {
    snprintf(buf, cap, "ok %d\n", (int)cpid);
    return;
  }
  for (char *q = last_error; *q; q++)
    if (*q == '\n') *q = ' ';
  snprintf(buf, cap, "err %d %s\n", code, last_error);
}

static void handle_command(struct client *c, char *line) {
  char *cmd = strtok(line, " \t\r");
  if (!cmd) {
    client_reply(c, "err 1 empty command\n");
    c->closing = 1;
    return;
  }
  if (strcmp(cmd, "attach") == 0) {
    const char *fl = strtok(NULL, " \t\r");
    if (state != ST_CREATED && state != ST_RUNNING && state != ST_GATED) {
      client_reply(c, state == ST_BACKOFF ? "err 1 You cannot attach to a restarting container, wait until it is running\n"
                                          : "err 1 You cannot attach to a stopped container, start it first\n");
      c->closing = 1;
      return;
    }
    c->flags = 0;
    for (; fl && *fl; fl++) {
      if (*fl == 'i') c->flags |= F_IN;
      else if (*fl == 'o') c->flags |= F_OUT;
      else if (*fl == 'e') c->flags |= F_ERR;
      else if (*fl == 'c') c->flags |= F_ONCE;
    }
    c->attached = 1;
    client_reply(c, "ok\n");
    if (!(c->flags & F_IN)) shutdown(c->fd, SHUT_RD), c->in_eof = 1;
  } else if (strcmp(cmd, "resize") == 0) {
    const char *r = strtok(NULL, " \t\r"), *k = strtok(NULL, " \t\r");
    int rows = r ? atoi(r) : 0, cols = k ? atoi(k) : 0;
    if (rows > 0 && cols > 0 && rows < 65536 && cols < 65536) {
      win_rows = (unsigned short)rows;
      win_cols = (unsigned short)cols;
      apply_winsize();
      client_reply(c, "ok\n");
    } else {
      client_reply(c, "err 1 bad size\n");
    }
    c->closing = 1;
  } else if (strcmp(cmd, "start") == 0 && state == ST_GATED) {
    int code = gate_open(1);
    char buf[1200];
    start_reply(buf, sizeof buf, code);
    if (code != 0) gate_failed(code);
    client_reply(c, buf);
    c->closing = 1;
  } else if (strcmp(cmd, "start") == 0) {
    if (state != ST_CREATED) {
      client_reply(c, "err 1 container is not in created state\n");
    } else {
      int code = start_container();
      char buf[1200];
      start_reply(buf, sizeof buf, code);
      if (code != 0) {
        /* the init process is still waiting on the exec fifo: kill it, record the failure */
        kill(cpid, SIGKILL);
        no_restart = 1;
        exit_code = code;
        state = ST_DRAINING;
        deadline_ms = now_ms() + 1000;
      }
      client_reply(c, buf);
    }
    c->closing = 1;
  } else if (strcmp(cmd, "norestart") == 0) {
    no_restart = 1;
    if (state == ST_GATED) gate_cancel(); /* the run fails in its hook, before the reply */
    client_reply(c, "ok\n");
    c->closing = 1;
    if (state == ST_BACKOFF) {
      write_state("exited");
      write_exit();
      state = ST_DONE;
    }
  } else if (strcmp(cmd, "kill") == 0) {
    /* kill SIG [norestart]: what `runc kill` does for the init process (the monitor is its
     * parent, so the pid cannot have been reused), without spawning runc (~25 ms, half of it
     * CPU); `norestart` first, as `docker stop` wants, in the same round trip. */
    const char *sg = strtok(NULL, " \t\r"), *fl = strtok(NULL, " \t\r");
    int sig = sg ? atoi(sg) : 0;
    if (sig <= 0 || sig >= 65) {
      client_reply(c, "err 1 bad signal\n");
    } else {
      if (fl && strcmp(fl, "norestart") == 0) no_restart = 1;
      if (state == ST_GATED) gate_cancel();
      if ((state == ST_RUNNING || state == ST_CREATED) && cpid > 0) {
        client_reply(c, kill(cpid, sig) == 0 ? "ok\n" : "err 1 container is not running\n");
      } else {
        if (no_restart && state == ST_BACKOFF) {
          write_state("exited");
          write_exit();
          state = ST_DONE;
        }
        client_reply(c, "err 1 container is not running\n");
      }
    }
    c->closing = 1;
  } else if (strcmp(cmd, "status") == 0) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"status\":\"%s\",\"pid\":%d,\"monitorPid\":%d,\"restartCount\":%d,\"exitCode\":%d,"
             "\"startedAt\":\"%s\"}\n",
             state_name(), (int)(cpid > 0 ? cpid : 0), (int)getpid(), restart_count, exit_code, started_at);
    client_reply(c, buf);
    c->closing = 1;
  } else {
    client_reply(c, "err 1 unknown command\n");
    c->closing = 1;
  }
}

static void accept_clients(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (nclients >= MAX_CLIENTS) {
      close(fd);
      continue;
    }
    memset(&clients[nclients], 0, sizeof clients[nclients]);
    clients[nclients].fd = fd;
    nclients++;
  }
}

/* ---------- container life ---------- */

static int restart_wanted(void) {
  if (no_restart) return 0;
  switch (opt.restart) {
    case R_ALWAYS:
    case R_UNLESS_STOPPED: return 1;
    case R_ON_FAILURE:
      if (exit_code == 0) return 0;
      return opt.restart_max <= 0 || restart_count < opt.restart_max;
    default: return 0;
  }
}

/*
 * `runc delete` of a container whose init has exited, without starting runc (~30 ms here):
 * the cgroups runc made (cgroup_paths in its state.json) are removed, then its state
 * directory, as runc's destroy does for a stopped container. Anything unexpected (another
 * runtime, a process still in a cgroup, a file runc does not leave there) returns -1, and
 * the caller runs `runc delete -f`, which also kills what is left.
 */
static int fast_delete(void) {
  const char *base = strrchr(opt.runtime, '/');
  base = base ? base + 1 : opt.runtime;
  if (strcmp(base, "runc") != 0 || !opt.root) return -1;
  char dir[PATH_MAX], file[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/%s", opt.root, opt.id);
  snprintf(file, sizeof file, "%s/state.json", dir);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static char buf[1 << 20];
  size_t len = 0;
  ssize_t k;
  while (len < sizeof buf - 1 && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)k;
  close(fd);
  buf[len] = 0;
  const char *key = "\"cgroup_paths\":{";
  char *p = strstr(buf, key);
  if (!p) return -1;
  p += strlen(key);
  char *paths[32];
  int n = 0;
  while (*p == '"') {
    char *kend = strchr(p + 1, '"');
    if (!kend || kend[1] != ':' || kend[2] != '"') return -1;
    char *v = kend + 3, *vend = strchr(v, '"');
    if (!vend || memchr(v, '\\', (size_t)(vend - v)) || n == 32) return -1;
    *vend = 0;
    if (strncmp(v, "/sys/fs/cgroup/", 15) != 0 || strstr(v, "/../")) return -1;
    paths[n++] = v;
    p = vend + 1;
    if (*p == ',') p++;
  }
  if (*p != '}') return -1;
  for (int i = 0; i < n; i++) {
    /* the other processes of the pid namespace die with its init, and may take a moment */
    int tries = 0;
    while (rmdir(paths[i]) < 0 && errno != ENOENT) {
      if (errno != EBUSY || ++tries > 25) return -1;
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
    }
  }
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  int ok = 1;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (e->d_type != DT_REG && e->d_type != DT_FIFO) { ok = 0; continue; }
    if (unlinkat(dirfd(d), e->d_name, 0) < 0) ok = 0;
  }
  closedir(d);
  if (!ok || rmdir(dir) < 0) return -1;
  return 0;
}

/* The container's init has exited and its output is drained. */
static void finish_run(void) {
  log_flush();
  close_stdio();
  if (read_oom_kills() > 0) oom_killed = 1;
  int restart = restart_wanted();
  if (!restart) {
    /* Done for good: say so in state.json before the runtime state is deleted, so that a waiting
     * stop/rm can release the network and the rootfs meanwhile; exit.json still comes after. */
    now_str(finished_at, sizeof finished_at);
    write_state("exited");
  }
  if (fast_delete() != 0) runc("delete", "-f", opt.id, NULL, NULL, NULL);
  now_str(finished_at, sizeof finished_at);
  cpid = 0;
  /* attached clients see the end of the stream */
  for (int i = 0; i < nclients; i++)
    if (clients[i].attached) clients[i].closing = 1;

  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long long ran_ms = (now.tv_sec - started_ts.tv_sec) * 1000LL + (now.tv_nsec - started_ts.tv_nsec) / 1000000;
  if (restart) {
    if (ran_ms >= 10000) backoff_ms = 0;
    backoff_ms = backoff_ms == 0 ? 100 : backoff_ms * 2;
    if (backoff_ms > 60000) backoff_ms = 60000;
    deadline_ms = now_ms() + backoff_ms;
    state = ST_BACKOFF;
    write_state("restarting");
  } else {
    write_state("exited");
    write_exit();
    state = ST_DONE;
  }
}

static void do_restart(void) {
  restart_count++;
  int code = create_container(0);
  if (code == 0 && !opt.run) code = start_container();
  if (code != 0) {
    if (cpid > 0) kill(cpid, SIGKILL);
    runc("delete", "-f", opt.id, NULL, NULL, NULL);
    exit_code = code;
    cpid = 0;
    close_stdio();
    finish_run();
  }
}

static void reap(void) {
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (p == gate_runc) { /* runc run ended before the gate opened: it failed */
      gate_runc = 0;
      gate_status = st;
      continue;
    }
    if (p == cpid && (state == ST_RUNNING || state == ST_CREATED || state == ST_DRAINING)) {
      if (exit_code < 0 || state != ST_DRAINING) exit_code = status_code(st);
      if (state != ST_DRAINING) {
        state = ST_DRAINING;
        deadline_ms = now_ms() + 2000;
      }
      cpid = -p; /* keep it for status, negative: gone */
    }
  }
}

static void read_output(int *fd, int stream) {
  char buf[32768];
  for (int rounds = 0; rounds < 8; rounds++) {
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) { /* EOF, or EIO once the pty's last slave closes */
      if (*fd == pty_fd) {
        out_fd = -1;
        if (in_fd == pty_fd) in_fd = -1;
        close_fd(&pty_fd);
        *fd = -1;
      } else {
        close_fd(fd);
      }
      return;
    }
    log_feed(stream == 2 ? &lb_err : &lb_out, stream == 2 ? "stderr" : "stdout", buf, (size_t)n);
    broadcast(stream, buf, (size_t)n);
  }
}

static void flush_stdin(void) {
  while (in_len > 0 && in_fd >= 0) {
    ssize_t w = write(in_fd, in_buf, in_len);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      in_len = 0; /* EPIPE: the container closed its stdin */
      break;
    }
    memmove(in_buf, in_buf + w, in_len - (size_t)w);
    in_len -= (size_t)w;
  }
  if (in_len == 0 && stdin_closed && !opt.tty && in_fd >= 0) close_fd(&in_fd);
}

static void on_signal(void) {
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) {
      reap();
    } else {
      /* asked to stop: pass it on to the container, and do not restart it */
      no_restart = 1;
      if (state == ST_GATED) gate_cancel();
      if (cpid > 0) kill(cpid, (int)si.ssi_signo);
      if (state == ST_BACKOFF || state == ST_CREATED) {
        if (state == ST_CREATED && cpid > 0) {
          kill(cpid, SIGKILL);
          continue;
        }
        write_state("exited");
        write_exit();
        state = ST_DONE;
      }
    }
  }
}

static void event_loop(void) {
  struct pollfd pfds[MAX_CLIENTS + 8];
  long long done_at = 0;
  for (;;) {
    if (state == ST_DRAINING && ((out_fd < 0 && err_fd < 0) || now_ms() >= deadline_ms)) finish_run();
    if (state == ST_BACKOFF && now_ms() >= deadline_ms) do_restart();
    if (state == ST_DONE) {
      if (!done_at) done_at = now_ms() + 2000;
      int pending = 0;
      for (int i = 0; i < nclients; i++)
        if (clients[i].outlen) pending = 1;
      if (!pending || now_ms() >= done_at) return;
    }
    for (int i = 0; i < nclients; i++) {
      if (clients[i].closing && clients[i].outlen == 0) {
        client_drop(i);
        i--;
      }
    }

    int n = 0;
    pfds[n++] = (struct pollfd){sig_fd, POLLIN, 0};
    pfds[n++] = (struct pollfd){listen_fd, POLLIN, 0}; /* -1 once done: ignored by poll */
    int i_out = -1, i_err = -1, i_in = -1;
    if (out_fd >= 0) i_out = n, pfds[n++] = (struct pollfd){out_fd, POLLIN, 0};
    if (err_fd >= 0) i_err = n, pfds[n++] = (struct pollfd){err_fd, POLLIN, 0};
    if (in_fd >= 0 && in_len > 0) i_in = n, pfds[n++] = (struct pollfd){in_fd, POLLOUT, 0};
    int base = n;
    for (int i = 0; i < nclients; i++) {
      struct client *c = &clients[i];
      short ev = 0;
      if (!c->in_eof && !c->closing && (!c->attached || ((c->flags & F_IN) && in_len < STDIN_BUF))) ev |= POLLIN;
      if (c->outlen) ev |= POLLOUT;
      pfds[n++] = (struct pollfd){c->fd, ev, 0};
    }
    int timeout = -1;
    if (state == ST_DRAINING || state == ST_BACKOFF) {
      long long d = deadline_ms - now_ms();
      timeout = d < 0 ? 0 : (int)d;
    }
    if (state == ST_DONE) timeout = 50;
    int r = poll(pfds, (nfds_t)n, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (pfds[0].revents) on_signal();
    if (pfds[1].revents) accept_clients();
    if (i_out >= 0 && pfds[i_out].revents && out_fd >= 0) read_output(&out_fd, 1);
    if (i_err >= 0 && pfds[i_err].revents && err_fd >= 0) read_output(&err_fd, 2);
    if (i_in >= 0 && pfds[i_in].revents) {
      if (pfds[i_in].revents & (POLLERR | POLLHUP)) {
        in_len = 0;
        if (in_fd != pty_fd) close_fd(&in_fd);
      } else {
        flush_stdin();
      }
    }
    /* clients: iterate over the snapshot taken for poll (drops reorder the array) */
    int count = n - base;
    int fds_snapshot[MAX_CLIENTS];
    short rev[MAX_CLIENTS];
    for (int k = 0; k < count; k++) fds_snapshot[k] = pfds[base + k].fd, rev[k] = pfds[base + k].revents;
    for (int k = 0; k < count; k++) {
      if (!rev[k]) continue;
      int i;
      for (i = 0; i < nclients && clients[i].fd != fds_snapshot[k]; i++) {
      }
      if (i == nclients) continue;
      struct client *c = &clients[i];
      if (rev[k] & POLLOUT && c->outlen) {
        ssize_t w = write(c->fd, c->out, c->outlen);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          client_drop(i);
          continue;
        }
        if (w > 0) {
          memmove(c->out, c->out + w, c->outlen - (size_t)w);
          c->outlen -= (size_t)w;
        }
      }
      if (rev[k] & (POLLIN | POLLHUP | POLLERR)) {
        if (rev[k] & POLLERR) {
          client_drop(i);
          continue;
        }
        client_readable(i);
      }
    }
    if (in_len > 0) flush_stdin();
  }
}

/* ---------- main ---------- */

static void usage(void) {
  fprintf(stderr,
          "usage: strata-monitor --id ID --bundle DIR --pid-file F --socket S [--runtime runc] [--root DIR]\n"
          "  [--log F] [--log-max-size BYTES] [--log-max-file N] [--state F] [--exit-file F] [--runc-log F] [--tty] [--stdin]\n"
          "  [--defer-start | --run | --gate FIFO] [--go FIFO] [--restart no|always|unless-stopped|on-failure[:N]] [--sync-fd N] [--foreground]\n"
          "       strata-monitor --gate-wait FIFO   (the createRuntime hook of a gated bundle)\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--gate-wait") == 0) return gate_wait(argv[2]);
  int foreground = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define ARG(name, field)                       \
  if (strcmp(a, name) == 0 && i + 1 < argc) { \
    opt.field = argv[++i];                    \
    continue;                                 \
  }
    ARG("--runtime", runtime)
    ARG("--root", root)
    ARG("--id", id)
    ARG("--bundle", bundle)
    ARG("--pid-file", pidfile)
    ARG("--log", log_path)
    ARG("--state", state_path)
    ARG("--exit-file", exit_path)
    ARG("--socket", sock_path)
    ARG("--runc-log", runc_log)
    ARG("--gate", gate)
    ARG("--go", go)
#undef ARG
    if (strcmp(a, "--tty") == 0) opt.tty = 1;
    else if (strcmp(a, "--stdin") == 0) opt.stdin_open = 1;
    else if (strcmp(a, "--defer-start") == 0) opt.defer_start = 1;
    else if (strcmp(a, "--run") == 0) opt.run = 1;
    else if (strcmp(a, "--foreground") == 0) foreground = 1;
    else if (strcmp(a, "--sync-fd") == 0 && i + 1 < argc) opt.sync_fd = atoi(argv[++i]);
    else if (strcmp(a, "--log-max-size") == 0 && i + 1 < argc) log_max_size = atoll(argv[++i]);
    else if (strcmp(a, "--log-max-file") == 0 && i + 1 < argc) log_max_file = atoi(argv[++i]);
    else if (strcmp(a, "--restart") == 0 && i + 1 < argc) {
      const char *p = argv[++i];
      if (strcmp(p, "no") == 0) opt.restart = R_NO;
      else if (strcmp(p, "always") == 0) opt.restart = R_ALWAYS;
      else if (strcmp(p, "unless-stopped") == 0) opt.restart = R_UNLESS_STOPPED;
      else if (strncmp(p, "on-failure", 10) == 0) {
        opt.restart = R_ON_FAILURE;
        if (p[10] == ':') opt.restart_max = atoi(p + 11);
      } else usage();
    } else usage();
  }
  if (!opt.id || !opt.bundle || !opt.pidfile || !opt.sock_path) usage();
  if (opt.gate) opt.run = 1;
  if (opt.run && opt.defer_start) usage();

  if (!foreground) {
    pid_t p = fork();
    if (p < 0) return 1;
    if (p > 0) _exit(0); /* the starter reaps this one at once; the daemon is orphaned */
    setsid();
  }
  umask(022);
  if (chdir("/") != 0) return 1;
  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (!foreground) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
  }
  /* nothing but the sync pipe may survive from the starter */
  for (int fd = 3; fd < 1024; fd++)
    if (fd != opt.sync_fd && fd != devnull) close(fd);
  if (opt.sync_fd >= 0) set_cloexec(opt.sync_fd);

  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_NAME, "strata-monitor");
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGQUIT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

  /* the attach/control socket */
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(opt.sock_path) >= sizeof sa.sun_path) {
    sync_report("err 125 socket path too long: %s", opt.sock_path);
    return 1;
  }
  strcpy(sa.sun_path, opt.sock_path);
  unlink(opt.sock_path);
  mode_t old = umask(077);
  int br = bind(listen_fd, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (br < 0 || listen(listen_fd, 16) < 0) {
    sync_report("err 125 attach socket %s: %s", opt.sock_path, strerror(errno));
    return 1;
  }

  if (opt.log_path) {
    log_fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) {
      sync_report("err 125 log file %s: %s", opt.log_path, strerror(errno));
      return 1;
    }
    struct stat lst;
    if (fstat(log_fd, &lst) == 0) log_size = (long long)lst.st_size;
  }

  /* --go: spawned before its bundle was written; the starter, which holds the fifo open for
   * writing from before the spawn, writes 'g' once it is. EOF (the starter gave up, or died):
   * nothing was made, nothing is recorded. */
  if (opt.go) {
    int gfd = open(opt.go, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    char c = 0;
    ssize_t n = -1;
    if (gfd >= 0) {
      fcntl(gfd, F_SETFL, fcntl(gfd, F_GETFL) & ~O_NONBLOCK);
      do n = read(gfd, &c, 1);
      while (n < 0 && errno == EINTR);
      close(gfd);
    }
    unlink(opt.go);
    if (n != 1 || c != 'g') {
      unlink(opt.sock_path);
      sync_report("err 125 the start was cancelled before the container was created");
      return 0;
    }
  }
  int code = opt.gate ? gate_make() : 0;
  if (code == 0) code = create_container(opt.gate != NULL);
  if (code != 0) {
    if (gate_fd >= 0) close_fd(&gate_fd), unlink(opt.gate);
    exit_code = code;
    now_str(finished_at, sizeof finished_at);
    write_state("exited");
    write_exit();
    sync_report("err %d %s", code, last_error);
    return 0;
  }
  if (state == ST_GATED) {
    write_state("created");
    sync_report("gated 0 %d", (int)getpid());
  } else if (opt.defer_start) {
    write_state("created");
    sync_report("created %d %d", (int)cpid, (int)getpid());
  } else if (opt.run) {
    sync_report("ok %d %d", (int)cpid, (int)getpid());
  } else {
    code = start_container();
    if (code != 0) {
      kill(cpid, SIGKILL);
      wait_pid(cpid);
      runc("delete", "-f", opt.id, NULL, NULL, NULL);
      exit_code = code;
      now_str(finished_at, sizeof finished_at);
      write_state("exited");
      write_exit();
      sync_report("err %d %s", code, last_error);
      return 0;
    }
    sync_report("ok %d %d", (int)cpid, (int)getpid());
  }
  event_loop();
  return 0;
}
