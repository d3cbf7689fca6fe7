exports.echo = (runtime, event, context) => {
  const path = event.rawPath;
  if (path.endsWith("/binary")) {
    const input = Buffer.from(event.body || "", event.isBase64Encoded ? "base64" : "utf8");
    return {
      statusCode: 200,
      headers: { "content-type": "application/octet-stream" },
      body: Buffer.from(input.reverse()).toString("base64"),
      isBase64Encoded: true,
    };
  }
  if (path.endsWith("/fail")) {
    throw new Error("boom: " + runtime + " failed as told");
  }
  return {
    statusCode: 200,
    headers: { "content-type": "application/json", "x-runtime": runtime },
    cookies: ["session=abc; Path=/; HttpOnly", "theme=dark"],
    body: JSON.stringify({
      runtime,
      method: event.requestContext.http.method,
      rawPath: path,
      rawQueryString: event.rawQueryString,
      query: event.queryStringParameters || {},
      header: event.headers["x-test"] || "",
      cookies: event.cookies || [],
      body: event.body || "",
      isBase64Encoded: event.isBase64Encoded,
      requestId: context.awsRequestId,
    }),
  };
};
