// Where a benchmark's time goes, phase by phase: wall time, the CPU seconds of the processes it started
// (from /proc/<pid>/stat), the CPU seconds of the PostgreSQL backends connected to its database, and the
// largest RSS of each process (from /proc/<pid>/status, sampled every 200 ms).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Client } from 'pg';
import { monotonicUs } from './cpu-profile-window';
import { fmt } from './report';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const CLK_TCK = 100;
const RSS_INTERVAL_MS = 200;

/** User + system CPU seconds of a process so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** RSS of a process, sampled every 200 ms; the largest value per phase. */
export class RssSampler {
  private phase = 'start';
  private readonly maxByPhase = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), RSS_INTERVAL_MS);
  }

  setPhase(phase: string): void {
    this.sample();
    this.phase = phase;
    this.sample();
  }

  /** The largest RSS seen in any of `phases` (all phases when none given), in MiB (as /proc counts). */
  max(phases?: readonly string[]): number {
    let max = 0;
    for (const [phase, mb] of this.maxByPhase) if (!phases || phases.includes(phase)) max = Math.max(max, mb);
    return max;
  }

  describe(phases: readonly string[]): string {
    return phases.map((p) => `${p} ${fmt(this.maxByPhase.get(p) ?? 0)}`).join(', ');
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      if (!match) return;
      const mb = Number(match[1]) / 1024;
      this.maxByPhase.set(this.phase, Math.max(this.maxByPhase.get(this.phase) ?? 0, mb));
    } catch {
      // the process has exited
    }
  }
}

export interface PhaseStats {
  seconds: number;
  /** The phase on the monotonic clock of V8's CPU profiles (microseconds), to cut a profile to it. */
  fromUs: number;
  toUs: number;
  /** CPU seconds per process label (e.g. api, worker). */
  cpu: Record<string, number>;
  /** CPU seconds of the PostgreSQL backends of the database (those alive at the phase's end). */
  pgCpu: number;
}

interface Snapshot {
  at: number;
  us: number;
  cpu: Record<string, number>;
  pg: Map<number, number>;
}

/** What the database's busy backends were doing, sampled from pg_stat_activity: a poor man's pg_stat_statements. */
class PgActivitySampler {
  private phase = 'start';
  private busy = false;
  /** phase -> "who: query" -> samples */
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly samplesByPhase = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly monitor: Client) {
    this.timer = setInterval(() => void this.sample(), RSS_INTERVAL_MS);
  }

  setPhase(phase: string): void {
    this.phase = phase;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The most frequent active statements of `phase`, as "share  who: statement" lines. */
  top(phase: string, limit: number): string[] {
    const counts = this.counts.get(phase);
    const samples = this.samplesByPhase.get(phase) ?? 0;
    if (!counts || samples === 0) return [];
    return [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([key, n]) => `${((100 * n) / samples).toFixed(0).padStart(4)} %  ${key}`);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const phase = this.phase;
    try {
      const { rows } = await this.monitor.query<{
        who: string;
        state: string | null;
        wait: string | null;
        query: string;
      }>(
        `SELECT coalesce(nullif(application_name, ''), backend_type) AS who, state,
                wait_event_type || ':' || wait_event AS wait, query
           FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'`,
      );
      this.samplesByPhase.set(phase, (this.samplesByPhase.get(phase) ?? 0) + 1);
      const counts = this.counts.get(phase) ?? new Map<string, number>();
      this.counts.set(phase, counts);
      for (const r of rows) {
        const statement = r.query.replace(/\s+/g, ' ').trim().slice(0, 110);
        // `idle in transaction`: the client holds a transaction open and is busy itself (the query is its last one).
        const how = r.state && r.state !== 'active' ? ` (${r.state}, after)` : r.wait ? ` [${r.wait}]` : '';
        const key = `${r.who}${how}: ${statement}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    } catch {
      // the monitor connection is gone (the end of the run)
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Phases in order: `enter(name)` ends the current phase and starts the next one. The PostgreSQL side is read
 * through `monitor`, a connection to the benchmark's database (its own backend is left out); a backend that
 * started during a phase counts from zero, one that ended during it is missed (short-lived ones, e.g. psql's).
 */
export class PhaseMeter {
  readonly phases = new Map<string, PhaseStats>();
  readonly samplers = new Map<string, RssSampler>();
  private current: string | undefined;
  private start: Snapshot | undefined;
  private readonly activity: PgActivitySampler;
  constructor(private readonly monitor: Client) {
    this.activity = new PgActivitySampler(monitor);
  }

  /** The statements the database's backends were busy with in `phase` (share of the 200 ms samples). */
  pgActivity(phase: string, limit = 8): string[] {
    return this.activity.top(phase, limit);
  }

  /** Starts sampling a process under `label` (at once: call it when the process is spawned). */
  watch(label: string, pid: number): void {
    this.samplers.get(label)?.stop();
    this.samplers.set(label, new RssSampler(pid));
  }

  async enter(phase: string): Promise<void> {
    const now = await this.snapshot();
    if (this.current !== undefined && this.start) {
      const start = this.start;
      const cpu: Record<string, number> = {};
      for (const [label, seconds] of Object.entries(now.cpu)) cpu[label] = seconds - (start.cpu[label] ?? 0);
      let pgCpu = 0;
      for (const [pid, seconds] of now.pg) pgCpu += seconds - (start.pg.get(pid) ?? 0);
      this.phases.set(this.current, {
        seconds: (now.at - start.at) / 1000,
        fromUs: start.us,
        toUs: now.us,
        cpu,
        pgCpu,
      });
    }
    for (const sampler of this.samplers.values()) sampler.setPhase(phase);
    this.activity.setPhase(phase);
    this.current = phase;
    this.start = now;
  }

  stop(): void {
    for (const sampler of this.samplers.values()) sampler.stop();
    this.activity.stop();
  }

  rssMax(label: string, phases?: readonly string[]): number {
    return this.samplers.get(label)?.max(phases) ?? 0;
  }

  /** `import: 70.1 s wall; CPU s: api 1.2, worker 40.3, postgres 35.0 (1.09 of 2 cores)` */
  describe(phase: string, cores: number): string {
    const p = this.phases.get(phase);
    if (!p) return `${phase}: -`;
    const total = Object.values(p.cpu).reduce((a, b) => a + b, 0) + p.pgCpu;
    const procs = Object.entries(p.cpu)
      .map(([label, s]) => `${label} ${fmt(s, 1)}`)
      .join(', ');
    return (
      `${phase}: ${fmt(p.seconds, 1)} s wall; CPU s: ${procs}, postgres backends ${fmt(p.pgCpu, 1)} ` +
      `(together ${fmt(total / Math.max(0.001, p.seconds), 2)} of ${cores} cores)`
    );
  }

  private async snapshot(): Promise<Snapshot> {
    const cpu: Record<string, number> = {};
    for (const [label, sampler] of this.samplers) cpu[label] = cpuSeconds(sampler.pid);
    const { rows } = await this.monitor.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    const pg = new Map(rows.map((r) => [r.pid, cpuSeconds(r.pid)]));
    return { at: performance.now(), us: monotonicUs(), cpu, pg };
  }
}
