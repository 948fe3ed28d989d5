export * from './schemas';
export * from './confluent';
export * from './codecs';
export * from './decoder';
