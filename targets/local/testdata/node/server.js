// An HTTP function of runtime node: it listens on $PORT.
const http = require('http');

http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end(`${process.env.GREETING} at ${req.url}`);
}).listen(Number(process.env.PORT), '127.0.0.1');
