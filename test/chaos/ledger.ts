import { setTimeout as sleep } from 'node:timers/promises';
import type { Received } from '../support/receiver';
import { call, CallOutcome, outcomeLabel } from './http-client';
import type { ChaosLab, Tenant } from './lab';

/** One scenario's figures, as the chaos table prints them. */
export interface ScenarioResult {
  scenario: string;
  /** Events the api answered 2xx for (each stored, none a duplicate). */
  accepted: number;
  /** Deliveries owed: accepted events × the tenant's webhooks. */
  expected: number;
  /** Requests that reached the receiver for the tenant. */
  received: number;
  /** Distinct `webhook-id`s among them. */
  unique: number;
  /** Owed deliveries that never reached the receiver. */
  lost: number;
  /** received − unique: attempts repeated with an id already seen. */
  duplicates: number;
  /** See RECOVERY_LEGEND. */
  recoveryMs: number | null;
  /** Publish outcomes by status (`200`, `503 service_unavailable`, `ECONNREFUSED`, …). */
  outcomes: Record<string, number>;
  notes: string[];
  /** Broken invariants; empty when the scenario passed. */
  problems: string[];
}

export const RECOVERY_LEGEND =
  'recovery = from the end of the fault (the killed worker respawned, Redis or PostgreSQL accepting connections ' +
  'again, the flush done, the SIGTERM sent) until every delivery owed for the events accepted before then had ' +
  'reached the receiver (the backlog the fault left); n/a without a fault';

/** The publish body of events `markers` (each an rfp_id, so that the receiver can tell which event it got). */
export function publishBody(markers: string[]): unknown {
  return {
    events: markers.map((rfp_id) => ({
      // The client's own id: an event sent again (its reply lost) is reported a duplicate, not stored twice.
      event_id: rfp_id.replace(/[^A-Za-z0-9_.:-]/g, '_'),
      event_type: 'rfp.created',
      payload: { rfp_id, title: 'chaos', buyer: { org_id: 'O', name: 'N' }, status: 'open' },
    })),
  };
}

export interface PublishOptions {
  events: number;
  batch: number;
  concurrency: number;
  /** Spread the requests over about this long (0: as fast as they go). */
  spanMs: number;
  /** The api base URL of the next request (a scenario may fail over to another api). */
  target: () => string;
  /** Called with each outcome (e.g. to fail over). */
  onOutcome?: (outcome: CallOutcome, startedAt: number) => void;
  /**
   * Like a careful client: a batch refused with a 503, a connection error or a timeout is sent again every
   * 500 ms, for up to this long (its events carry their own event_id, so that a batch stored whose reply was
   * lost is reported `duplicate`, not stored twice). 0: refused batches are given up (not accepted).
   */
  retryForMs?: number;
  /** Also send an Idempotency-Key per batch (CHAOS_IDEMPOTENCY_KEYS=1; see the report on keys left in_progress). */
  idempotencyKeys?: boolean;
}

/** Outcomes a careful client sends again: the api is unavailable, or the reply never came. */
const retryable = (outcome: CallOutcome): boolean => outcome.kind === 'error' || outcome.status === 503;

/**
 * A client publishing a tenant's events in batches, in parallel, paced; it never stops on an error (a
 * refused batch is simply not accepted) and records which events were accepted and every outcome.
 */
export class Publisher {
  readonly accepted = new Set<string>();
  /** When each accepted event's reply came. */
  readonly acceptedAt = new Map<string, number>();
  readonly outcomes: Record<string, number> = {};
  /** Each call: when it started and ended, and its outcome label. */
  readonly calls: Array<{ startedAt: number; endedAt: number; label: string }> = [];
  readonly done: Promise<void>;
  /** Batches sent again after a refusal. */
  retries = 0;
  private next = 0;
  private readonly requests: number;

  constructor(
    readonly tenant: Tenant,
    private readonly opts: PublishOptions,
  ) {
    const requests = Math.ceil(opts.events / opts.batch);
    this.requests = requests;
    const pause = opts.spanMs > 0 ? (opts.spanMs * opts.concurrency) / requests : 0;
    this.done = Promise.all(Array.from({ length: opts.concurrency }, () => this.loop(requests, pause))).then(
      () => undefined,
    );
  }

  /** Resolves once this share of the batches has been sent (a fault then hits mid-publishing). */
  async reached(share: number): Promise<void> {
    while (this.next < Math.ceil(share * this.requests)) await sleep(20);
  }

  /** Records an event published outside the client's own batches (a probe) as accepted. */
  accept(marker: string): void {
    this.accepted.add(marker);
    this.acceptedAt.set(marker, Date.now());
  }

