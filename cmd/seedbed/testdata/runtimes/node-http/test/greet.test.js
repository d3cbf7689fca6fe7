const assert = require("node:assert");
const { greet } = require("../lib/greet");

assert.strictEqual(greet("x"), "hello from x");
