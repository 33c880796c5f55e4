// `npm run chaos [-- <scenario key>...] [--events N] [--webhooks N]`: every fault scenario of test/chaos/scenarios.ts
// at full size (the CI test, test/operations/faults.int-spec.ts, runs the same ones small), then a table of what each lost.
// Writes the table to bench/results/chaos-latest.md as well; exits 1 if any scenario lost a delivery or broke an
// invariant. Needs only the redis-server and PostgreSQL server binaries: it starts its own servers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { format } from 'prettier';
import path from 'node:path';
import { ChaosLab, ChaosSize } from './lab';
import { RECOVERY_LEGEND, ScenarioResult } from './ledger';
import { SCENARIOS } from './scenarios';

const DEFAULT_SIZE: ChaosSize = {
  events: 2000,
  webhooks: 4,
  batch: 50,
  publishers: 4,
  receiverDelayMs: 10,
  outageMs: 20_000,
  drainTimeoutMs: 180_000,
};

function parseArgs(argv: string[]): { keys: string[]; size: ChaosSize } {
  const size = { ...DEFAULT_SIZE };
  const keys: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const numeric = {
      '--events': 'events',
      '--webhooks': 'webhooks',
      '--batch': 'batch',
      '--outage-ms': 'outageMs',
    } as const;
    if (arg in numeric) {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${arg} needs a positive integer`);
      size[numeric[arg as keyof typeof numeric]] = value;
    } else if (SCENARIOS.some((s) => s.key === arg)) {
      keys.push(arg);
    } else {
      throw new Error(`unknown argument ${arg}; scenarios: ${SCENARIOS.map((s) => s.key).join(', ')}`);
    }
  }
  return { keys, size };
}

const num = (n: number): string => n.toLocaleString('en-US');
const secs = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

function table(results: ScenarioResult[], size: ChaosSize, startedAt: Date): string {
  const lines = [
    `# Chaos run, ${startedAt.toISOString()}`,
    '',
    `Size: ${num(size.events)} events per scenario, published in batches of ${size.batch} by ${size.publishers} ` +
      `clients, to ${size.webhooks} webhooks each (${num(size.events * size.webhooks)} deliveries owed when all are ` +
      `accepted); receiver answers after ${size.receiverDelayMs} ms. Built api and worker processes, a PostgreSQL ` +
      "cluster and a Redis server (AOF on) of the run's own.",
    '',
    '| Scenario | Events accepted | Deliveries owed | Deliveries received | Unique | Lost | Duplicates | Recovery | Result |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.map(
      (r) =>
        `| ${r.scenario} | ${num(r.accepted)} | ${num(r.expected)} | ${num(r.received)} | ${num(r.unique)} | ` +
        `${num(r.lost)} | ${num(r.duplicates)} | ${secs(r.recoveryMs)} | ${r.problems.length === 0 ? 'PASS' : 'FAIL'} |`,
    ),
    '',
    `- Lost: owed deliveries (accepted events × webhooks) that never reached the receiver; must be 0.`,
    `- Duplicates: requests beyond the first with the same \`webhook-id\` (an attempt repeated after a crash).`,
    `- ${RECOVERY_LEGEND[0].toUpperCase()}${RECOVERY_LEGEND.slice(1)}.`,
    '',
    '## Notes',
    '',
    ...results.flatMap((r) => [
      `- **${r.scenario}**: publish outcomes ${JSON.stringify(r.outcomes)}` +
        (r.notes.length > 0 ? `; ${r.notes.join('; ')}` : ''),
      ...r.problems.map((p) => `  - PROBLEM: ${p}`),
    ]),
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { keys, size } = parseArgs(process.argv.slice(2));
  const chosen = keys.length > 0 ? SCENARIOS.filter((s) => keys.includes(s.key)) : SCENARIOS;
  const startedAt = new Date();
  process.stderr.write('starting PostgreSQL, Redis, a receiver and the api...\n');
  const lab = await ChaosLab.start();
  const stop = (): void => {
    void lab.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of chosen) {
      process.stderr.write(`${scenario.title}...\n`);
      const t = Date.now();
      let result: ScenarioResult;
      try {
        result = await scenario.run(lab, size);
      } catch (err) {
        result = {
          scenario: scenario.title,
          accepted: 0,
          expected: 0,
          received: 0,
          unique: 0,
          lost: 0,
          duplicates: 0,
          recoveryMs: null,
          outcomes: {},
          notes: [],
          problems: [`the scenario failed: ${err instanceof Error ? err.message : String(err)}`],
        };
      }
      process.stderr.write(
        `  ${result.problems.length === 0 ? 'ok' : 'FAILED'} in ${secs(Date.now() - t)}: ` +
          `${num(result.accepted)} accepted, ${num(result.received)} received, ${num(result.lost)} lost\n`,
      );
      results.push(result);
    }
  } finally {
    await lab.close();
  }
  const report = table(results, size, startedAt);
  process.stdout.write(`${report}\n`);
  const dir = path.join(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  // Laid out as the repository's `prettier --check .` wants it (the file is committed).
  writeFileSync(path.join(dir, 'chaos-latest.md'), await format(report, { parser: 'markdown' }));
  return results.some((r) => r.lost > 0 || r.problems.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
