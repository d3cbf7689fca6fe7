'use strict';
// Seedbed's Lambda runtime for Node.js: a loop over the AWS Lambda Runtime
// API (2018-06-01) that runs an unchanged handler, using only Node's own
// modules. The local target writes it into the run directory of a function
// and starts it as
//
//   node [--max-old-space-size=N] seedbed-runtime.cjs MODULE EXPORT
//
// MODULE is the handler's file relative to LAMBDA_TASK_ROOT without its
// extension ("src/app"), EXPORT the exported function, possibly nested
// ("handler" or "handlers.get"). Handlers may be async (return a promise)
// or take a callback, as in Lambda. Unlike Lambda, a callback's result is
// sent at once: callbackWaitsForEmptyEventLoop is not honoured.

const http = require('http');
const path = require('path');
const { pathToFileURL } = require('url');

const api = process.env.AWS_LAMBDA_RUNTIME_API || '';
const sep = api.lastIndexOf(':');
const apiHost = api.slice(0, sep);
const apiPort = Number(api.slice(sep + 1));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime';

let current = null; // the request id being handled

function call(method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: apiHost, port: apiPort, method, path: urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorDoc(err, fallbackType) {
  if (err instanceof Error) {
    return {
      errorType: err.name || (err.constructor && err.constructor.name) || fallbackType,
      errorMessage: err.message,
      stackTrace: String(err.stack || '').split('\n'),
    };
  }
  let message;
  try {
    message = typeof err === 'string' ? err : JSON.stringify(err);
  } catch (_) {
    message = String(err);
  }
  return { errorType: fallbackType, errorMessage: String(message), stackTrace: [] };
}

async function postError(urlPath, err, fallbackType) {
  const doc = errorDoc(err, fallbackType);
  console.error(`${current || ''}\tERROR\t${doc.errorType}: ${doc.errorMessage}`);
  if (doc.stackTrace.length > 1) console.error(doc.stackTrace.slice(1).join('\n'));
  await call('POST', urlPath, JSON.stringify(doc));
}

async function fatal(err, type) {
  try {
    if (current) {
      await postError(`${base}/invocation/${current}/error`, err, type);
    } else {
      await postError(`${base}/init/error`, err, type);
    }
  } finally {
    process.exit(129);
  }
}

async function loadHandler(moduleName, exportPath) {
  const file = path.resolve(process.env.LAMBDA_TASK_ROOT || '.', moduleName);
  let mod;
  try {
    try {
      mod = require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') {
        mod = await import(pathToFileURL(require.resolve(file)).href);
      } else {
        throw err;
      }
    }
  } catch (err) {
    if (err instanceof SyntaxError) {
      err.name = 'Runtime.UserCodeSyntaxError';
    } else if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(file)) {
      err.name = 'Runtime.ImportModuleError';
      err.message = `Cannot find module '${moduleName}' in ${process.env.LAMBDA_TASK_ROOT}`;
    }
    throw err;
  }
  let fn = mod;
  for (const key of exportPath.split('.')) {
    fn = fn == null ? undefined : fn[key];
  }
  if (typeof fn !== 'function' && mod && mod.default) {
    fn = mod.default;
    for (const key of exportPath.split('.')) fn = fn == null ? undefined : fn[key];
  }
  if (typeof fn !== 'function') {
    const err = new Error(`${moduleName}.${exportPath} is undefined or not exported`);
    err.name = 'Runtime.HandlerNotFound';
    throw err;
  }
  return fn;
}

function makeContext(headers, deadline) {
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  return context;
}

// invoke runs the handler and settles with its result, whether it returns
// a promise or calls back (or calls context.succeed/fail/done).
function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (err) => callback(err == null ? new Error('handled') : err);
    let ret;
    try {
      ret = handler(event, context, callback);
    } catch (err) {
      callback(err);
      return;
    }
    if (ret && typeof ret.then === 'function') {
      ret.then((result) => callback(null, result), (err) => callback(err == null ? new Error('the handler rejected without a reason') : err));
    }
  });
}

async function main() {
  const [moduleName, exportPath] = process.argv.slice(2);
  process.on('uncaughtException', (err) => fatal(err, 'Runtime.UncaughtException'));
  process.on('unhandledRejection', (err) => fatal(err, 'Runtime.UnhandledPromiseRejection'));
  let handler;
  try {
    handler = await loadHandler(moduleName, exportPath);
  } catch (err) {
    await fatal(err, 'Runtime.ImportModuleError');
    return;
  }
  for (;;) {
    const next = await call('GET', `${base}/invocation/next`);
    if (next.status !== 200) {
      throw new Error(`the Runtime API answered ${next.status} to /next: ${next.body}`);
    }
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'] || '';
    current = id;
    let payload;
    try {
      const event = JSON.parse(next.body);
      const result = await invoke(handler, event, makeContext(next.headers, deadline));
      try {
        payload = JSON.stringify(result === undefined ? null : result);
      } catch (err) {
        err.name = 'Runtime.MarshalError';
        throw err;
      }
    } catch (err) {
      await postError(`${base}/invocation/${id}/error`, err, 'Error');
      current = null;
      continue;
    }
    await call('POST', `${base}/invocation/${id}/response`, payload);
    current = null;
  }
}

main().catch((err) => {
  console.error('seedbed lambda runtime:', err);
  process.exit(1);
});
