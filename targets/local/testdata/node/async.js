// An unchanged async Lambda handler.
const { respond } = require('./app');

exports.handler = async (event, context) => respond(event, context, 'node-async');
