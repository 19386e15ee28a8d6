#!/usr/bin/env node
// The entry point. It checks the Node.js version before anything that needs a newer one is even linked (an
// ES module's imports are all resolved before its first line runs: on Node 20.14 a missing `zlib.crc32`
// would end the process with a SyntaxError), then loads the commands.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 15)) {
  process.stderr.write(`lanchat: needs Node.js 20.15 or later; this is ${process.versions.node}\n`);
  process.exit(1);
}
await import('./commands.js');
