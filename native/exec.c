/*
 * strata-exec: run one more process in a running container, the way `runc exec` does, in
 * one short C process instead of two Go ones.
 *
 *   strata-exec CONF            run the process CONF describes; exit with its status
 *   strata-exec --print-filter CONF  print the seccomp program CONF compiles to (hex, one
 *                                    instruction per line), for the tests
 *   strata-exec --filter-of PID      print the seccomp program installed in PID, the same way
 *
 * CONF is a file of NUL-terminated key, value pairs written by src/runtime/exec-native.ts:
 * the container's init (pid and start time, to refuse a recycled pid), the namespaces and
 * cgroups to join, the user, groups, capabilities, rlimits, no_new_privs, the seccomp
 * rules of the container's OCI spec, the working directory, environment and argv.
 *
 * The steps and their order follow runc's exec (nsexec + setns_init): join the cgroups,
 * set oom_score_adj and the AppArmor profile, join the namespaces (pid before the fork, so
 * the child is born in the container's pid namespace), join the container's session
 * keyring, set rlimits, load the filter before dropping privileges when no_new_privs is
 * off, drop the bounding set, switch user keeping capabilities, set the capability sets,
 * chdir, set no_new_privs, load the filter, execve. The child is non-dumpable until
 * execve, so a process of the container cannot open its /proc entries (and through
 * /proc/PID/exe this binary) while it still runs our code.
 *
 * The parent stays outside the container: it forwards signals, writes the child's pid to
 * the pid file once execve succeeded, and exits with the child's status (128+N for a
 * signal). A failure before execve is written to the log file as runc writes it
 * ({"level":"error","msg":...}) and the exit status is 255.
 *
 * The CLI's foreground exec replaces itself with strata-exec (execve, keys `direct 1` and
 * `exitfile`): then strata-exec removes CONF once read, prints a failure on stderr as the
 * CLI prints it (`Error: OCI runtime exec failed: ...: unknown`, status 127 for a missing
 * file and 126 otherwise; `Error: Container ID is not running`, status 1) and writes the
 * status it exits with to the exit file, where the exec's record finds it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* libseccomp 2.5 (libseccomp.so.2, which runc itself needs), declared here so that only the
 * runtime library has to be installed */
typedef void *scmp_filter_ctx;
struct scmp_arg_cmp {
  unsigned int arg;
  int op;
  uint64_t datum_a;
  uint64_t datum_b;
};
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
                           const struct scmp_arg_cmp *arg_array);
int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
#define SCMP_FLTATR_CTL_NNP 3
#define NR_SCMP_ERROR (-1)
#define SCMP_ARCH_X86_64 0xc000003eu
#define SCMP_ARCH_X32 0x4000003eu
#define X32_SYSCALL_BIT 0x40000000u
#define SCMP_ACT_ALLOW 0x7fff0000u
#define SCMP_ACT_LOG 0x7ffc0000u
#define RET_ENOSYS (0x00050000u | ENOSYS)

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

#define PREFIX "exec failed: unable to start container process: "

static const char *log_file;
static pid_t child_pid;
/* the CLI's exec (conf key `direct`): this process took the CLI's place (execve), so it
 * reports as the CLI would and records the status itself */
static int direct;
static const char *exit_file;
static const char *container_id;

/* ---- messages ---- */

/* Go prints errno strings in lower case ("no such file or directory") */
static const char *errstr(int e) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

/* one line of runc's JSON log: {"level":"error","msg":"..."} */
static void write_log(const char *msg) {
  if (!log_file) {
    fprintf(stderr, "%s\n", msg);
    return;
  }
  int fd = open(log_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  size_t n = strlen(msg);
  char *out = malloc(n * 6 + 64);
  if (!out) { close(fd); return; }
  char *p = out + sprintf(out, "{\"level\":\"error\",\"msg\":\"");
  for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
    if (*s == '"' || *s == '\\') { *p++ = '\\'; *p++ = (char)*s; }
    else if (*s < 0x20) p += sprintf(p, "\\u%04x", *s);
    else *p++ = (char)*s;
  }
  p += sprintf(p, "\"}\n");
  if (write(fd, out, (size_t)(p - out)) < 0) { /* nothing more to do */ }
  free(out);
  close(fd);
}

