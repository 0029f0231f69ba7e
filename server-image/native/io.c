// The FTP server's file I/O that Node's standard library cannot do (server-image/src/data/native-io.ts
// loads it; docs/ftp-server.md, "Design notes"). The transfer calls run on libuv's thread pool,
// like fs.read/fs.write, so a slow disk blocks a pool thread, never the event loop; every call
// duplicates the descriptors it is given before returning and works on the duplicates, so one that
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
// spliceToFile(socketFd, fileFd, position, count) -> Promise<{ received, blocked, eof }> (STOR)
//   splice(2) socket -> pipe -> file at `position` (-1: the file's offset; O_APPEND files are
//   refused by splice), 64 KiB at a time, until `count`, the peer's end (`eof`) or an empty
//   socket (`blocked`). Never waits for the socket.
//
// waitReadable(socketFd, timeoutMs) -> Promise<boolean>
//   A libuv poll on a duplicate of the socket, on the event loop (no thread held): true once it is
//   readable (or ended, or failed: the next splice says which), false at the timeout.
//
// pwritePieces(fileFd, buffer, position, piece) -> Promise<bytesWritten>    (STOR, not spliced)
//   Writes `buffer` at `position` (-1: at the file's offset) in write(2)s of at most `piece`
//   bytes, all in one job: the page cache sizes its folios by the write, and small fresh folios
//   are much cheaper to fill than large ones on the VMs we measured, while one job per buffer
//   keeps the thread-pool round trips to one per MiB. `buffer` is held until the job is done.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <unistd.h>

static const char* errno_name(int e) {
  const char* name = strerrorname_np(e);
  return name ? name : "EIO";
}

static void reject_errno(napi_env env, napi_deferred deferred, int e) {
  napi_value code, msg, error;
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_reject_deferred(env, deferred, error);
}

// A job between a socket and a file: sendfile (file -> socket) or spliceToFile (socket -> file).
typedef struct {
  int socket_fd;
  int file_fd;
  int64_t position;
  int64_t count;
  int64_t moved;
  int blocked;
  int eof;
  int err;
  const char* moved_name;  // the result's name for `moved`: "sent" or "received"
  napi_deferred deferred;
  napi_async_work work;
} transfer_job_t;

static void run_sendfile(napi_env env, void* data) {
  (void)env;
  transfer_job_t* job = data;
  off_t offset = (off_t)job->position;
  while (job->moved < job->count) {
    int64_t want = job->count - job->moved;
    if (want > 0x7ffff000) want = 0x7ffff000;  // Linux moves at most this much per call
    ssize_t n = sendfile(job->socket_fd, job->file_fd, &offset, (size_t)want);
    if (n > 0) {
      job->moved += n;
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

// Moves one pipe's worth at a time (64 KiB: the page cache then fills 64 KiB folios, as with
// pwritePieces) from the socket into the file, until `count`, the peer's end, or an empty socket.
static void run_splice(napi_env env, void* data) {
  (void)env;
  transfer_job_t* job = data;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    job->err = errno;
  } else {
    loff_t offset = (loff_t)job->position;
    while (job->moved < job->count && !job->err) {
      int64_t want = job->count - job->moved;
      if (want > 65536) want = 65536;
      ssize_t n = splice(job->socket_fd, NULL, pipefd[1], NULL, (size_t)want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n == 0) {
        job->eof = 1;
        break;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) job->blocked = 1;
        else job->err = errno;
        break;
      }
      for (ssize_t left = n; left > 0;) {
        ssize_t m = splice(pipefd[0], NULL, job->file_fd, job->position < 0 ? NULL : &offset, (size_t)left, SPLICE_F_MOVE);
        if (m > 0) {
          left -= m;
        } else if (m < 0 && errno == EINTR) {
          continue;
        } else {
          job->err = m < 0 ? errno : EIO;
          break;
        }
      }
      if (!job->err) job->moved += n;
    }
    close(pipefd[0]);
    close(pipefd[1]);
  }
  close(job->socket_fd);
  close(job->file_fd);
}

static void transfer_done(napi_env env, napi_status status, void* data) {
  transfer_job_t* job = data;
  if (status != napi_ok || job->err) {
    reject_errno(env, job->deferred, job->err ? job->err : EIO);
  } else {
    napi_value result, moved, blocked, eof;
    napi_create_object(env, &result);
    napi_create_int64(env, job->moved, &moved);
    napi_get_boolean(env, job->blocked != 0, &blocked);
    napi_get_boolean(env, job->eof != 0, &eof);
    napi_set_named_property(env, result, job->moved_name, moved);
    napi_set_named_property(env, result, "blocked", blocked);
    napi_set_named_property(env, result, "eof", eof);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

// (socketFd, fileFd, position, count): checks the arguments, duplicates both descriptors and
// queues `run`. `min_position` is 0, or -1 where "the file's offset" is allowed.
static napi_value queue_transfer(napi_env env, napi_callback_info info, const char* usage, int64_t min_position,
                                 napi_async_execute_callback run, const char* moved_name) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t socket_fd, file_fd;
  int64_t position, count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_int32(env, argv[0], &socket_fd) != napi_ok || napi_get_value_int32(env, argv[1], &file_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &position) != napi_ok || napi_get_value_int64(env, argv[3], &count) != napi_ok ||
      socket_fd < 0 || file_fd < 0 || position < min_position || count < 0) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  transfer_job_t* job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, "ENOMEM", "out of memory");
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
  job->position = position;
  job->count = count;
  job->moved_name = moved_name;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, usage, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run, transfer_done, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  return queue_transfer(env, info, "sendfile(socketFd, fileFd, offset, count)", 0, run_sendfile, "sent");
}

