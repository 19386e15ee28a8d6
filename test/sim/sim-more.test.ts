// The second half of the random schedules, in a file of its own so that tap runs the halves in parallel.
process.env.LANCHAT_SIM_PART = '1';
await import('./sim.test.js');
