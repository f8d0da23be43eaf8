/*
 * strata-load.node: how dist/launch.cjs reads the CLI bundle and its code cache. Pages touched
 * for the first time cost ~10 us each in this kind of VM (a page fault), where filling them in
 * one mmap(MAP_POPULATE) costs ~0.6 us: Node's readFileSync of the 820 KB bundle took 6-7 ms,
 * half of it faults of the buffer and of the string copied from it.
 *
 *   latin1(path)  the file as a JS string (one byte per character) kept outside V8's heap: an
 *                 external string over a populated private copy of the file (a copy, so the
 *                 bundle may be replaced while it runs): [string, "size:mtimeNs:ino"]
 *   bytes(path)   the file as a Buffer over a populated private copy
 *
 *   quickExit(code)  _exit(code), the address space torn down after the process is gone (below)
 *
 * Built only where Node has external latin1 strings (Node-API, Node >= 20.4); without this
 * addon the launcher reads the files with fs.
 */
#define NAPI_EXPERIMENTAL
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <node_api.h>

static void unmap(node_api_basic_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)hint);
}

static bool throw_errno(napi_env env, int e, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_throw_error(env, NULL, msg);
  return false;
}

struct mapped {
  char *data;
  size_t len, maplen;
  struct stat st;
};

/* the file at the path in argv[0], read into fresh populated pages */
static bool read_populated(napi_env env, napi_callback_info info, struct mapped *m) {
  size_t argc = 1;
  napi_value arg;
  char path[4096];
  size_t n = 0;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, arg, path, sizeof path, &n) != napi_ok || n >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "a path");
    return false;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, path);
  if (fstat(fd, &m->st) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, path);
  }
  m->len = (size_t)m->st.st_size;
  m->maplen = m->len ? m->len : 1;
  m->data = mmap(NULL, m->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m->data == MAP_FAILED) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "mmap");
  }
  size_t off = 0;
  while (off < m->len) {
    ssize_t r = pread(fd, m->data + off, m->len - off, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = r < 0 ? errno : EIO;
      close(fd);
      munmap(m->data, m->maplen);
      return throw_errno(env, e, path);
    }
    off += (size_t)r;
  }
  close(fd);
  return true;
}

static napi_value js_latin1(napi_env env, napi_callback_info info) {
  struct mapped m;
  if (!read_populated(env, info, &m)) return NULL;
  napi_value str, stamp, out;
  bool copied = false;
  if (node_api_create_external_string_latin1(env, m.data, m.len, unmap, (void *)m.maplen, &str, &copied) != napi_ok) {
    munmap(m.data, m.maplen);
    napi_throw_error(env, NULL, "external string");
    return NULL;
  }
  if (copied) munmap(m.data, m.maplen); /* (V8 made its own copy: a short string) */
  char buf[96];
  unsigned long long ns = (unsigned long long)m.st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)m.st.st_mtim.tv_nsec;
  snprintf(buf, sizeof buf, "%llu:%llu:%llu", (unsigned long long)m.st.st_size, ns, (unsigned long long)m.st.st_ino);
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &stamp);
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, str);
  napi_set_element(env, out, 1, stamp);
  return out;
}

static napi_value js_bytes(napi_env env, napi_callback_info info) {
  struct mapped m;
  if (!read_populated(env, info, &m)) return NULL;
  napi_value out;
  if (napi_create_external_buffer(env, m.len, m.data, unmap, (void *)m.maplen, &out) != napi_ok) {
    munmap(m.data, m.maplen);
    napi_throw_error(env, NULL, "external buffer");
    return NULL;
  }
  return out;
}

/*
 * A process's exit tears its address space down before its parent can see it has exited: ~4 ms
 * for a Node command here, ~10 ms with a larger heap. quickExit hands that to a holder, a child
 * sharing the address space (CLONE_VM) and nothing else: it closes every descriptor it got a
 * copy of but the read end of a pipe, and waits on it. The process _exits; when its last thread
 * is gone its descriptors close, the pipe's write end with them, and the holder ends, the last
 * user of the address space, so the teardown is its (the exit's waiters have been told by
 * then). Without a holder (clone failed) it is a plain _exit.
 */
static int holder_pipe[2];

static int holder(void *arg) {
  (void)arg;
  int keep = holder_pipe[0];
  if (keep > 0) syscall(SYS_close_range, 0, keep - 1, 0);
  syscall(SYS_close_range, keep + 1, ~0U, 0);
  char c;
  while (syscall(SYS_read, keep, &c, 1) < 0 && errno == EINTR) {}
  syscall(SYS_exit, 0);
  return 0;
}

static napi_value js_quick_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc > 0) napi_get_value_int32(env, argv[0], &code);
  /* no signal handler of this process's runs in the holder: every signal blocked, the holder
   * inheriting the mask (this thread is about to end anyway) */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  if (pipe2(holder_pipe, O_CLOEXEC) == 0) {
    size_t size = 64 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack != MAP_FAILED && clone(holder, stack + size, CLONE_VM | CLONE_UNTRACED | SIGCHLD, NULL) > 0) close(holder_pipe[0]);
  }
  _exit(code & 0xff);
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "latin1", NAPI_AUTO_LENGTH, js_latin1, NULL, &f);
  napi_set_named_property(env, exports, "latin1", f);
  napi_create_function(env, "bytes", NAPI_AUTO_LENGTH, js_bytes, NULL, &f);
  napi_set_named_property(env, exports, "bytes", f);
  napi_create_function(env, "quickExit", NAPI_AUTO_LENGTH, js_quick_exit, NULL, &f);
  napi_set_named_property(env, exports, "quickExit", f);
  return exports;
}
