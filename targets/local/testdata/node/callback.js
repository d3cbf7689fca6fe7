// An unchanged callback-style Lambda handler.
const { respond } = require('./app');

exports.handler = function (event, context, callback) {
  respond(event, context, 'node-callback').then(
    (result) => setImmediate(() => callback(null, result)),
    (err) => callback(err),
  );
};
