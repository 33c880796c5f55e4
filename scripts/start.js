#!/usr/bin/env node
// Runs the built api and worker side by side (as `npm start` does after build + migrate).
// In production run them as separate services instead: `node dist/apps/api/main.js`, `node dist/apps/worker/main.js`.
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const apps = ['api', 'worker'];
// The worker's live heap is ~100 MB even draining a large backlog; without a cap V8 lets garbage pile
// up to several times that before collecting (RSS 370 MB instead of 240 MB on the delivery bench). A
// larger young generation means fewer scavenges (about 7 % more deliveries/s). The same flags are in
// `npm run start:worker`, docker-compose.yml and the delivery benchmark.
const nodeArgs = { api: [], worker: ['--max-old-space-size=256', '--max-semi-space-size=16'] };
const children = apps.map((name) =>
  spawn(process.execPath, [...nodeArgs[name], path.join(root, 'dist/apps', name, 'main.js')], {
    cwd: root,
    stdio: 'inherit',
  }),
);
let stopping = false;
let exitCode = 0;

function stop(signal) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill(signal);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(signal));
children.forEach((child, i) =>
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${apps[i]} exited (${signal ?? code}); stopping the other\n`);
      exitCode = code || 1;
      stop('SIGTERM');
    } else if (code) {
      exitCode = code;
    }
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode);
  }),
);
