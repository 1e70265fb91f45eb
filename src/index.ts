export * from './errors.js';
export * from './noise.js';
export * from './tensor.js';
