export { DEFAULT_WINDOWING_CONFIG, resolveWindowingConfig, windowStartOf, type WindowingConfig } from './lib/config';
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
  LateEvent,
  PartitionCommit,
  PartitionStats,
  ProcessOutcome,
  WindowRecord,
  WindowRow,
} from './lib/types';
