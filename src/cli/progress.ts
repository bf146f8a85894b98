import { SingleBar, Presets } from 'cli-progress';

/**
 * A progress bar on stderr while a command runs in a terminal; nothing when stderr is a pipe or a
 * file (a log would fill with redraws), where the command's summary line says what happened.
 */
export function progressBar(label: string, total: number): { increment(by?: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { increment: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total} {eta_formatted} left`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0);
  return { increment: (by = 1) => bar.increment(by), stop: () => bar.stop() };
}
