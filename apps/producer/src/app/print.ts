/** --print: the generated payloads on stdout, one per line, without Kafka. */
import { EventGenerator } from '@stream-analytics/event-schema';
import { generatorOptions, type ProducerConfig } from './config';

export async function printEvents(cfg: ProducerConfig, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const gen = new EventGenerator(generatorOptions(cfg));
  const newline = Buffer.from('\n');
  const total = cfg.count ?? 0;
  for (let i = 0; i < total; ) {
    const chunk: Buffer[] = [];
    for (const end = Math.min(total, i + 10000); i < end; i++) chunk.push(gen.nextPayload().value, newline);
    if (!out.write(Buffer.concat(chunk))) await new Promise((resolve) => out.once('drain', resolve));
  }
  return 0;
}