/* the exit status in `exitfile` (temp file, rename), for the exec's record */
static void record_status(int status) {
  if (!exit_file) return;
  char tmp[4096], num[32];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", exit_file) >= (int)sizeof tmp) return;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  int n = snprintf(num, sizeof num, "%d\n", status);
  if (write(fd, num, (size_t)n) == n && close(fd) == 0) rename(tmp, exit_file);
  else { close(fd); unlink(tmp); }
}

/* the CLI's exit status for a process that could not start (Docker's: 127 not found, 126 else):
 * runtime/runc.ts startErrorExitCode's rule, with the CLI's 125 -> 126 */
static int start_error_status(const char *msg) {
  if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory")) return 127;
  return 126;
}

static void fail(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (direct) {
    int status = start_error_status(msg);
    fprintf(stderr, "Error: OCI runtime exec failed: %s: unknown\n", msg);
    record_status(status);
    exit(status);
  }
  write_log(msg);
  exit(255);
}

/* the container's init is gone: what the CLI says of a container that is not running */
static void fail_not_running(pid_t pid) {
  if (direct) {
    fprintf(stderr, "Error: Container %s is not running\n", container_id ? container_id : "");
    record_status(1);
    exit(1);
  }
  fail("container is not running: its init process (pid %d) has exited", (int)pid);
}

/* in the child: the message goes to the parent through the error pipe */
static int err_fd = -1;
static void child_fail(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  if (write(err_fd, msg, (size_t)n) < 0) { /* the parent reports a bare failure */ }
  _exit(1);
}

/* ---- the configuration ---- */

struct rule {
  uint32_t action;
  char *names; /* nnames names, each ending in a NUL */
  int nnames;
  struct scmp_arg_cmp args[6];
  unsigned nargs;
};

struct conf {
  const char *id;
  pid_t pid;
  const char *start;
  const char *ns[8];
  int nns;
  const char **cgroups;
  int ncgroups;
  const char *oom;
  const char *apparmor;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  int ngroups;
  uint64_t bnd, eff, prm, inh, amb;
  int nnp;
  int rl_res[32];
  struct rlimit rl[32];
  int nrl;
  const char *cwd;
  char **env;
  int nenv;
  char **argv;
  int nargv;
  const char *pidfile;
  /* seccomp */
  int seccomp;
  const char *sc_file; /* the compiled program, kept by the first exec after a start */
  int sc_rules;        /* the rules came too (the file was not there) */
  uint32_t sc_default;
  const char *sc_arch[8];
  int narch;
  unsigned sc_flags;
  struct rule *rules;
  int nrules;
};

static uint64_t hex64(const char *s) { return strtoull(s, NULL, 16); }

