"""The behaviour the local target's tests expect of every Lambda-style test
function, whatever its language: see testdata/lambda/main.go."""

import base64
import json
import os
import time

ENV_KEYS = [
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "TZ", "PORT", "SEEDBED_STAGE",
]


def handler(event, context):
    path = event["rawPath"]
    query = event.get("queryStringParameters") or {}
    if path == "/binary":
        body = event.get("body", "")
        data = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(data[::-1]).decode(),
            "isBase64Encoded": True,
        }
    if path == "/fail":
        raise ValueError("boom: the handler failed as told")
    if path == "/string":
        return "hello, " + query.get("name", "")
    if path == "/object":
        return {"hello": "world", "n": 1}
    if path == "/sleep":
        time.sleep(int(query.get("ms", "0")) / 1000)
        return {"statusCode": 200, "body": "slept"}
    if path == "/hog":
        hog = bytearray(int(query.get("mb", "0")) * 1024 * 1024)
        return {"statusCode": 200, "body": "allocated %d bytes" % len(hog)}
    ctx = event["requestContext"]
    out = {
        "runtime": "python",
        "greeting": os.environ.get("GREETING", ""),
        "routeKey": event["routeKey"],
        "rawPath": path,
        "rawQueryString": event["rawQueryString"],
        "query": event.get("queryStringParameters"),
        "headers": event["headers"],
        "cookies": event.get("cookies"),
        "pathParameters": event.get("pathParameters"),
        "body": event.get("body", ""),
        "isBase64Encoded": event["isBase64Encoded"],
        "method": ctx["http"]["method"],
        "path": ctx["http"]["path"],
        "stage": ctx["stage"],
        "domainName": ctx["domainName"],
        "sourceIp": ctx["http"]["sourceIp"],
        "eventRequestId": ctx["requestId"],
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "functionArn": context.invoked_function_arn,
        "remainingMs": context.get_remaining_time_in_millis(),
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
        "pid": os.getpid(),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Runtime": "python"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "cookies": ["session=s3cr3t; Path=/; HttpOnly", "theme=dark"],
        "body": json.dumps(out),
    }
