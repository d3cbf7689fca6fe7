// An unchanged AWS Lambda handler (CommonJS).
const { shout } = require("./lib/format");

exports.handler = async (event, context) => {
  return {
    statusCode: 200,
    headers: { "content-type": "text/plain" },
    body: shout("hello from " + (event.rawPath || "/")),
  };
};