static void parse(struct conf *c, char *buf, size_t len) {
  size_t pairs = 0;
  for (size_t i = 0; i < len; i++) if (buf[i] == 0) pairs++;
  pairs = pairs / 2 + 1;
  c->cgroups = calloc(pairs, sizeof *c->cgroups);
  c->groups = calloc(pairs, sizeof *c->groups);
  c->env = calloc(pairs + 2, sizeof *c->env); /* room for HOME */
  c->argv = calloc(pairs + 1, sizeof *c->argv);
  c->rules = calloc(pairs, sizeof *c->rules);
  if (!c->cgroups || !c->groups || !c->env || !c->argv || !c->rules) fail("strata-exec: out of memory");
  size_t i = 0;
  while (i < len) {
    char *k = buf + i;
    size_t kl = strnlen(k, len - i);
    if (i + kl + 1 >= len) break;
    char *v = k + kl + 1;
    size_t vl = strnlen(v, len - (size_t)(v - buf));
    i = (size_t)(v - buf) + vl + 1;
    if (!strcmp(k, "id")) c->id = v;
    else if (!strcmp(k, "pid")) c->pid = (pid_t)atoi(v);
    else if (!strcmp(k, "start")) c->start = v;
    else if (!strcmp(k, "ns")) { if (c->nns < 8) c->ns[c->nns++] = v; }
    else if (!strcmp(k, "cgroup")) c->cgroups[c->ncgroups++] = v;
    else if (!strcmp(k, "oom")) c->oom = v;
    else if (!strcmp(k, "apparmor")) c->apparmor = v;
    else if (!strcmp(k, "uid")) c->uid = (uid_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "gid")) c->gid = (gid_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "group")) c->groups[c->ngroups++] = (gid_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "bnd")) c->bnd = hex64(v);
    else if (!strcmp(k, "eff")) c->eff = hex64(v);
    else if (!strcmp(k, "prm")) c->prm = hex64(v);
    else if (!strcmp(k, "inh")) c->inh = hex64(v);
    else if (!strcmp(k, "amb")) c->amb = hex64(v);
    else if (!strcmp(k, "nnp")) c->nnp = atoi(v);
    else if (!strcmp(k, "rlimit")) {
      if (c->nrl < 32) {
        unsigned long long soft, hard;
        int res;
        if (sscanf(v, "%d %llu %llu", &res, &soft, &hard) == 3) {
          c->rl_res[c->nrl] = res;
          c->rl[c->nrl].rlim_cur = (rlim_t)soft;
          c->rl[c->nrl].rlim_max = (rlim_t)hard;
          c->nrl++;
        }
      }
    }
    else if (!strcmp(k, "cwd")) c->cwd = v;
    else if (!strcmp(k, "env")) c->env[c->nenv++] = v;
    else if (!strcmp(k, "arg")) c->argv[c->nargv++] = v;
    else if (!strcmp(k, "log")) log_file = v;
    else if (!strcmp(k, "direct")) direct = !strcmp(v, "1");
    else if (!strcmp(k, "exitfile")) exit_file = v;
    else if (!strcmp(k, "pidfile")) c->pidfile = v;
    else if (!strcmp(k, "sc_default")) { c->seccomp = c->sc_rules = 1; c->sc_default = (uint32_t)strtoul(v, NULL, 16); }
    else if (!strcmp(k, "sc_file")) { c->seccomp = 1; c->sc_file = v; }
    else if (!strcmp(k, "sc_arch")) { if (c->narch < 8) c->sc_arch[c->narch++] = v; }
    else if (!strcmp(k, "sc_flags")) c->sc_flags = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(k, "sc_rule")) {
      struct rule *r = &c->rules[c->nrules++];
      char *sp = strchr(v, ' ');
      r->action = (uint32_t)strtoul(v, NULL, 16);
      r->names = sp ? sp + 1 : v + strlen(v);
      if (*r->names) r->nnames = 1;
      for (char *q = r->names; *q; q++)
        if (*q == ' ') { *q = 0; r->nnames++; }
    } else if (!strcmp(k, "sc_arg")) {
      if (c->nrules == 0) fail("strata-exec: sc_arg before sc_rule");
      struct rule *r = &c->rules[c->nrules - 1];
      if (r->nargs >= 6) fail("strata-exec: more than 6 conditions in one seccomp rule");
      struct scmp_arg_cmp *a = &r->args[r->nargs++];
      unsigned long long va, vb;
      if (sscanf(v, "%u %d %llu %llu", &a->arg, &a->op, &va, &vb) != 4) fail("strata-exec: bad sc_arg %s", v);
      a->datum_a = va;
      a->datum_b = vb;
    }
  }
  c->env[c->nenv] = NULL;
  c->argv[c->nargv] = NULL;
}

/* ---- seccomp ---- */

static struct sock_fprog filter;

/*
 * runc's ENOSYS stub, put in front of libseccomp's program: a syscall numbered above every
 * syscall the rules name (for its architecture) fails with ENOSYS instead of the default
 * action, so that a C library newer than the profile falls back to an older call (EPERM
 * would not make it fall back). Laid out as runc 1.1 lays it out, so that the whole
 * program is the one runc installs: load the architecture; one jump per native
 * architecture, in ascending order; a jump into the filter for any other; per
 * architecture, load the number and compare (x86_64 and x32 share one section, told apart
 * by the x32 bit); then a jump into the filter and the ENOSYS return.
 */
struct native_arch {
  uint32_t token;
  int64_t main_max; /* -1: not in the profile */
  int64_t x32_max;
};

