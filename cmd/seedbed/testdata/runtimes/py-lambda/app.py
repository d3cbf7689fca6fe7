"""An unchanged AWS Lambda handler."""

import base64
import json


def handler(event, context):
    path = event["rawPath"]
    if path.endswith("/binary"):
        body = event.get("body", "")
        data = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(data[::-1]).decode(),
            "isBase64Encoded": True,
        }
    if path.endswith("/fail"):
        raise ValueError("boom: python failed as told")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-runtime": "python"},
        "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"],
        "body": json.dumps({
            "runtime": "python",
            "method": event["requestContext"]["http"]["method"],
            "rawPath": path,
            "rawQueryString": event["rawQueryString"],
            "query": event.get("queryStringParameters") or {},
            "header": event["headers"].get("x-test", ""),
            "cookies": event.get("cookies") or [],
            "body": event.get("body", ""),
            "isBase64Encoded": event["isBase64Encoded"],
            "requestId": context.aws_request_id,
        }),
    }
