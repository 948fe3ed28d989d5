/**
 * Runs `--workers` pipelines and presents them as one aggregator: their
 * metrics summed, one liveness and readiness, one stop, one exit code. When
 * one pipeline ends unexpectedly the others are stopped too, so the process
 * exits non-zero and is restarted (the committed checkpoints make that safe)
 * instead of leaving that pipeline's partitions stalled in the group.
 *
 * The first pipeline runs in the aggregator's own process and each further
 * one in a child process of its own (node:cluster): the Kafka client turns every
 * message into a JS object on the thread that consumes it, which is most of a
 * pipeline's CPU, and its native addon cannot be loaded by a second thread of
 * one process, so processes are how the aggregator uses more than one core.
 */
import type { Logger, MetricsSource } from '@stream-analytics/runtime';
import cluster from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import type { AggregatorConfig } from './config';
import { runPipelineWorker, type FromWorker, type ToWorker, type WorkerChannel } from './pipeline-worker';

/** The environment variable that tells a forked child which pipeline it is. */
export const WORKER_INDEX_ENV = 'AGGREGATOR_WORKER_INDEX';

/** One registry's metrics as getMetricsAsJSON() gives them (and IPC carries them). */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** A running pipeline as the pool sees it, wherever it runs. */
export interface PipelineHandle {
  send(message: ToWorker): void;
  onMessage(handler: (message: FromWorker) => void): void;
  onExit(handler: (code: number) => void): void;
}

interface Member {
  index: number;
  handle: PipelineHandle;
  status: { live: boolean; ready: boolean; reason?: string };
  statusAt: number;
  exitCode?: number;
}

/** A pipeline that has not reported for this long is stuck (it reports every second). */
const STATUS_STALE_MS = 120000;
const METRICS_TIMEOUT_MS = 5000;

export class PipelinePool implements MetricsSource {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  /** Resolves once every pipeline has ended: 0 when all stopped cleanly. */
  readonly exited: Promise<number>;
  private readonly members: Member[];
  /** Metrics of this process (CPU, memory, event loop). */
  private readonly processRegistry = new Registry();
  private readonly pendingMetrics = new Map<number, (json: MetricsJson | undefined) => void>();
  private nextRequestId = 1;
  private stopping = false;

  constructor(
    workers: number,
    launch: (index: number) => PipelineHandle,
    private readonly logger: Logger,
  ) {
    collectDefaultMetrics({ register: this.processRegistry });
    this.members = Array.from({ length: workers }, (_, index) => this.add(index, launch(index)));
    this.exited = Promise.all(this.members.map((m) => new Promise<number>((resolve) => m.handle.onExit(resolve)))).then((codes) =>
      codes.every((c) => c === 0) ? 0 : 1,
    );
  }

  private add(index: number, handle: PipelineHandle): Member {
    const member: Member = { index, handle, status: { live: true, ready: false, reason: 'starting' }, statusAt: Date.now() };
    handle.onMessage((message) => {
      if (message.type === 'status') {
        member.status = message;
        member.statusAt = Date.now();
      } else if (message.type === 'metrics') {
        this.pendingMetrics.get(message.id)?.(message.metrics as MetricsJson);
      }
    });
    handle.onExit((code) => {
      member.exitCode = code;
      if (!this.stopping) {
        this.logger.error({ worker: index, code }, 'pipeline ended unexpectedly; stopping the others');
        this.stop();
      }
    });
    return member;
  }

  /** Asks every pipeline for its final flush and commit; see `exited`. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    const ask = () => {
      for (const m of this.members) if (m.exitCode === undefined) m.handle.send({ type: 'stop' });
    };
    ask();
    // A child still starting up has no message listener yet and would miss
    // the request (IPC drops messages nobody listens to); asking again is harmless.
    const again = setInterval(ask, 2000);
    void this.exited.then(() => clearInterval(again));
  }

  /** Liveness: every pipeline is running and its loop reported recently. */
  live(): boolean {
    const now = Date.now();
    return this.members.every((m) => m.exitCode === undefined && m.status.live && now - m.statusAt < STATUS_STALE_MS);
  }