  private async loop(requests: number, pauseMs: number): Promise<void> {
    while (this.next < requests) {
      const index = this.next++;
      const from = index * this.opts.batch;
      const markers = Array.from(
        { length: Math.min(this.opts.batch, this.opts.events - from) },
        (_, i) => `${this.tenant.org}:${from + i}`,
      );
      const giveUpAt = Date.now() + (this.opts.retryForMs ?? 0);
      for (;;) {
        const startedAt = Date.now();
        const outcome = await call(`${this.opts.target()}/ipm/event/publish`, {
          headers: {
            ...this.tenant.headers,
            ...(this.opts.idempotencyKeys ? { 'idempotency-key': `${this.tenant.org}-${index}` } : {}),
          },
          body: publishBody(markers),
          timeoutMs: 20_000,
        });
        let label = outcomeLabel(outcome);
        if (outcome.kind === 'response' && outcome.status === 200) {
          const items = (outcome.body.data as { items?: Array<{ status: string }> } | undefined)?.items ?? [];
          // `duplicate`: stored by an earlier try whose reply was lost.
          if (
            items.length === markers.length &&
            items.every((i) => i.status === 'stored' || i.status === 'duplicate')
          ) {
            for (const m of markers) this.accept(m);
          } else {
            label = '200 not all stored';
          }
        }
        this.outcomes[label] = (this.outcomes[label] ?? 0) + 1;
        this.calls.push({ startedAt, endedAt: Date.now(), label });
        this.opts.onOutcome?.(outcome, startedAt);
        if (!retryable(outcome) || Date.now() > giveUpAt) break;
        this.retries++;
        await sleep(500);
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }
}

/** What the receiver got for one tenant, read incrementally: per (event, webhook) the ids, per id the count. */
export class ReceiverTally {
  /** `<marker>|<webhook index>` → the webhook-ids that carried it. */
  readonly idsByPair = new Map<string, Set<string>>();
  /** `<marker>|<webhook index>` → when it first arrived. */
  readonly firstAt = new Map<string, number>();
  readonly countById = new Map<string, number>();
  total = 0;
  private cursor = 0;
  private readonly prefix: string;

  constructor(
    private readonly received: Received[],
    org: string,
  ) {
    this.prefix = `/${org}/`;
  }

  update(): this {
    for (; this.cursor < this.received.length; this.cursor++) {
      const r = this.received[this.cursor];
      if (!r.path.startsWith(this.prefix)) continue;
      this.total++;
      const id = String(r.headers['webhook-id']);
      this.countById.set(id, (this.countById.get(id) ?? 0) + 1);
      let marker = '?';
      try {
        marker = String((JSON.parse(r.body) as { data: { rfp_id: string } }).data.rfp_id);
      } catch {
        // not a delivery of ours; counted, never matched
      }
      const pair = `${marker}|${r.path.slice(this.prefix.length)}`;
      const ids = this.idsByPair.get(pair) ?? new Set<string>();
      ids.add(id);
      this.idsByPair.set(pair, ids);
      if (!this.firstAt.has(pair)) this.firstAt.set(pair, r.at);
    }
    return this;
  }
}

/** Every (event, webhook) pair owed for the accepted events. */
function owedPairs(accepted: Set<string>, webhooks: number): string[] {
  const pairs: string[] = [];
  for (const marker of accepted) for (let i = 0; i < webhooks; i++) pairs.push(`${marker}|${i}`);
  return pairs;
}

/** Waits until the receiver holds `count` requests of the tenant (a fault then hits mid-burst). */
export async function receivedAtLeast(lab: ChaosLab, tenant: Tenant, count: number, timeoutMs = 30_000): Promise<void> {
  const tally = new ReceiverTally(lab.receiver.received, tenant.org);
  const deadline = Date.now() + timeoutMs;
  while (tally.update().total < count) {
    if (Date.now() > deadline) throw new Error(`only ${tally.total} of ${count} deliveries arrived in ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * After a scenario's fault: waits (up to `timeoutMs`) until every owed delivery reached the receiver and
 * no delivery of the tenant is unfinished, then checks the invariants and returns the figures.
 */
export async function settle(
  lab: ChaosLab,
  scenario: string,
  publisher: Publisher,
  faultEndedAt: number | null,
  timeoutMs: number,
): Promise<ScenarioResult> {
  await publisher.done;
  const { org, webhookIds } = publisher.tenant;
  const tally = new ReceiverTally(lab.receiver.received, org);
  const owed = owedPairs(publisher.accepted, webhookIds.length);
  const unfinished = async (): Promise<number> => {
    const [row] = (
      await lab.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM deliveries WHERE orgcode = $1 AND status IN ('pending', 'retrying', 'in_flight')`,
        [org],
      )
    ).rows;
    const [outbox] = (
      await lab.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM event_outbox o JOIN events e ON e.seq = o.event_seq WHERE e.orgcode = $1`,
        [org],
      )
    ).rows;
    return row.n + outbox.n;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    tally.update();
    if (owed.every((p) => tally.idsByPair.has(p)) && (await unfinished().catch(() => -1)) === 0) break;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  // A duplicate could still be on its way (an attempt whose worker died): give it a moment to land.
  await sleep(300);
  tally.update();

  const problems: string[] = [];
  const missing = owed.filter((p) => !tally.idsByPair.has(p));
  if (missing.length > 0) problems.push(`${missing.length} owed deliveries never arrived (e.g. ${missing[0]})`);
  const reissued = [...tally.idsByPair.entries()].filter(([, ids]) => ids.size > 1);
  if (reissued.length > 0) {
    problems.push(`${reissued.length} deliveries arrived under more than one webhook-id (e.g. ${reissued[0][0]})`);
  }
  const rows = (
    await lab.db.query<{ delivery_id: string; status: string }>(
      'SELECT delivery_id, status FROM deliveries WHERE orgcode = $1',
      [org],
    )
  ).rows;
  const known = new Set(rows.map((r) => r.delivery_id));
  const unknown = [...tally.countById.keys()].filter((id) => !known.has(id));
  if (unknown.length > 0) problems.push(`${unknown.length} webhook-ids at the receiver match no delivery row`);
  const byStatus = rows.reduce<Record<string, number>>(
    (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
    {},
  );
  if (byStatus.in_flight) problems.push(`${byStatus.in_flight} deliveries stuck in_flight`);
  const notSuccess = rows.length - (byStatus.success ?? 0);
  if (notSuccess > 0) problems.push(`${notSuccess} deliveries not successful: ${JSON.stringify(byStatus)}`);
  const twice = (
    await lab.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM deliveries WHERE orgcode = $1 GROUP BY event_id, webhook_id
         HAVING count(*) > 1) t`,
      [org],
    )
  ).rows[0].n;
  if (twice > 0) problems.push(`${twice} (event, webhook) pairs have more than one delivery row`);
  const storedTwice = (
    await lab.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM events WHERE orgcode = $1 AND event_type = 'rfp.created'
         GROUP BY payload->>'rfp_id' HAVING count(*) > 1) t`,
      [org],
    )
  ).rows[0].n;
  if (storedTwice > 0) problems.push(`${storedTwice} events stored twice (a publish sent again was not idempotent)`);
  // The receiver always answers 2xx: an id it sees again was claimed again (a crashed or failed attempt).
  const reclaims = (
    await lab.db.query<{ n: number }>(
      'SELECT COALESCE(sum(attempt_count - 1), 0)::int AS n FROM deliveries WHERE orgcode = $1',
      [org],
    )
  ).rows[0].n;
  const duplicates = tally.total - tally.countById.size;
  if (duplicates > reclaims) problems.push(`${duplicates} duplicates but only ${reclaims} repeated claims`);

  let recoveryMs: number | null = null;
  if (faultEndedAt !== null) {
    // The backlog of the fault: deliveries owed for events accepted before it ended.
    const before = owed.filter((p) => (publisher.acceptedAt.get(p.slice(0, p.lastIndexOf('|'))) ?? 0) <= faultEndedAt);
    const arrivals = before.map((p) => tally.firstAt.get(p)).filter((t): t is number => t !== undefined);
    recoveryMs = arrivals.length === 0 ? 0 : Math.max(0, Math.max(...arrivals) - faultEndedAt);
  }
  const storedNotAccepted = rows.length - owed.length;
  const notes: string[] = [];
  if (publisher.retries > 0) notes.push(`${publisher.retries} refused batches sent again`);
  if (process.env.CHAOS_TIMELINE && faultEndedAt !== null) {
    // Diagnostic: first arrivals per second from the end of the fault.
    const perSecond = new Map<number, number>();
    for (const at of tally.firstAt.values()) {
      const second = Math.floor((at - faultEndedAt) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    const seconds = [...perSecond.keys()].sort((a, b) => a - b);
    notes.push(
      `first arrivals per second from the fault's end: ${seconds.map((t) => `${t}s:${perSecond.get(t)}`).join(' ')}`,
    );
  }
  if (storedNotAccepted > 0) notes.push(`${storedNotAccepted} deliveries of events stored without a 2xx reply`);
  return {
    scenario,
    accepted: publisher.accepted.size,
    expected: owed.length,
    received: tally.total,
    unique: tally.countById.size,
    lost: missing.length,
    duplicates,
    recoveryMs,
    outcomes: publisher.outcomes,
    notes,
    problems,
  };
}

/** An api call expected to be refused while a dependency is down: its label and how long it took. */
export async function probe(
  url: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ label: string; ms: number }> {
  const outcome = await call(url, { headers, body, timeoutMs: 15_000 });
  return { label: outcomeLabel(outcome), ms: outcome.ms };
}