static int64_t max_syscall(struct conf *c, uint32_t arch) {
  int64_t max = -1;
  for (int i = 0; i < c->nrules; i++) {
    const char *name = c->rules[i].names;
    for (int k = 0; k < c->rules[i].nnames; k++, name += strlen(name) + 1) {
      int nr = seccomp_syscall_resolve_name_arch(arch, name);
      if (nr >= 0 && nr > max) max = nr;
    }
  }
  return max;
}

static struct sock_filter *enosys_stub(struct conf *c, unsigned *len) {
  struct native_arch na[8];
  int nna = 0;
  if (c->sc_default == SCMP_ACT_ALLOW || c->sc_default == SCMP_ACT_LOG || c->sc_default == RET_ENOSYS) { *len = 0; return NULL; }
  for (int i = 0; i < c->narch; i++) {
    uint32_t t = seccomp_arch_resolve_name(c->sc_arch[i]);
    uint32_t native = t == SCMP_ARCH_X32 ? SCMP_ARCH_X86_64 : t;
    int k = 0;
    while (k < nna && na[k].token != native) k++;
    if (k == nna) { na[nna].token = native; na[nna].main_max = -1; na[nna].x32_max = -1; nna++; }
    int64_t m = max_syscall(c, t);
    if (t == SCMP_ARCH_X32) na[k].x32_max = m;
    else na[k].main_max = m;
  }
  for (int i = 0; i < nna; i++)
    for (int j = i + 1; j < nna; j++)
      if (na[j].token < na[i].token) { struct native_arch t = na[i]; na[i] = na[j]; na[j] = t; }
  int keep = 0;
  for (int i = 0; i < nna; i++) {
    if (na[i].main_max < 0 && na[i].x32_max < 0) continue;
    if (na[i].main_max < 0) fail(PREFIX "seccomp: x32 without x86_64 is not supported here");
    na[keep++] = na[i];
  }
  nna = keep;
  if (nna == 0) { *len = 0; return NULL; }
  /* section sizes, then the whole stub */
  unsigned sec[8], total = 1 + (unsigned)nna + 1, start[8];
  for (int i = 0; i < nna; i++) {
    sec[i] = na[i].x32_max >= 0 ? 5 : 3;
    start[i] = total;
    total += sec[i];
  }
  unsigned ret = total + 1, end = total + 2;
  struct sock_filter *p = calloc(end, sizeof *p);
  if (!p) fail("strata-exec: out of memory");
  unsigned n = 0;
  p[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4);
  for (int i = 0; i < nna; i++) {
    p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, na[i].token, (unsigned char)(start[i] - n - 1), 0);
    n++;
  }
  p[n] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, end - n - 1);
  n++;
  for (int i = 0; i < nna; i++) {
    p[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
    if (na[i].x32_max >= 0) {
      p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 1, 0);
      n++;
      p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)na[i].main_max, (unsigned char)(ret - n - 1), 1);
      n++;
      p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)na[i].x32_max, (unsigned char)(ret - n - 1), 0);
      n++;
    } else {
      p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)na[i].main_max, (unsigned char)(ret - n - 1), 0);
      n++;
    }
    p[n] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, end - n - 1);
    n++;
  }
  p[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 1);
  p[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ENOSYS);
  *len = n;
  return p;
}

/* the rules as runc compiles them with libseccomp: unknown names are skipped; a rule with two
 * conditions on one argument becomes one rule per condition (libseccomp ANDs a rule's
 * conditions, and cannot AND two on the same argument) */
