// An HTTP function: it listens on $PORT, as every http function must.
const http = require("node:http");
const { greet } = require("./lib/greet");

const server = http.createServer((req, res) => {
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.end(greet("node") + " " + req.url + "\n");
});
server.listen(Number(process.env.PORT), "127.0.0.1");
