export * from './clock.ts';
export * from './machine.ts';
export * from './netlink/socket.ts';
export * from './netlink/endpoint.ts';
export * from './transport/inproc.ts';
export * from './transport/frames.ts';
export * from './transport/unix-server.ts';
export * from './transport/unix-client.ts';
