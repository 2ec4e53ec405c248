// Watch an execution of `arachne serve` from Node.js with the Socket.IO client: the Runtime
// Service document's Quick Reference snippet as written, with the address and the execution
// id taken from the command line, and an API key from ARACHNE_TOKEN if the service wants one:
//
//   node watch.js ws://localhost:5006 exec-...
//
// It prints each value sent along an edge, and the count of messages processed at the end.
const { io } = require('socket.io-client');

const [address = 'ws://localhost:5006', executionId = 'exec-uuid'] = process.argv.slice(2);

const socket = io(address, process.env.ARACHNE_TOKEN ? { auth: { token: process.env.ARACHNE_TOKEN } } : {});

socket.emit('execution:subscribe', { executionId });

socket.on('port:emit', (msg) => {
  console.log(`${msg.sourceNode}:${msg.sourcePort} → ${msg.targetNode}:${msg.targetPort}`);
  console.log('Value:', msg.value);
});

socket.on('execution:completed', (data) => {
  console.log('Done! Messages processed:', data.metrics.messagesProcessed);
  socket.close();
});

// Not in the snippet: say when the subscription holds; end on any other end, or a refusal.
socket.on('execution:started', () => console.log('subscribed'));
socket.on('execution:failed', (data) => {
  console.error('failed:', data.error.message);
  socket.close();
  process.exitCode = 1;
});
socket.on('execution:cancelled', () => {
  console.error('cancelled');
  socket.close();
  process.exitCode = 1;
});
socket.on('error', (error) => {
  console.error('error:', error.code, error.message);
  socket.close();
  process.exitCode = 1;
});
socket.on('connect_error', (error) => {
  const code = error.data && error.data.code ? ` (${error.data.code})` : '';
  console.error(`could not connect${code}: ${error.message || 'is arachne serve at this address?'}`);
  process.exit(1);
});
