// Kills any process a test started that is still alive after the run (e.g. when a
// jest worker was killed on a timeout before its afterAll hooks ran).
const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const file = process.env.FDL_TEST_PID_FILE;
  if (!file || !fs.existsSync(file)) return;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const pid = Number(line);
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  fs.rmSync(file, { force: true });
};
