// An unchanged AWS Lambda handler (CommonJS).
const { echo } = require("./lib/echo");

exports.handler = async (event, context) => echo("node-js", event, context);
