export { StreamPipeline, type PipelineDeps, type PipelineOptions } from './lib/pipeline';
export { runCommitProtocol, SETTLE_TIMEOUT_MS, type CommitOutcome, type CommitProtocolHooks, type CommitProtocolPorts, type FlushBatch, type FlushStep } from './lib/commit-protocol';
export type {
  CommittedPosition,
  Headers,
  OffsetCommit,
  OutputSink,
  PipelineLogger,
  PipelineObserver,
  RebalanceEvent,
  RecordColumns,
  RecordSource,
  ResultPublisher,
  ResultSink,
  SourceRecord,
  WindowStateStore,
} from './lib/ports';
export { recordBatch, type RecordBatch } from './lib/record-batch';
