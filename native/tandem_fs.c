/*
 * syncfs(2) for Node.js, which has no binding for it: makes every write to the filesystem
 * holding an open descriptor durable in one call, where fsync(2) would take one call (and one
 * wait for the disk) per file.
 *
 * Exported: syncfs(fd) -> Promise<number>, resolving to 0 or to the errno of the failure. The
 * call runs on libuv's thread pool, so the event loop never waits for the disk. Where the
 * system has no syncfs (not Linux), it resolves to ENOSYS and the caller fsyncs file by file.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stdlib.h>
#ifdef __linux__
#include <unistd.h>
#endif

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int error;
} Job;

static void execute(napi_env env, void *data) {
  (void)env;
  Job *job = data;
#ifdef __linux__
  job->error = syncfs(job->fd) == 0 ? 0 : errno;
#else
  job->error = ENOSYS;
#endif
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *job = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? job->error : EIO, &result);
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name, promise;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "syncfs(fd) takes a file descriptor");
    return NULL;
  }
  Job *job = calloc(1, sizeof(Job));
  if (job == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  job->fd = fd;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "tandem:syncfs", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "syncfs", NAPI_AUTO_LENGTH, start, NULL, &fn);
  napi_set_named_property(env, exports, "syncfs", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
