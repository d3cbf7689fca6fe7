export interface Event {
  rawPath: string;
  rawQueryString: string;
  queryStringParameters?: Record<string, string>;
  headers: Record<string, string>;
  cookies?: string[];
  body?: string;
  isBase64Encoded: boolean;
  requestContext: { http: { method: string } };
}

interface Response {
  statusCode: number;
  headers: Record<string, string>;
  cookies?: string[];
  body: string;
  isBase64Encoded?: boolean;
}

export function echo(runtime: string, event: Event, requestId: string): Response {
  if (event.rawPath.endsWith("/binary")) {
    const input: Buffer = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
    return {
      statusCode: 200,
      headers: { "content-type": "application/octet-stream" },
      body: Buffer.from(input.reverse()).toString("base64"),
      isBase64Encoded: true,
    };
  }
  if (event.rawPath.endsWith("/fail")) {
    throw new Error(`boom: ${runtime} failed as told`);
  }
  return {
    statusCode: 200,
    headers: { "content-type": "application/json", "x-runtime": runtime },
    cookies: ["session=abc; Path=/; HttpOnly", "theme=dark"],
    body: JSON.stringify({
      runtime,
      method: event.requestContext.http.method,
      rawPath: event.rawPath,
      rawQueryString: event.rawQueryString,
      query: event.queryStringParameters ?? {},
      header: event.headers["x-test"] ?? "",
      cookies: event.cookies ?? [],
      body: event.body ?? "",
      isBase64Encoded: event.isBase64Encoded,
      requestId,
    }),
  };
}