static void compile_seccomp(struct conf *c) {
  scmp_filter_ctx ctx = seccomp_init(c->sc_default);
  if (!ctx) fail(PREFIX "error creating seccomp filter");
  for (int i = 0; i < c->narch; i++) {
    uint32_t a = seccomp_arch_resolve_name(c->sc_arch[i]);
    if (!a) fail(PREFIX "unknown seccomp architecture %s", c->sc_arch[i]);
    int r = seccomp_arch_add(ctx, a);
    if (r < 0 && r != -EEXIST) fail(PREFIX "error adding architecture %s to seccomp filter: %s", c->sc_arch[i], errstr(-r));
  }
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) fail(PREFIX "error setting no_new_privs attribute of seccomp filter");
  for (int i = 0; i < c->nrules; i++) {
    struct rule *r = &c->rules[i];
    int same_arg = 0;
    for (unsigned x = 0; x < r->nargs; x++)
      for (unsigned y = x + 1; y < r->nargs; y++)
        if (r->args[x].arg == r->args[y].arg) same_arg = 1;
    const char *name = r->names;
    for (int k = 0; k < r->nnames; k++, name += strlen(name) + 1) {
      int nr = seccomp_syscall_resolve_name(name);
      if (nr == NR_SCMP_ERROR) continue;
      int rc = 0;
      if (!same_arg) rc = seccomp_rule_add_array(ctx, r->action, nr, r->nargs, r->nargs ? r->args : NULL);
      else
        for (unsigned x = 0; x < r->nargs && rc >= 0; x++) rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &r->args[x]);
      if (rc < 0) fail(PREFIX "error adding seccomp filter rule for syscall %s: %s", name, errstr(-rc));
    }
  }
  int fd = memfd_create("strata-seccomp", MFD_CLOEXEC);
  if (fd < 0) fail(PREFIX "memfd_create: %s", errstr(errno));
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) fail(PREFIX "error exporting seccomp filter: %s", errstr(-rc));
  seccomp_release(ctx);
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % (off_t)sizeof(struct sock_filter)) fail(PREFIX "bad seccomp program (%lld bytes)", (long long)size);
  unsigned stub_len = 0;
  struct sock_filter *stub = enosys_stub(c, &stub_len);
  size_t n = (size_t)size / sizeof(struct sock_filter);
  if (stub_len + n > BPF_MAXINSNS) fail(PREFIX "seccomp program too long (%zu instructions)", stub_len + n);
  struct sock_filter *prog = malloc((stub_len + n) * sizeof *prog);
  if (!prog || pread(fd, prog + stub_len, (size_t)size, 0) != size) fail(PREFIX "reading seccomp program: %s", errstr(errno));
  close(fd);
  if (stub_len) memcpy(prog, stub, stub_len * sizeof *prog);
  free(stub);
  filter.len = (unsigned short)(stub_len + n);
  filter.filter = prog;
}

/* the program an earlier exec compiled from the same config.json (the file is named after
 * it, and only ever renamed into place whole); 0 when there is none */
static int read_compiled(const char *file) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) ||
      st.st_size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter))) {
    close(fd);
    return 0;
  }
  struct sock_filter *prog = malloc((size_t)st.st_size);
  if (!prog || pread(fd, prog, (size_t)st.st_size, 0) != st.st_size) {
    free(prog);
    close(fd);
    return 0;
  }
  close(fd);
  filter.len = (unsigned short)((size_t)st.st_size / sizeof(struct sock_filter));
  filter.filter = prog;
  return 1;
}

/* keep the compiled program for the next exec: written whole, then renamed into place */
static void save_compiled(const char *file) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", file, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return;
  size_t size = filter.len * sizeof(struct sock_filter);
  int ok = write(fd, filter.filter, size) == (ssize_t)size && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, file) < 0) unlink(tmp);
}

static void load_seccomp(struct conf *c) {
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, c->sc_flags, &filter) < 0)
    child_fail(PREFIX "error loading seccomp filter into kernel: %s", errstr(errno));
}

/* --filter-of PID: the filter installed in PID, through ptrace (the tracee stops briefly) */
static void print_filter(const struct sock_filter *f, long n) {
  for (long i = 0; i < n; i++) printf("%04x %02x %02x %08x\n", f[i].code, f[i].jt, f[i].jf, f[i].k);
}

static int filter_of(pid_t pid) {
  if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0) { perror("ptrace attach"); return 1; }
  int st;
  if (waitpid(pid, &st, __WALL) < 0) { perror("waitpid"); return 1; }
  long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL);
  int rc = 0;
  if (n < 0) {
    perror("PTRACE_SECCOMP_GET_FILTER");
    rc = 1;
  } else {
    struct sock_filter *f = calloc((size_t)n, sizeof *f);
    if (!f || ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, f) != n) { perror("PTRACE_SECCOMP_GET_FILTER"); rc = 1; }
    else print_filter(f, n);
    free(f);
  }
  ptrace(PTRACE_DETACH, pid, 0, 0);
  return rc;
}

/* ---- the child ---- */

