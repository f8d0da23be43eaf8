/*
 * What packing a directory needs, in few calls (part of strata-sys.node, included by sys.c).
 *
 * lstatdirx(path): each entry's stat fields and xattrs.
 *
 *   [names, fields, xattrs]
 *   names   one Buffer, each entry's name (not . and ..) followed by a NUL byte, in readdir order
 *   fields  Float64Array, SCAN_FIELDS per entry: mode, uid, gid, size, mtime s, mtime ns, ino,
 *           dev, nlink, rdev major, rdev minor (fstatat(2), not following symlinks)
 *   xattrs  an Array with one element per entry: undefined, or [[name, Buffer value], ...] in
 *           llistxattr(2) order; a filesystem without xattrs gives none
 *
 * An entry gone between readdir and fstatat is left out. Packing 100,000 small files, this
 * replaces two lstat and one llistxattr calls from JS per entry (~14 us here) with ~5 us of C.
 */
#include <sys/xattr.h>

#define SCAN_FIELDS 11

struct xattr_list { char *names; ssize_t nlen; char **values; ssize_t *vlens; int count; };

static void free_xattrs(struct xattr_list *x) {
  if (!x) return;
  for (int i = 0; i < x->count; i++) free(x->values[i]);
  free(x->values);
  free(x->vlens);
  free(x->names);
}

/* the xattrs of one path (not followed): 0 with x->count 0 when none, else an errno */
static int read_xattrs(const char *p, struct xattr_list *x) {
  memset(x, 0, sizeof *x);
  for (int tries = 0; tries < 5; tries++) {
    ssize_t n = llistxattr(p, NULL, 0);
    if (n < 0) return (errno == ENOTSUP || errno == ENODATA) ? 0 : errno;
    if (n == 0) return 0;
    char *names = malloc((size_t)n);
    if (!names) return ENOMEM;
    ssize_t got = llistxattr(p, names, (size_t)n);
    if (got < 0) {
      int e = errno;
      free(names);
      if (e == ERANGE) continue; /* grew meanwhile */
      return (e == ENOTSUP || e == ENODATA) ? 0 : e;
    }
    x->names = names;
    x->nlen = got;
    break;
  }
  if (!x->names) return ERANGE;
  int count = 0;
  for (ssize_t o = 0; o < x->nlen; o += (ssize_t)strlen(x->names + o) + 1) count++;
  x->values = calloc((size_t)count, sizeof *x->values);
  x->vlens = calloc((size_t)count, sizeof *x->vlens);
  if (!x->values || !x->vlens) { free_xattrs(x); return ENOMEM; }
  int i = 0;
  for (ssize_t o = 0; o < x->nlen; o += (ssize_t)strlen(x->names + o) + 1, i++) {
    const char *name = x->names + o;
    x->vlens[i] = -1; /* removed meanwhile: left out */
    for (int tries = 0; tries < 5; tries++) {
      ssize_t vn = lgetxattr(p, name, NULL, 0);
      if (vn < 0) { if (errno == ENODATA) break; int e = errno; x->count = i; free_xattrs(x); return e; }
      char *v = malloc(vn ? (size_t)vn : 1);
      if (!v) { x->count = i; free_xattrs(x); return ENOMEM; }
      ssize_t vg = lgetxattr(p, name, v, (size_t)vn);
      if (vg < 0) { int e = errno; free(v); if (e == ERANGE) continue; if (e == ENODATA) break; x->count = i; free_xattrs(x); return e; }
      x->values[i] = v;
      x->vlens[i] = vg;
      break;
    }
  }
  x->count = count;
  return 0;
}

static napi_value xattrs_value(napi_env env, struct xattr_list *x) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t k = 0;
  int i = 0;
  for (ssize_t o = 0; o < x->nlen; o += (ssize_t)strlen(x->names + o) + 1, i++) {
    if (x->vlens[i] < 0) continue;
    napi_value pair, name, value;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_latin1(env, x->names + o, NAPI_AUTO_LENGTH, &name);
    napi_create_buffer_copy(env, (size_t)x->vlens[i], x->vlens[i] ? x->values[i] : "", NULL, &value);
    napi_set_element(env, pair, 0, name);
    napi_set_element(env, pair, 1, value);
    napi_set_element(env, arr, k++, pair);
  }
  return arr;
}

