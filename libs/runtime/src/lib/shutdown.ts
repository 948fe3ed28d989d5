/**
 * SIGINT/SIGTERM handling shared by the apps: the first signal triggers the
 * graceful stop and resolves `signal`; a second signal forces exit 130 so an
 * operator is never stuck behind a slow flush.
 */
export interface ShutdownSignal {
  /** Resolves with the signal name once a stop was requested. */
  readonly requested: Promise<NodeJS.Signals>;
  readonly isRequested: () => boolean;
  dispose(): void;
}

export function onShutdownSignal(onForce: (signal: NodeJS.Signals) => void = () => process.exit(130)): ShutdownSignal {
  let requested = false;
  let resolve!: (s: NodeJS.Signals) => void;
  const promise = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (signal: NodeJS.Signals) => {
    if (requested) onForce(signal);
    requested = true;
    resolve(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    requested: promise,
    isRequested: () => requested,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
