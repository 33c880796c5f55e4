// Cuts a V8 .cpuprofile down to the samples taken within a time window, so that summarizeCpuProfile can say
// where a process spent one phase of a benchmark. V8 stamps samples with its monotonic clock in microseconds
// (CLOCK_MONOTONIC on Linux), the clock of process.hrtime.bigint(): windows come from monotonicUs().
import { readFileSync, writeFileSync } from 'node:fs';

interface Profile {
  nodes: unknown[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Now, on the clock of a V8 CPU profile's timestamps (microseconds). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Writes to `out` the part of the profile in `file` sampled between `fromUs` and `toUs`; returns how many
 * samples it kept (0: the window and the profile do not overlap).
 */
export function windowCpuProfile(file: string, out: string, fromUs: number, toUs: number): number {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) return;
    samples.push(id);
    timeDeltas.push(delta);
  });
  writeFileSync(
    out,
    JSON.stringify({ ...profile, startTime: Math.max(fromUs, profile.startTime), endTime: toUs, samples, timeDeltas }),
  );
  return samples.length;
}