static void fill_scan(double *v, const struct stat *st) {
  v[0] = st->st_mode; v[1] = st->st_uid; v[2] = st->st_gid; v[3] = (double)st->st_size;
  v[4] = (double)st->st_mtim.tv_sec; v[5] = (double)st->st_mtim.tv_nsec;
  v[6] = (double)st->st_ino; v[7] = (double)st->st_dev; v[8] = (double)st->st_nlink;
  v[9] = major(st->st_rdev); v[10] = minor(st->st_rdev);
}

/* list_dir_with's per-entry step: the entry's xattrs into a JS array (main thread only) */
struct xattr_ctx { napi_env env; napi_value arr; char *path; size_t dlen; };

static int scan_xattrs(void *ctx, int dfd, const char *name, size_t index) {
  (void)dfd;
  struct xattr_ctx *c = ctx;
  size_t len = strlen(name) + 1;
  memcpy(c->path + c->dlen + 1, name, len);
  struct xattr_list x;
  int err = read_xattrs(c->path, &x);
  if (err) return err;
  if (x.count > 0) napi_set_element(c->env, c->arr, (uint32_t)index, xattrs_value(c->env, &x));
  free_xattrs(&x);
  return 0;
}

static napi_value js_lstatdirx(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "lstatdirx(path)")) return NULL;
  char *dir = path_arg(env, argv[0]);
  if (!dir) return NULL;
  struct xattr_ctx c = { env, NULL, NULL, strlen(dir) };
  napi_create_array(env, &c.arr);
  c.path = malloc(c.dlen + 258); /* dir, '/', a name of at most 255 bytes, NUL */
  if (!c.path) { throw_errno(env, ENOMEM, "scandir", dir); free(dir); return NULL; }
  memcpy(c.path, dir, c.dlen);
  c.path[c.dlen] = '/';
  c.path[c.dlen + 1] = 0;
  struct listing l;
  int err = list_dir_with(dir, SCAN_FIELDS, fill_scan, scan_xattrs, &c, &l);
  if (err) throw_errno(env, err, "scandir", c.path[c.dlen + 1] ? c.path : dir);
  free(c.path);
  free(dir);
  if (err) return NULL;
  napi_value listing = listing_value(env, &l);
  napi_set_element(env, listing, 2, c.arr);
  return listing;
}

/*
 * readinto(path, ino, dev, buf, off, len): a regular file's first len bytes into buf at off,
 * without following a symlink: the count read (less than len when the file is shorter now), or
 * -1 when path is no longer the inode ino on device dev. open, fstat, read and close in one
 * call: packing 100,000 small files, ~5 us less per file than four calls from JS.
 */
static napi_value js_readinto(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv, "readinto(path, ino, dev, buf, off, len)")) return NULL;
  double ino, dev, off, len;
  void *data;
  size_t blen;
  CHECK(napi_get_value_double(env, argv[1], &ino));
  CHECK(napi_get_value_double(env, argv[2], &dev));
  CHECK(napi_get_buffer_info(env, argv[3], &data, &blen));
  CHECK(napi_get_value_double(env, argv[4], &off));
  CHECK(napi_get_value_double(env, argv[5], &len));
  if (off < 0 || len < 0 || off + len > (double)blen) { napi_throw_range_error(env, NULL, "readinto: out of the buffer"); return NULL; }
  char *p = path_arg(env, argv[0]);
  if (!p) return NULL;
  int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { throw_errno(env, errno, "open", p); free(p); return NULL; }
  struct stat st;
  if (fstat(fd, &st) != 0) { throw_errno(env, errno, "fstat", p); close(fd); free(p); return NULL; }
  double got = -1;
  if ((double)st.st_ino == ino && (double)st.st_dev == dev) {
    size_t want = (size_t)len, have = 0;
    char *at = (char *)data + (size_t)off;
    while (have < want) {
      ssize_t n = read(fd, at + have, want - have);
      if (n < 0) { if (errno == EINTR) continue; throw_errno(env, errno, "read", p); close(fd); free(p); return NULL; }
      if (n == 0) break;
      have += (size_t)n;
    }
    got = (double)have;
  }
  close(fd);
  free(p);
  napi_value r;
  napi_create_double(env, got, &r);
  return r;
}
