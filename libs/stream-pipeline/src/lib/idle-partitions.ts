/**
 * Idle partitions stop holding windows open: a partition that received no
 * record for idleTimeoutMs (processing time) has its watermark raised to the
 * lowest watermark of the active partitions, so the fleet's windows close
 * although one partition went quiet. Pure: the caller applies the advances,
 * only at flush time, right before the write and commit that record them
 * (see the engine's idle contract).
 */
export interface IdleAdvance {
  readonly partition: number;
  readonly watermark: number;
}

export function idleAdvances(
  partitions: ReadonlySet<number>,
  lastRecordAt: ReadonlyMap<number, number>,
  nowMs: number,
  idleTimeoutMs: number,
  watermarkOf: (partition: number) => number,
): IdleAdvance[] {
  const active = [...partitions].filter((p) => nowMs - (lastRecordAt.get(p) ?? nowMs) < idleTimeoutMs);
  if (active.length === 0 || active.length === partitions.size) return [];
  const activeWatermark = Math.min(...active.map(watermarkOf));
  if (!Number.isFinite(activeWatermark)) return [];
  return [...partitions].filter((p) => !active.includes(p) && watermarkOf(p) < activeWatermark).map((partition) => ({ partition, watermark: activeWatermark }));
}
