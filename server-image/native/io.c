// The FTP server's file I/O that Node's standard library cannot do (server-image/src/data/native-io.ts
// loads it; docs/ftp-server.md, "Design notes"). Both calls run on libuv's thread pool, like
// fs.read/fs.write, so a slow disk blocks a pool thread, never the event loop; both duplicate the
// descriptors they are given before returning and work on the duplicates, so a descriptor that
// Node closes meanwhile (ABOR, a data timeout, an aborted upload) is never a number that may
// already name another connection or file. Errors reject with an Error whose `code` is the errno
// name (EPIPE, ECONNRESET, ENOSPC, ...).
//
// sendfile(socketFd, fileFd, offset, count) -> Promise<{ sent, blocked, eof }>      (RETR)
//   sendfile(2): the kernel moves the file's pages to the socket, no copy through the process.
//   Never waits for the socket: on a full socket buffer (EAGAIN) it returns what it sent with
//   `blocked`, and the caller waits for room with an ordinary write. `eof`: the file ended first.
//   The socket must be non-blocking (Node's are).
//
// pwritePieces(fileFd, buffer, position, piece) -> Promise<bytesWritten>             (STOR)
//   Writes `buffer` at `position` (-1: at the file's offset) in write(2)s of at most `piece`
//   bytes, all in one job: the page cache sizes its folios by the write, and small fresh folios
//   are much cheaper to fill than large ones on the VMs we measured, while one job per buffer
//   keeps the thread-pool round trips to one per MiB. `buffer` is held until the job is done.

#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
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

typedef struct {
  int file_fd;
  const uint8_t* data;
  int64_t length;
  int64_t position;
  int64_t piece;
  int64_t written;
  int err;
  napi_ref buffer;
  napi_deferred deferred;
  napi_async_work work;
} write_job_t;

static void run_write(napi_env env, void* data) {
  (void)env;
  write_job_t* job = data;
  while (job->written < job->length) {
    int64_t want = job->length - job->written;
    if (want > job->piece) want = job->piece;
    ssize_t n = job->position < 0 ? write(job->file_fd, job->data + job->written, (size_t)want)
                                  : pwrite(job->file_fd, job->data + job->written, (size_t)want, (off_t)(job->position + job->written));
    if (n > 0) {
      job->written += n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      job->err = n < 0 ? errno : 0;  // 0 bytes: a short write, reported by the count
      break;
    }
  }
  close(job->file_fd);
}

static void write_done(napi_env env, napi_status status, void* data) {
  write_job_t* job = data;
  if (status != napi_ok || job->err) {
    int e = job->err ? job->err : EIO;
    napi_value code, msg, error;
    napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &error);
    napi_reject_deferred(env, job->deferred, error);
  } else {
    napi_value written;
    napi_create_int64(env, job->written, &written);
    napi_resolve_deferred(env, job->deferred, written);
  }
  napi_delete_reference(env, job->buffer);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_pwrite_pieces(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t file_fd;
  int64_t position, piece;
  void* data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_int32(env, argv[0], &file_fd) != napi_ok || napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok || napi_get_value_int64(env, argv[2], &position) != napi_ok ||
      napi_get_value_int64(env, argv[3], &piece) != napi_ok || file_fd < 0 || piece <= 0) {
    napi_throw_type_error(env, NULL, "pwritePieces(fileFd, buffer, position, piece)");
    return NULL;
  }
  write_job_t* job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, "ENOMEM", "pwritePieces: out of memory");
    return NULL;
  }
  job->file_fd = dup(file_fd);
  if (job->file_fd < 0) {
    int e = errno;
    free(job);
    napi_throw_error(env, errno_name(e), strerror(e));
    return NULL;
  }
  job->data = data;
  job->length = (int64_t)length;
  job->position = position;
  job->piece = piece;
  napi_value promise, name;
  napi_create_reference(env, argv[1], 1, &job->buffer);
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "pasv:pwritePieces", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run_write, write_done, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, js_sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  napi_create_function(env, "pwritePieces", NAPI_AUTO_LENGTH, js_pwrite_pieces, NULL, &fn);
  napi_set_named_property(env, exports, "pwritePieces", fn);
  return exports;
}