static napi_value js_splice_to_file(napi_env env, napi_callback_info info) {
  return queue_transfer(env, info, "spliceToFile(socketFd, fileFd, position, count)", -1, run_splice, "received");
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
    reject_errno(env, job->deferred, job->err ? job->err : EIO);
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

// waitReadable: a libuv poll on a duplicate of the socket (never the number Node's handle uses),
// ended by readability, the peer's end or error, or the timeout, whichever is first.
typedef struct {
  uv_poll_t poll;
  uv_timer_t timer;
  int fd;
  int open_handles;
  int settled;
  napi_env env;
  napi_deferred deferred;
  napi_async_context context;
  napi_ref resource;
} waiter_t;

static void waiter_closed(uv_handle_t* handle) {
  waiter_t* w = handle->data;
  if (--w->open_handles > 0) return;
  close(w->fd);
  free(w);
}

static void waiter_settle(waiter_t* w, int readable) {
  if (w->settled) return;
  w->settled = 1;
  uv_poll_stop(&w->poll);
  uv_timer_stop(&w->timer);
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value resource, result;
  napi_get_reference_value(env, w->resource, &resource);
  napi_callback_scope cscope;
  napi_open_callback_scope(env, resource, w->context, &cscope);
  napi_get_boolean(env, readable != 0, &result);
  napi_resolve_deferred(env, w->deferred, result);
  napi_close_callback_scope(env, cscope);  // runs the promise's reactions (microtasks)
  napi_close_handle_scope(env, scope);
  napi_async_destroy(env, w->context);
  napi_delete_reference(env, w->resource);
  uv_close((uv_handle_t*)&w->poll, waiter_closed);
  uv_close((uv_handle_t*)&w->timer, waiter_closed);
}

static void on_poll(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  waiter_settle(handle->data, 1);  // readable, or an error/hangup the next splice reports
}

static void on_timeout(uv_timer_t* handle) {
  waiter_settle(handle->data, 0);
}

static napi_value js_wait_readable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t socket_fd;
  int64_t timeout_ms;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, argv[0], &socket_fd) != napi_ok || napi_get_value_int64(env, argv[1], &timeout_ms) != napi_ok ||
      socket_fd < 0 || timeout_ms < 0) {
    napi_throw_type_error(env, NULL, "waitReadable(socketFd, timeoutMs)");
    return NULL;
  }
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "EIO", "waitReadable: no event loop");
    return NULL;
  }
  waiter_t* w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ENOMEM", "waitReadable: out of memory");
    return NULL;
  }
  w->fd = dup(socket_fd);
  if (w->fd < 0 || uv_poll_init(loop, &w->poll, w->fd) != 0) {
    int e = w->fd < 0 ? errno : EINVAL;
    if (w->fd >= 0) close(w->fd);
    free(w);
    napi_throw_error(env, errno_name(e), strerror(e));
    return NULL;
  }
  uv_timer_init(loop, &w->timer);
  w->poll.data = w;
  w->timer.data = w;
  w->open_handles = 2;
  w->env = env;
  napi_value promise, resource, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &w->resource);
  napi_create_string_utf8(env, "pasv:waitReadable", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &w->context);
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_poll);
  uv_timer_start(&w->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, js_sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  napi_create_function(env, "pwritePieces", NAPI_AUTO_LENGTH, js_pwrite_pieces, NULL, &fn);
  napi_set_named_property(env, exports, "pwritePieces", fn);
  napi_create_function(env, "spliceToFile", NAPI_AUTO_LENGTH, js_splice_to_file, NULL, &fn);
  napi_set_named_property(env, exports, "spliceToFile", fn);
  napi_create_function(env, "waitReadable", NAPI_AUTO_LENGTH, js_wait_readable, NULL, &fn);
  napi_set_named_property(env, exports, "waitReadable", fn);
  return exports;
}
