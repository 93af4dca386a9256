// The demo needs free ports too; one implementation serves both.
export { freePort } from '../daemon/demo/free-port';
