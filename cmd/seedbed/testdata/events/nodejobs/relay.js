// An HTTP function that sends a message to its stage's queue orders from
// inside its sandbox, on its instance's own Seedbed API, and tells whether
// the gateway's URL it was given answers from here.
const http = require('http');

http.createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  if (req.method !== 'POST') {
    res.end('ok'); // the target's health check
    return;
  }
  const { relay, gateway } = JSON.parse(body);
  const out = { api: process.env.SEEDBED_API_URL };
  try {
    const r = await fetch(process.env.SEEDBED_API_URL + '/_seedbed/queues/orders', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + process.env.SEEDBED_QUEUE_TOKEN },
      body: relay,
    });
    out.status = r.status;
    out.answer = await r.text();
  } catch (e) {
    out.error = String(e);
  }
  if (gateway) {
    try {
      await fetch(gateway, { signal: AbortSignal.timeout(2000) });
      out.gateway = 'reachable';
    } catch (e) {
      out.gateway = 'unreachable';
    }
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(out));
}).listen(Number(process.env.PORT), '127.0.0.1');
