// Only greet is used; the bundle keeps what server.js needs.
exports.greet = (who) => `hello from ${who}`;