static void write_file(const char *file, const char *text, const char *what) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) child_fail(PREFIX "%s: open %s: %s", what, file, errstr(errno));
  ssize_t n = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  if (n < 0) child_fail(PREFIX "%s: write %s: %s", what, file, errstr(e));
}

static int apparmor_enabled(void) {
  int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char b[2] = {0};
  ssize_t n = read(fd, b, 1);
  close(fd);
  return n == 1 && b[0] == 'Y';
}

static void set_caps(struct conf *c) {
  struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct d[2];
  d[0].effective = (uint32_t)c->eff;
  d[1].effective = (uint32_t)(c->eff >> 32);
  d[0].permitted = (uint32_t)c->prm;
  d[1].permitted = (uint32_t)(c->prm >> 32);
  d[0].inheritable = (uint32_t)c->inh;
  d[1].inheritable = (uint32_t)(c->inh >> 32);
  if (syscall(SYS_capset, &h, d) < 0) child_fail(PREFIX "unable to apply caps: %s", errstr(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    child_fail(PREFIX "unable to clear ambient caps: %s", errstr(errno));
  for (int cap = 0; cap < 64; cap++)
    if ((c->amb >> cap) & 1)
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
        child_fail(PREFIX "unable to raise ambient cap %d: %s", cap, errstr(errno));
}

static const char *env_get(struct conf *c, const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < c->nenv; i++)
    if (!strncmp(c->env[i], name, n) && c->env[i][n] == '=') return c->env[i] + n + 1;
  return NULL;
}

/* Go's exec.LookPath with the container's PATH: the first regular file with an x bit; a
 * name with a slash is that file, if it is one (runc's messages, word for word) */
static const char *look_path(struct conf *c, const char *file) {
  if (strchr(file, '/')) {
    struct stat st;
    if (stat(file, &st) < 0) child_fail(PREFIX "exec: \"%s\": stat %s: %s", file, file, errstr(errno));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) child_fail(PREFIX "exec: \"%s\": permission denied", file);
    return file;
  }
  const char *p = env_get(c, "PATH");
  if (!p) p = "";
  static char cand[8192];
  while (1) {
    const char *e = strchr(p, ':');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    snprintf(cand, sizeof cand, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", file);
    struct stat st;
    if (stat(cand, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) return cand;
    if (!e) break;
    p = e + 1;
  }
  child_fail(PREFIX "exec: \"%s\": executable file not found in $PATH", file);
  return NULL;
}

/* runc: with no HOME (or an empty one) in the environment, the user's home directory from the
 * container's /etc/passwd, or "/" */
static void set_home(struct conf *c) {
  int at = -1;
  for (int i = 0; i < c->nenv; i++)
    if (!strncmp(c->env[i], "HOME=", 5)) {
      if (c->env[i][5]) return;
      at = i;
    }
  static char home[4200];
  snprintf(home, sizeof home, "HOME=/");
  FILE *f = fopen("/etc/passwd", "re");
  if (f) {
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      char *field[7] = {0}, *p = line;
      line[strcspn(line, "\n")] = 0;
      int n = 0;
      for (char *t = strsep(&p, ":"); t && n < 7; t = strsep(&p, ":")) field[n++] = t;
      if (n < 6 || !field[2][0]) continue;
      char *end;
      unsigned long uid = strtoul(field[2], &end, 10);
      if (*end || uid != c->uid) continue;
      if (field[5][0]) snprintf(home, sizeof home, "HOME=%s", field[5]);
      break;
    }
    fclose(f);
  }
  if (at >= 0) c->env[at] = home;
  else {
    c->env[c->nenv++] = home;
    c->env[c->nenv] = NULL;
  }
}

static const char *const NS_NAMES[] = { "ipc", "uts", "net", "cgroup", "mnt" };

static void run_child(struct conf *c, int nsfd[], const int nsorder[], int nns) {
  /* nothing of the container may look into this process until execve replaces it */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) child_fail(PREFIX "prctl(PR_SET_DUMPABLE): %s", errstr(errno));
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);

  for (int i = 0; i < c->ncgroups; i++) write_file(c->cgroups[i], "0", "failed to join the container's cgroup");
  if (c->oom) write_file("/proc/self/oom_score_adj", c->oom, "failed to set oom_score_adj");
  if (c->apparmor && *c->apparmor && apparmor_enabled()) {
    char attr[1024];
    snprintf(attr, sizeof attr, "exec %s", c->apparmor);
    const char *file = access("/proc/self/attr/apparmor/exec", F_OK) == 0 ? "/proc/self/attr/apparmor/exec" : "/proc/self/attr/exec";
    write_file(file, attr, "failed to apply AppArmor profile");
  }
  for (int i = 0; i < nns; i++)
    if (setns(nsfd[i], 0) < 0) child_fail(PREFIX "failed to join the %s namespace: %s", NS_NAMES[nsorder[i]], errstr(errno));
  set_home(c);
  /* everything needed from the host is open or done; keep only stdio and the error pipe */
  if (err_fd > 3) syscall(SYS_close_range, 3, err_fd - 1, 0);
  syscall(SYS_close_range, err_fd + 1, ~0U, 0);

  if (c->id) {
    char ring[300];
    snprintf(ring, sizeof ring, "_ses.%s", c->id);
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, ring) < 0 && errno != ENOSYS)
      child_fail(PREFIX "unable to join session keyring: %s", errstr(errno));
  }
  for (int i = 0; i < c->nrl; i++)
    if (setrlimit(c->rl_res[i], &c->rl[i]) < 0) child_fail(PREFIX "error setting rlimit type %d: %s", c->rl_res[i], errstr(errno));
  umask(022);
  if (c->seccomp && !c->nnp) load_seccomp(c);

  int chdir_later = 0;
  if (c->cwd && *c->cwd && chdir(c->cwd) < 0) {
    if (errno != EACCES) child_fail(PREFIX "chdir to cwd (\"%s\") set in config.json failed: %s", c->cwd, errstr(errno));
    chdir_later = 1;
  }
  int last = 40;
  {
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char b[16] = {0};
      if (read(fd, b, sizeof b - 1) > 0) last = atoi(b);
      close(fd);
    }
  }
  for (int cap = 0; cap <= last && cap < 64; cap++)
    if (!((c->bnd >> cap) & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      child_fail(PREFIX "unable to drop capability %d from the bounding set: %s", cap, errstr(errno));
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail(PREFIX "prctl(PR_SET_KEEPCAPS): %s", errstr(errno));
  if (setgroups((size_t)c->ngroups, c->groups) < 0) child_fail(PREFIX "setgroups: %s", errstr(errno));
  if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0) child_fail(PREFIX "setgid: %s", errstr(errno));
  if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0) child_fail(PREFIX "setuid: %s", errstr(errno));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) child_fail(PREFIX "prctl(PR_SET_KEEPCAPS): %s", errstr(errno));
  /* setuid resets dumpable to the suid_dumpable default: keep it off until execve */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (chdir_later && chdir(c->cwd) < 0)
    child_fail(PREFIX "chdir to cwd (\"%s\") set in config.json failed: %s", c->cwd, errstr(errno));
  set_caps(c);
  if (c->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(PREFIX "prctl(PR_SET_NO_NEW_PRIVS): %s", errstr(errno));
  const char *exe = look_path(c, c->argv[0]);
  if (c->seccomp && c->nnp) load_seccomp(c);
  execve(exe, c->argv, c->env);
  child_fail(PREFIX "exec %s: %s", exe, errstr(errno));
}

