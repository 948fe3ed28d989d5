export { StreamPipeline, type PipelineDeps, type PipelineOptions } from './lib/pipeline';
export type {
  CommittedPosition,
  Headers,
  OffsetCommit,
  OutputSink,
  PipelineLogger,
  PipelineObserver,
  RebalanceEvent,
  RecordSource,
  ResultPublisher,
  SourceRecord,
  WindowStore,
} from './lib/ports';
