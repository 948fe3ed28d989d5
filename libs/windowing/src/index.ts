export {
  DEFAULT_WINDOWING_CONFIG,
  isFutureEvent,
  isTooLate,
  isWindowFinal,
  judgeEventTime,
  resolveWindowingConfig,
  rowVersionOf,
  windowStartOf,
  type EventTimeVerdict,
  type WindowingConfig,
} from './lib/config';
export {
  CHECKPOINT_FORMAT_VERSION,
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  validateCheckpoint,
  type PartitionCheckpoint,
} from './lib/checkpoint';
export { WindowingEngine } from './lib/engine';
export type {
  Changes,
  EngineStats,
  PartitionCommit,
  PartitionStats,
  ProcessOutcome,
  StoredWindow,
  WindowRecord,
  WindowRow,
} from './lib/types';
