// The behaviour the local target's tests expect of every Lambda-style test
// function, whatever its language: see testdata/lambda/main.go.
'use strict';

const envKeys = ['AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_REGION', '_HANDLER', 'LAMBDA_TASK_ROOT', 'TZ', 'PORT', 'SEEDBED_STAGE'];

exports.respond = async function respond(event, context, runtime) {
  switch (event.rawPath) {
    case '/binary': {
      const input = Buffer.from(event.body || '', event.isBase64Encoded ? 'base64' : 'utf8');
      return {
        statusCode: 200,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Buffer.from(input.reverse()).toString('base64'),
        isBase64Encoded: true,
      };
    }
    case '/fail':
      throw new TypeError('boom: the handler failed as told');
    case '/string':
      return 'hello, ' + ((event.queryStringParameters || {}).name || '');
    case '/object':
      return { hello: 'world', n: 1 };
    case '/sleep':
      await new Promise((r) => setTimeout(r, Number((event.queryStringParameters || {}).ms || 0)));
      return { statusCode: 200, body: 'slept' };
    case '/crash':
      setImmediate(() => { throw new Error('boom: crashing the process as told'); });
      await new Promise((r) => setTimeout(r, 1000));
      return 'not reached';
  }
  const env = {};
  for (const k of envKeys) if (k in process.env) env[k] = process.env[k];
  const out = {
    runtime,
    greeting: process.env.GREETING || '',
    routeKey: event.routeKey,
    rawPath: event.rawPath,
    rawQueryString: event.rawQueryString,
    query: event.queryStringParameters || null,
    headers: event.headers,
    cookies: event.cookies || null,
    pathParameters: event.pathParameters || null,
    body: event.body || '',
    isBase64Encoded: event.isBase64Encoded,
    method: event.requestContext.http.method,
    path: event.requestContext.http.path,
    stage: event.requestContext.stage,
    domainName: event.requestContext.domainName,
    sourceIp: event.requestContext.http.sourceIp,
    eventRequestId: event.requestContext.requestId,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    functionArn: context.invokedFunctionArn,
    remainingMs: context.getRemainingTimeInMillis(),
    env,
    pid: process.pid,
  };
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json', 'X-Runtime': runtime },
    multiValueHeaders: { 'X-Multi': ['a', 'b'] },
    cookies: ['session=s3cr3t; Path=/; HttpOnly', 'theme=dark'],
    body: JSON.stringify(out),
  };
};
