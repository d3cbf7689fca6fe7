"""Seedbed's Lambda runtime for Python.

A loop over the AWS Lambda Runtime API (2018-06-01) that runs an unchanged
handler, using only the standard library. The local target writes it into
the run directory of a function and starts it as

    python3 -u seedbed_runtime.py MODULE FUNCTION MEMORY_MB

MODULE is the handler's module as a slash-separated path relative to
LAMBDA_TASK_ROOT ("app" or "pkg/mod"), FUNCTION the function it defines.
MEMORY_MB, when above zero, caps the process's address space
(RLIMIT_AS): an allocation past it raises MemoryError in the handler. The
target passes 0 when a cgroup enforces the function's memory instead.
"""

import http.client
import importlib
import json
import os
import resource
import sys
import time
import traceback

BASE = "/2018-06-01/runtime"


class RuntimeAPI:
    """A keep-alive connection to the Runtime API."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.conn = None

    def call(self, method, path, body=None):
        data = None if body is None else body.encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection closed by the server: once more.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")


class LambdaContext:
    """The context object Lambda passes to a handler."""

    def __init__(self, headers, deadline_ms):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


def error_doc(exc, error_type=None):
    frames = traceback.extract_tb(exc.__traceback__)
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": error_type or type(exc).__name__,
            "stackTrace": [line.rstrip("\n") for line in traceback.format_list(frames)],
        }
    )


def report(api, path, exc, error_type=None, request_id=""):
    print(
        "%s\tERROR\t%s: %s" % (request_id, error_type or type(exc).__name__, exc),
        file=sys.stderr,
    )
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    api.call("POST", path, error_doc(exc, error_type))


def load_handler(module_path, function):
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise InitError("Runtime.UserCodeSyntaxError", exc) from exc
    except ImportError as exc:
        msg = "Unable to import module '%s': %s" % (module_name, exc)
        raise InitError("Runtime.ImportModuleError", ImportError(msg)) from exc
    handler = getattr(module, function, None)
    if not callable(handler):
        msg = "Handler '%s' missing on module '%s'" % (function, module_name)
        raise InitError("Runtime.HandlerNotFound", AttributeError(msg))
    return handler


class InitError(Exception):
    def __init__(self, error_type, cause):
        super().__init__(str(cause))
        self.error_type = error_type
        self.cause = cause


def limit_memory(mb):
    if mb <= 0:
        return
    limit = mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main():
    module_path, function = sys.argv[1], sys.argv[2]
    limit_memory(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    api = RuntimeAPI(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT", ".")
    sys.path.insert(0, task_root)

    try:
        handler = load_handler(module_path, function)
    except InitError as exc:
        report(api, BASE + "/init/error", exc.cause, exc.error_type)
        sys.exit(1)
    except Exception as exc:  # the module raised while it was imported
        report(api, BASE + "/init/error", exc)
        sys.exit(1)

    while True:
        status, headers, body = api.call("GET", BASE + "/invocation/next")
        if status != 200:
            raise RuntimeError("the Runtime API answered %d to /next: %r" % (status, body[:200]))
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id", "")
        path = BASE + "/invocation/" + request_id
        try:
            event = json.loads(body)
            result = handler(event, LambdaContext(headers, deadline))
        except Exception as exc:
            report(api, path + "/error", exc, request_id=request_id)
            continue
        try:
            payload = json.dumps(result)
        except Exception as exc:
            report(api, path + "/error", exc, "Runtime.MarshalError", request_id)
            continue
        api.call("POST", path + "/response", payload)


if __name__ == "__main__":
    main()
