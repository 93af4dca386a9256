// Gives every jest worker one PID file to register the processes it starts in, so
// the global teardown can kill whatever a crashed or timed-out worker left behind.
const os = require('node:os');
const path = require('node:path');

module.exports = async function globalSetup() {
  process.env.FDL_TEST_PID_FILE = path.join(os.tmpdir(), `fdl-cloudauth-test-pids-${process.pid}.txt`);
};
