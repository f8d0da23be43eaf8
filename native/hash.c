/*
 * sha256 and writes on libuv's thread pool (part of strata-sys.node, included by sys.c), with
 * the OpenSSL that Node itself carries (its headers come with Node's, its symbols from the node
 * binary): a blob being stored is written and hashed off the main thread, which is left to
 * parse it. An import of a 246 MB tar spent ~200 ms of its main thread hashing.
 *
 *   sha256New()                 a hash state (freed with its JS object)
 *   writeHash(fd, buf, state)   a promise: buf written whole to fd (fd < 0: not written) and
 *                               added to state (null: not hashed). The caller orders the calls
 *                               on one state (one at a time) and leaves buf alone until then.
 *   sha256Hex(state)            the hex digest of what was added so far (the state goes on)
 */
#include <openssl/evp.h>

static void free_md(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  EVP_MD_CTX_free(data);
}

static napi_value js_sha256_new(napi_env env, napi_callback_info info) {
  (void)info;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    napi_throw_error(env, NULL, "strata-sys: sha256 is not available");
    return NULL;
  }
  napi_value r;
  if (napi_create_external(env, ctx, free_md, NULL, &r) != napi_ok) { EVP_MD_CTX_free(ctx); return NULL; }
  return r;
}

static EVP_MD_CTX *md_arg(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external) return NULL;
  void *p = NULL;
  napi_get_value_external(env, v, &p);
  return p;
}

struct write_hash_job {
  struct job job;
  int fd;
  EVP_MD_CTX *ctx;
  const char *data;
  size_t len;
  napi_ref buf;   /* keeps the buffer alive while the pool thread reads it */
  napi_ref state; /* and the hash state */
  int err;
};

static void write_hash_execute(napi_env env, void *data) {
  (void)env;
  struct write_hash_job *j = data;
  size_t done = 0;
  while (j->fd >= 0 && done < j->len) {
    ssize_t n = write(j->fd, j->data + done, j->len - done);
    if (n < 0) { if (errno == EINTR) continue; j->err = errno; return; }
    done += (size_t)n;
  }
  if (j->ctx && EVP_DigestUpdate(j->ctx, j->data, j->len) != 1) j->err = EIO;
}

static void write_hash_complete(napi_env env, napi_status status, void *data) {
  struct write_hash_job *j = data;
  if (status != napi_ok && !j->err) j->err = ECANCELED;
  if (j->err) reject_errno(env, j->job.deferred, j->err, "write", NULL);
  else {
    napi_value u;
    napi_get_undefined(env, &u);
    napi_resolve_deferred(env, j->job.deferred, u);
  }
  napi_delete_reference(env, j->buf);
  if (j->state) napi_delete_reference(env, j->state);
  napi_delete_async_work(env, j->job.work);
  free(j);
}

static napi_value js_write_hash(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, "writeHash(fd, buf, state)")) return NULL;
  struct write_hash_job *j = calloc(1, sizeof *j);
  if (!j) { throw_errno(env, ENOMEM, "write", NULL); return NULL; }
  void *data;
  if (napi_get_value_int32(env, argv[0], &j->fd) != napi_ok || napi_get_buffer_info(env, argv[1], &data, &j->len) != napi_ok) {
    free(j);
    napi_throw_type_error(env, NULL, "writeHash(fd, buf, state)");
    return NULL;
  }
  j->data = data;
  j->ctx = md_arg(env, argv[2]);
  napi_create_reference(env, argv[1], 1, &j->buf);
  if (j->ctx) napi_create_reference(env, argv[2], 1, &j->state);
  return queue_job(env, "strata:writeHash", write_hash_execute, write_hash_complete, &j->job);
}

static napi_value js_sha256_hex(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "sha256Hex(state)")) return NULL;
  EVP_MD_CTX *ctx = md_arg(env, argv[0]);
  if (!ctx) { napi_throw_type_error(env, NULL, "sha256Hex(state)"); return NULL; }
  EVP_MD_CTX *copy = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!copy || EVP_MD_CTX_copy_ex(copy, ctx) != 1 || EVP_DigestFinal_ex(copy, md, &n) != 1) {
    EVP_MD_CTX_free(copy);
    napi_throw_error(env, NULL, "strata-sys: sha256 failed");
    return NULL;
  }
  EVP_MD_CTX_free(copy);
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  napi_value r;
  napi_create_string_latin1(env, hex, 2 * n, &r);
  return r;
}

/* sha512Hex(string): the hex SHA-512 of a short string's UTF-8 bytes, at once (portmap's chain
 * names), without loading node:crypto */
static napi_value js_sha512_hex(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "sha512Hex(string)")) return NULL;
  char buf[1024];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], buf, sizeof buf, &len) != napi_ok || len >= sizeof buf - 1) {
    napi_throw_type_error(env, NULL, "sha512Hex(string): a string under 1 KiB");
    return NULL;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(buf, len, md, &n, EVP_sha512(), NULL) != 1) {
    napi_throw_error(env, NULL, "strata-sys: sha512 failed");
    return NULL;
  }
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  napi_value r;
  napi_create_string_latin1(env, hex, 2 * n, &r);
  return r;
}