/* ---- the parent ---- */

static void forward(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

static char *read_all(const char *file, size_t *len) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0) { close(fd); return NULL; }
  char *buf = malloc((size_t)st.st_size + 2);
  if (!buf) { close(fd); return NULL; }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = 0;
  buf[got + 1] = 0;
  *len = got;
  return buf;
}

/* field 22 of /proc/PID/stat: the start time runc records as init_process_start */
static int start_time_is(pid_t pid, const char *want) {
  char file[64], buf[1024];
  snprintf(file, sizeof file, "/proc/%d/stat", (int)pid);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  /* after "pid (comm)": field 3 is state; the start time is field 22 */
  int field = 2;
  for (; *p && field < 22; p++)
    if (*p == ' ') field++;
  size_t wl = strlen(want);
  return strncmp(p, want, wl) == 0 && (p[wl] == ' ' || p[wl] == 0);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--filter-of")) return filter_of((pid_t)atoi(argv[2]));
  int print_only = argc == 3 && !strcmp(argv[1], "--print-filter");
  if (argc != 2 && !print_only) {
    fprintf(stderr, "usage: strata-exec CONF | --print-filter CONF | --filter-of PID\n");
    return 2;
  }
  const char *conf_file = argv[argc - 1];
  size_t len = 0;
  char *buf = read_all(conf_file, &len);
  if (!buf) fail("strata-exec: cannot read %s: %s", conf_file, errstr(errno));
  struct conf c;
  memset(&c, 0, sizeof c);
  parse(&c, buf, len);
  container_id = c.id;
  /* in the CLI's place nobody else removes the configuration */
  if (direct && !print_only) unlink(conf_file);
  if (!print_only && (c.pid <= 0 || !c.start || c.nargv == 0)) fail("strata-exec: incomplete configuration in %s", conf_file);
  /* libseccomp takes ~12 ms over Docker's profile: once per start of the container */
  if (c.seccomp && !(c.sc_file && !print_only && read_compiled(c.sc_file))) {
    if (!c.sc_rules) fail(PREFIX "the compiled seccomp program %s is gone", c.sc_file);
    compile_seccomp(&c);
    if (c.sc_file && !print_only) save_compiled(c.sc_file);
  }
  if (print_only) {
    if (c.seccomp) print_filter(filter.filter, filter.len);
    return 0;
  }

  /* the namespaces, opened before any is joined, and checked to belong to the container's init */
  int nsfd[5], nsorder[5], nns = 0, pidns = -1;
  for (int i = 0; i < c.nns; i++) {
    char file[64];
    snprintf(file, sizeof file, "/proc/%d/ns/%s", (int)c.pid, c.ns[i]);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(PREFIX "open %s: %s", file, errstr(errno));
    if (!strcmp(c.ns[i], "pid")) { pidns = fd; continue; }
    int k = -1;
    for (int j = 0; j < 5; j++)
      if (!strcmp(c.ns[i], NS_NAMES[j])) k = j;
    if (k < 0) fail("strata-exec: unsupported namespace %s", c.ns[i]);
    nsfd[nns] = fd;
    nsorder[nns++] = k;
  }
  /* join in runc's order, the mount namespace last */
  for (int i = 0; i < nns; i++)
    for (int j = i + 1; j < nns; j++)
      if (nsorder[j] < nsorder[i]) {
        int t = nsorder[i]; nsorder[i] = nsorder[j]; nsorder[j] = t;
        t = nsfd[i]; nsfd[i] = nsfd[j]; nsfd[j] = t;
      }
  if (!start_time_is(c.pid, c.start)) fail_not_running(c.pid);
  if (pidns >= 0 && setns(pidns, CLONE_NEWPID) < 0) fail(PREFIX "failed to join the pid namespace: %s", errstr(errno));

  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) fail(PREFIX "pipe: %s", errstr(errno));
  /* signals that arrive before the child exists are held, then forwarded */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  child_pid = fork();
  if (child_pid < 0) fail(PREFIX "fork: %s", errstr(errno));
  if (child_pid == 0) {
    close(pfd[0]);
    err_fd = pfd[1];
    run_child(&c, nsfd, nsorder, nns);
  }
  close(pfd[1]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGCHLD && s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);

  char msg[4096];
  size_t got = 0;
  while (got < sizeof msg - 1) {
    ssize_t n = read(pfd[0], msg + got, sizeof msg - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  msg[got] = 0;
  close(pfd[0]);
  int st = 0;
  if (got) {
    while (waitpid(child_pid, &st, 0) < 0 && errno == EINTR) {}
    fail("%s", msg);
  }
  if (c.pidfile) {
    char tmp[4096], num[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", c.pidfile);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      int n = snprintf(num, sizeof num, "%d", (int)child_pid);
      if (write(fd, num, (size_t)n) == n && close(fd) == 0) rename(tmp, c.pidfile);
      else { close(fd); unlink(tmp); }
    }
  }
  while (waitpid(child_pid, &st, 0) < 0) {
    if (errno != EINTR) fail(PREFIX "waitpid: %s", errstr(errno));
  }
  int status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
  record_status(status);
  return status;
}
