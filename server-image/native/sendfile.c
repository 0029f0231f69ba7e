// sendfile(2) for RETR: the kernel moves file pages to the socket, so the file's bytes are not
// copied into the process and back (pread + write). Node's standard library has no sendfile for
// sockets; this Node-API module adds the one call the download loop needs.
//
// The call runs on libuv's thread pool (like fs.read), so a file that is not in the page cache
// blocks a pool thread, never the event loop. It never waits for the socket: on a full socket
// buffer (EAGAIN) it returns what it sent, and the caller waits for room with an ordinary write.
//
// sendfile(socketFd, fileFd, offset, count) -> Promise<{ sent, blocked, eof }>
//   sent     bytes written to the socket, from `offset` on
//   blocked  the socket buffer filled up before `count` bytes were sent
//   eof      the file ended before `count` bytes were sent
// The call duplicates both descriptors before it returns and works on the duplicates, so a socket
// that Node closes meanwhile (ABOR, timeout) is not a number that may already name another
// connection: the job ends on the same connection, and closing the duplicates closes it.
// The socket must be non-blocking (Node's are). Rejects with an Error whose `code` is the errno
// name (EPIPE, ECONNRESET, ...).

#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct {
  int socket_fd;
  int file_fd;
  int64_t offset;
  int64_t count;
  int64_t sent;
  int blocked;
  int eof;
  int err;
  napi_deferred deferred;
  napi_async_work work;
} job_t;

static void run(napi_env env, void* data) {
  (void)env;
  job_t* job = data;
  off_t offset = (off_t)job->offset;
  while (job->sent < job->count) {
    int64_t want = job->count - job->sent;
    if (want > 0x7ffff000) want = 0x7ffff000;  // Linux moves at most this much per call
    ssize_t n = sendfile(job->socket_fd, job->file_fd, &offset, (size_t)want);
    if (n > 0) {
      job->sent += n;
    } else if (n == 0) {
      job->eof = 1;
      break;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      job->blocked = 1;
      break;
    } else {
      job->err = errno;
      break;
    }
  }
  close(job->socket_fd);
  close(job->file_fd);
}

static const char* errno_name(int e) {
  const char* name = strerrorname_np(e);
  return name ? name : "EIO";
}

static void done(napi_env env, napi_status status, void* data) {
  job_t* job = data;
  if (status != napi_ok || job->err) {
    int e = job->err ? job->err : EIO;
    napi_value code, msg, error;
    napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &error);
    napi_reject_deferred(env, job->deferred, error);
  } else {
    napi_value result, sent, blocked, eof;
    napi_create_object(env, &result);
    napi_create_int64(env, job->sent, &sent);
    napi_get_boolean(env, job->blocked != 0, &blocked);
    napi_get_boolean(env, job->eof != 0, &eof);
    napi_set_named_property(env, result, "sent", sent);
    napi_set_named_property(env, result, "blocked", blocked);
    napi_set_named_property(env, result, "eof", eof);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) {
    napi_throw_type_error(env, NULL, "sendfile(socketFd, fileFd, offset, count)");
    return NULL;
  }
  int32_t socket_fd, file_fd;
  int64_t offset, count;
  if (napi_get_value_int32(env, argv[0], &socket_fd) != napi_ok || napi_get_value_int32(env, argv[1], &file_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok || napi_get_value_int64(env, argv[3], &count) != napi_ok ||
      socket_fd < 0 || file_fd < 0 || offset < 0 || count < 0) {
    napi_throw_type_error(env, NULL, "sendfile: descriptors, offset and count must be non-negative integers");
    return NULL;
  }
  job_t* job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, "ENOMEM", "sendfile: out of memory");
    return NULL;
  }
  job->socket_fd = dup(socket_fd);
  job->file_fd = job->socket_fd < 0 ? -1 : dup(file_fd);
  if (job->file_fd < 0) {
    int e = errno;
    if (job->socket_fd >= 0) close(job->socket_fd);
    free(job);
    napi_throw_error(env, errno_name(e), strerror(e));
    return NULL;
  }
  job->offset = offset;
  job->count = count;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "pasv:sendfile", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run, done, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, js_sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  return exports;
}