  /** Readiness: every pipeline is consuming and writing to ClickHouse. */
  ready(): { ready: boolean; reason?: string } {
    const notReady = this.members.find((m) => m.exitCode !== undefined || !m.status.ready);
    if (!notReady) {
      // Ready but worth saying (e.g. ClickHouse writes without quorum): the first such note.
      const noted = this.members.find((m) => m.status.reason);
      if (!noted) return { ready: true };
      return { ready: true, reason: this.members.length > 1 ? `pipeline ${noted.index}: ${noted.status.reason}` : noted.status.reason };
    }
    const reason = notReady.exitCode !== undefined ? 'stopped' : (notReady.status.reason ?? 'starting');
    return { ready: false, reason: this.members.length > 1 ? `pipeline ${notReady.index}: ${reason}` : reason };
  }

  /**
   * Every pipeline's metrics and this process's, summed (or combined as each
   * gauge declares): one aggregator, one set of series, whatever --workers is.
   */
  async metrics(): Promise<string> {
    const running = this.members.filter((m) => m.exitCode === undefined);
    const perPipeline = await Promise.all(running.map((m) => this.memberMetrics(m)));
    const all = [await this.processRegistry.getMetricsAsJSON(), ...perPipeline.filter((j): j is MetricsJson => j !== undefined)];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  private memberMetrics(member: Member): Promise<MetricsJson | undefined> {
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      const finish = (json: MetricsJson | undefined) => {
        clearTimeout(timer);
        this.pendingMetrics.delete(id);
        resolve(json);
      };
      const timer = setTimeout(() => finish(undefined), METRICS_TIMEOUT_MS);
      this.pendingMetrics.set(id, finish);
      member.handle.send({ type: 'metrics', id });
    });
  }
}

/** Runs a pipeline in this process, talking to the pool through plain callbacks. */
export function launchInProcess(config: AggregatorConfig, logger: Logger): (index: number) => PipelineHandle {
  return (index) => {
    const toPool: Array<(m: FromWorker) => void> = [];
    const toWorker: Array<(m: ToWorker) => void> = [];
    const exitHandlers: Array<(code: number) => void> = [];
    const channel: WorkerChannel = { post: (m) => toPool.forEach((h) => h(m)), onMessage: (h) => toWorker.push(h) };
    const done = runPipelineWorker(config, index, logger, channel, { processMetrics: false }).catch((err: Error) => {
      logger.fatal({ err: err.message, stack: err.stack }, 'pipeline failed');
      return 1;
    });
    void done.then((code) => exitHandlers.forEach((h) => h(code)));
    return {
      // Delivered on a later tick, as a message between processes would be.
      send: (m) => setImmediate(() => toWorker.forEach((h) => h(m))),
      onMessage: (h) => toPool.push(h),
      onExit: (h) => exitHandlers.push(h),
    };
  };
}

/** Forks a child process (this same script) per pipeline; see runForkedPipeline. */
export function launchForked(): (index: number) => PipelineHandle {
  return (index) => {
    const child = cluster.fork({
      [WORKER_INDEX_ENV]: String(index),
      // glibc gives each thread that allocates its own malloc arena; with
      // librdkafka's threads that costs tens of MB of fragmented memory per
      // process for no speed (measured on a backlog). The container image
      // sets the same for the first process.
      MALLOC_ARENA_MAX: process.env['MALLOC_ARENA_MAX'] ?? '2',
    });
    const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1))));
    return {
      send: (m) => {
        if (child.isConnected()) child.send(m);
      },
      onMessage: (h) => child.on('message', h),
      onExit: (h) => void exited.then(h),
    };
  };
}

/** The child side of launchForked: one pipeline, talking to the pool over IPC. */
export function runForkedPipeline(config: AggregatorConfig, index: number, logger: Logger): Promise<number> {
  const channel: WorkerChannel = {
    post: (m) => {
      if (process.connected) process.send?.(m);
    },
    onMessage: (h) => {
      process.on('message', (m) => h(m as ToWorker));
      // The pool's process is gone (e.g. killed): stop cleanly rather than run unsupervised.
      process.once('disconnect', () => h({ type: 'stop' }));
    },
  };
  return runPipelineWorker(config, index, logger, channel, { processMetrics: true });
}
